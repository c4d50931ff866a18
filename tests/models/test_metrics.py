"""models.metrics: hand-computed values on tiny frames (arithmetic in the comments)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from models import metrics as om
# truth: u1 -> {a, b, c} (3 relevant), u2 -> {d} (1), u3 -> {e, f} (2, no recommendations)
TRUTH = pd.DataFrame({"user_id": ["u1", "u1", "u1", "u2", "u3", "u3"],
                      "video_id": ["a", "b", "c", "d", "e", "f"]})
# recs: u1 -> a x b (hits at ranks 1 and 3), u2 -> y d (hit at rank 2, list shorter than k=3),
# u4 -> a (not in truth: ignored by accuracy metrics)
RECS = pd.DataFrame({"user_id": ["u1", "u1", "u1", "u2", "u2", "u4"],
                     "video_id": ["a", "x", "b", "y", "d", "a"],
                     "rank": [1, 2, 3, 1, 2, 1]})


def test_precision_at_k():
    # u1 2/3, u2 1/3, u3 0 -> (2/3 + 1/3 + 0) / 3 = 1/3
    assert om.precision_at_k(TRUTH, RECS, 3) == pytest.approx(1 / 3)


def test_recall_at_k():
    # u1 2/3, u2 1/1, u3 0 -> (2/3 + 1) / 3 = 5/9
    assert om.recall_at_k(TRUTH, RECS, 3) == pytest.approx(5 / 9)


def test_ndcg_at_k():
    # u1: dcg = 1/log2(2) + 1/log2(4) = 1.5; idcg = 1 + 1/log2(3) + 1/log2(4) = 1.5 + 0.6309
    # u2: dcg = 1/log2(3); idcg = 1;  u3: 0
    u1 = 1.5 / (1.5 + 1 / math.log2(3))
    u2 = 1 / math.log2(3)
    assert om.ndcg_at_k(TRUTH, RECS, 3) == pytest.approx((u1 + u2 + 0) / 3)


def test_map_at_k_and_map_full_agree_when_relevant_fit_in_k():
    # u1: precision at hits 1/1 (rank 1) + 2/3 (rank 3) = 5/3, / min(3, 3) = 5/9
    # u2: 1/2 (rank 2), / min(3, 1) = 1/2;  u3: 0  -> (5/9 + 1/2) / 3 = 19/54
    assert om.map_at_k(TRUTH, RECS, 3) == pytest.approx(19 / 54)
    assert om.map_full(TRUTH, RECS, 3) == pytest.approx(19 / 54)


def test_map_at_k_and_map_full_differ_when_more_relevant_than_k():
    # k=2: u1 top-2 = a x -> sum 1/1 = 1; map@k divides by min(2, 3) = 2 -> 1/2, map_full by 3 -> 1/3
    # u2 top-2 = y d -> 1/2, divided by 1 in both; u3 0
    assert om.map_at_k(TRUTH, RECS, 2) == pytest.approx((1 / 2 + 1 / 2) / 3)  # 1/3
    assert om.map_full(TRUTH, RECS, 2) == pytest.approx((1 / 3 + 1 / 2) / 3)  # 5/18


def test_hit_rate_at_k():
    # k=3: u1 and u2 hit, u3 not -> 2/3;  k=1: only u1 (a at rank 1) -> 1/3
    assert om.hit_rate_at_k(TRUTH, RECS, 3) == pytest.approx(2 / 3)
    assert om.hit_rate_at_k(TRUTH, RECS, 1) == pytest.approx(1 / 3)


def test_k_larger_than_lists():
    # k=10: precision still divides by k: (2/10 + 1/10 + 0) / 3 = 0.1; recall unchanged 5/9;
    # map@10: u1 5/3 / min(10, 3) = 5/9, u2 1/2 -> 19/54; hit rate 2/3
    assert om.precision_at_k(TRUTH, RECS, 10) == pytest.approx(0.1)
    assert om.recall_at_k(TRUTH, RECS, 10) == pytest.approx(5 / 9)
    assert om.map_at_k(TRUTH, RECS, 10) == pytest.approx(19 / 54)
    assert om.map_full(TRUTH, RECS, 10) == pytest.approx(19 / 54)
    assert om.hit_rate_at_k(TRUTH, RECS, 10) == pytest.approx(2 / 3)


def test_user_without_recs_counts_as_zero():
    # only u2 and its single relevant item: perfect if alone, but adding u3 (no recs) halves each metric
    truth = TRUTH[TRUTH["user_id"] == "u2"]
    recs = pd.DataFrame({"user_id": ["u2"], "video_id": ["d"], "rank": [1]})
    both = pd.concat([truth, TRUTH[TRUTH["user_id"] == "u3"]])
    for metric in (om.ndcg_at_k, om.recall_at_k, om.map_at_k, om.map_full, om.hit_rate_at_k):
        assert metric(truth, recs, 1) == pytest.approx(1.0)
        assert metric(both, recs, 1) == pytest.approx(0.5)


def test_duplicates_in_truth_and_empty_truth():
    doubled = pd.concat([TRUTH, TRUTH])
    assert om.map_at_k(doubled, RECS, 3) == pytest.approx(19 / 54)
    assert om.recall_at_k(doubled, RECS, 3) == pytest.approx(5 / 9)
    empty = TRUTH.iloc[:0]
    for metric in (om.ndcg_at_k, om.precision_at_k, om.recall_at_k, om.map_at_k, om.map_full, om.hit_rate_at_k):
        assert metric(empty, RECS, 3) == 0.0


def test_custom_column_names():
    names = {"user_id": "uid", "video_id": "iid", "rank": "pos"}
    truth, recs = TRUTH.rename(columns=names), RECS.rename(columns=names)
    cols = dict(user_col="uid", item_col="iid", rank_col="pos")
    assert om.ndcg_at_k(truth, recs, 3, **cols) == pytest.approx(om.ndcg_at_k(TRUTH, RECS, 3))
    assert om.precision_at_k(truth, recs, 3, **cols) == pytest.approx(1 / 3)
    assert om.map_at_k(truth, recs, 3, **cols) == pytest.approx(19 / 54)
    assert om.catalog_coverage(recs, 10, item_col="iid") == pytest.approx(0.5)


def test_catalog_coverage():
    # distinct recommended: a x b y d = 5 of 10; top-1 only: a y = 2 of 10
    assert om.catalog_coverage(RECS, 10) == pytest.approx(0.5)
    assert om.catalog_coverage(RECS, 10, k=1) == pytest.approx(0.2)
    assert om.catalog_coverage(RECS, 0) == 0.0


def test_intra_list_diversity():
    attr = pd.DataFrame({"video_id": ["a", "b", "x", "y", "d"], "genre": ["M", "M", "G", "N", "N"]})
    # u1 a x b = M G M: 3 pairs, 1 same -> 1 - 1/3 = 2/3;  u2 y d = N N: 1 pair, 1 same -> 0
    # u4 a: single item, no pairs -> skipped;  mean = (2/3 + 0) / 2 = 1/3
    assert om.intra_list_diversity(RECS, attr, "genre") == pytest.approx(1 / 3)
    # top-2 only: u1 a x = M G -> 1;  u2 y d -> 0;  mean 1/2
    assert om.intra_list_diversity(RECS, attr, "genre", k=2) == pytest.approx(0.5)
    # items without an attribute leave their list: u1 becomes a b (M M) -> 0, u2 y d -> 0
    assert om.intra_list_diversity(RECS, attr[attr["video_id"] != "x"], "genre") == pytest.approx(0.0)
    assert om.intra_list_diversity(RECS.iloc[:0], attr, "genre") == 0.0


def test_mean_popularity():
    train = pd.DataFrame({"user_id": ["p", "q", "r", "p", "q", "s", "t"],
                          "video_id": ["a", "a", "a", "b", "x", "x", "y"]})
    # popularity: a 3, x 2, b 1, y 1, d 0 (not in train)
    # u1 a x b -> (3 + 2 + 1) / 3 = 2;  u2 y d -> (1 + 0) / 2 = 0.5;  u4 a -> 3;  mean = 5.5 / 3 = 11/6
    assert om.mean_popularity(RECS, train) == pytest.approx(11 / 6)
    # top-1: u1 a 3, u2 y 1, u4 a 3 -> 7/3
    assert om.mean_popularity(RECS, train, k=1) == pytest.approx(7 / 3)
    assert om.mean_popularity(RECS.iloc[:0], train) == 0.0

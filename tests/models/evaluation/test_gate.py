"""Metric arithmetic against hand-computed values, and the publish gate."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from models.evaluation.gate import gate_failures, passes_gate, top_k
from models.metrics import ndcg_of_scores, ranking_metrics

L2 = math.log2


def recs(rows):
    return pd.DataFrame(rows, columns=["user_id", "video_id", "rank"])


def test_precision_recall_ndcg_at_3_by_hand():
    r = recs([("a", "x", 1), ("a", "y", 2), ("a", "z", 3), ("a", "w", 4),
              ("b", "p", 1), ("b", "q", 2), ("b", "s", 3)])
    truth = pd.DataFrame({"user_id": ["a", "a", "b", "c"], "video_id": ["y", "w", "s", "t"]})
    m = ranking_metrics(r, truth, k=3)
    # a: hit y at rank 2 (w is at rank 4, outside k); b: hit s at rank 3; c: no recommendations
    assert m["users"] == 3
    assert m["precision@3"] == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)
    assert m["recall@3"] == pytest.approx((1 / 2 + 1 / 1 + 0) / 3)
    ndcg_a = (1 / L2(3)) / (1 / L2(2) + 1 / L2(3))
    ndcg_b = (1 / L2(4)) / 1.0
    assert m["ndcg@3"] == pytest.approx((ndcg_a + ndcg_b + 0) / 3)


def test_graded_relevance_and_perfect_lists():
    r = recs([("a", "x", 1), ("a", "y", 2)])
    truth = pd.DataFrame({"user_id": ["a", "a"], "video_id": ["y", "x"], "relevance": [2.0, 1.0]})
    assert ranking_metrics(r, truth, 2)["ndcg@2"] == pytest.approx((1 + 2 / L2(3)) / (2 + 1 / L2(3)))
    assert ranking_metrics(recs([("a", "y", 1), ("a", "x", 2)]), truth, 2)["ndcg@2"] == pytest.approx(1.0)
    assert ranking_metrics(r, truth.iloc[:0], 2)["users"] == 0


def test_ndcg_of_scores_orders_each_query_and_skips_queries_without_positives():
    frame = pd.DataFrame({"user_id": ["a"] * 3 + ["b"] * 2 + ["c"] * 2, "label": [0, 2, 1, 0, 1, 0, 0]})
    scores = [0.9, 0.5, 0.1, 0.2, 0.1, 1.0, 2.0]
    # a: order (0, 2, 1) gains (0, 3, 1); ideal (3, 1, 0). b: order (0, 1) gains (0, 1). c: no positive
    a = (3 / L2(3) + 1 / L2(4)) / (3 + 1 / L2(3))
    b = (1 / L2(3)) / 1.0
    assert ndcg_of_scores(frame, scores, k=3) == pytest.approx((a + b) / 2)
    assert ndcg_of_scores(frame, [0, 2, 1, 0, 1, 0, 0], k=3) == pytest.approx(1.0)
    per = ndcg_of_scores(frame, scores, k=3, per_query=True)  # queries a and b (c has no positive), in order
    assert list(per.index) == [0, 1] and per.to_list() == pytest.approx([a, b])


def test_top_k_by_score_with_ties_broken_by_video_id():
    frame = pd.DataFrame({"user_id": ["a", "a", "a", "b"], "video_id": ["z", "y", "x", "q"], "s": [1.0, 2.0, 1.0, 0.0]})
    assert top_k(frame, "s", 2).values.tolist() == [["a", "y", 1], ["a", "x", 2], ["b", "q", 1]]


GOOD = {"ndcg@10": 0.20, "recall@10": 0.30, "users": 500, "popularity": {"ndcg@10": 0.05, "recall@10": 0.10}}


def test_gate_accepts_a_first_model_that_beats_popularity_and_one_within_tolerance():
    assert passes_gate(GOOD, None)
    assert passes_gate(GOOD, {"ndcg@10": 0.204, "recall@10": 0.305})       # 2% relative slack
    assert passes_gate(GOOD, {"ndcg@10": 0.15, "recall@10": 0.25})


def test_gate_refuses_a_worse_model_and_one_that_does_not_beat_popularity():
    serving = {"ndcg@10": 0.25, "recall@10": 0.30}
    assert not passes_gate(GOOD, serving)
    assert gate_failures(GOOD, serving) == [
        "ndcg@10 0.2000 is below the serving model's 0.2500 beyond 2%"]
    assert passes_gate(GOOD, serving, tolerance=0.25)
    weak = {**GOOD, "recall@10": 0.10}
    assert not passes_gate(weak, None)
    assert not passes_gate({"ndcg@10": 0.2, "recall@10": 0.3, "users": 500}, None)  # no popularity baseline


def test_too_few_holdout_users_let_a_first_model_start_but_never_replace_a_serving_one():
    tiny = {**GOOD, "ndcg@10": 0.01, "users": 8}  # worse than popularity, but on 8 users that is noise
    assert passes_gate(tiny, None)
    assert gate_failures(tiny, {"ndcg@10": 0.001, "recall@10": 0.001}) == [
        "only 8 holdout users (< 50): too little evidence to replace the serving model"]
    assert not passes_gate({**tiny, "users": 20}, None, min_users=10)  # enough users: popularity wins


def test_watch_time_lift_counts_what_each_list_recommended_and_the_users_watched():
    import pandas as pd

    from models.evaluation.gate import watch_time_lift

    class Day:  # the holdout day's interactions, as LakeSnapshot.read returns them
        def read(self, table, columns, days):
            return pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2"], "video_id": ["a", "a", "b", "c"],
                                 "event_type": ["watch", "watch", "watch", "like"],
                                 "watch_ms": [1000, 500, 3000, 0]})[columns]

    model = pd.DataFrame({"user_id": ["u1", "u2"], "video_id": ["a", "b"], "rank": [1, 1]})
    popular = pd.DataFrame({"user_id": ["u1", "u2"], "video_id": ["c", "b"], "rank": [1, 1]})
    got = watch_time_lift(Day(), "2026-11-07", model, popular, ["u1", "u2"])
    assert got == {"model_ms_per_user": 2250.0, "popularity_ms_per_user": 1500.0, "lift": 0.5}

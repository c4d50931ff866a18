"""Confidence weights, the CSR + IdMap, co-watch similarity and History aggregates on hand-made frames
(models.retrieval.history, matrix, similarity)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from models.retrieval.history import History, confidence, positives
from models.retrieval.matrix import (PairSet, build_user_items, isin_pairs, top_of_product, top_per_dense_row,
                                    top_per_row)
from models.retrieval.similarity import build_cowatch

T0 = pd.Timestamp("2026-11-01", tz="UTC")


def events(rows) -> pd.DataFrame:
    """(user, video, event_type, watch_fraction, minutes after T0, ds) -> interactions columns."""
    frame = pd.DataFrame(rows, columns=["user_id", "video_id", "event_type", "watch_fraction", "minute", "ds"])
    return frame.assign(ts=T0 + pd.to_timedelta(frame.pop("minute"), unit="min"), region="us")


def test_confidence_counts_watch_fraction_capped_like_and_share_and_nothing_else():
    frame = events([("u", "v", "watch", 0.5, 0, "d"), ("u", "v", "watch", 3.0, 1, "d"),
                    ("u", "v", "like", None, 2, "d"), ("u", "v", "share", None, 3, "d"),
                    ("u", "v", "skip", None, 4, "d"), ("u", "v", "dislike", None, 5, "d"),
                    ("u", "v", "not_interested", None, 6, "d"), ("u", "v", "impression", None, 7, "d"),
                    ("u", "v", "click", None, 8, "d"), ("u", "v", "watch", None, 9, "d")])
    assert confidence(frame).tolist() == pytest.approx([0.5, 2.0, 1.0, 1.5, 0, 0, 0, 0, 0, 0])


def test_positives_sum_per_pair_and_leave_negative_only_pairs_out():
    frame = events([("u1", "a", "watch", 0.4, 0, "d"), ("u1", "a", "like", None, 5, "d"),
                    ("u1", "b", "skip", None, 1, "d"), ("u2", "a", "dislike", None, 2, "d")])
    pos = positives(frame)
    assert pos[["user_id", "video_id"]].values.tolist() == [["u1", "a"]]
    assert pos["confidence"].tolist() == pytest.approx([1.4])
    assert pos["last_ts"].iloc[0] == T0 + pd.Timedelta(minutes=5)


def test_user_items_csr_and_idmap():
    pairs = pd.DataFrame({"user_id": ["u2", "u1", "u1", "u2"], "video_id": ["b", "a", "b", "b"],
                          "confidence": [1.0, 2.0, 0.5, 0.25]})
    matrix, idmap = build_user_items(pairs)
    assert list(idmap.users) == ["u1", "u2"] and list(idmap.videos) == ["a", "b"]
    assert matrix.toarray().tolist() == [[2.0, 0.5], [0.0, 1.25]]
    again, _ = build_user_items(pd.DataFrame({"user_id": ["u1", "zz"], "video_id": ["zz", "b"], "confidence": [1, 1]}),
                                idmap)
    assert again.nnz == 0 and again.shape == (2, 2)


def test_cowatch_is_cosine_of_co_occurrence_without_diagonal():
    # users x videos: u0 {0,1}, u1 {0,1,2}, u2 {1,2}; counts n = (2, 3, 2); n01 = 2, n02 = 1, n12 = 2
    ui = sp.csr_matrix(np.array([[1, 1, 0], [3, 1, 1], [0, 2, 1]], np.float32))
    co = build_cowatch(ui, neighbours=5).toarray()
    expect = np.array([[0, 2 / np.sqrt(6), 1 / 2], [2 / np.sqrt(6), 0, 2 / np.sqrt(6)], [1 / 2, 2 / np.sqrt(6), 0]])
    assert co == pytest.approx(expect)
    # one neighbour per video: the best one; and blocks give the same answer as one product
    assert (build_cowatch(ui, neighbours=1).toarray() > 0).sum(axis=1).tolist() == [1, 1, 1]
    assert build_cowatch(ui, neighbours=5, block=1).toarray() == pytest.approx(expect)


def test_top_per_row_keeps_the_largest_and_breaks_ties_by_column():
    m = sp.csr_matrix(np.array([[3, 1, 3, 2], [0, 0, 5, 0]], np.float32))
    assert top_per_row(m, 2).toarray().tolist() == [[3, 0, 3, 0], [0, 0, 5, 0]]


def test_top_per_row_on_unsorted_rows_keeps_what_sorting_each_row_keeps():
    """Rows in no column order (what a sparse product returns), NaNs and many ties: the kept entries are
    those of a full sort by (value descending, NaN last, column ascending)."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        n_rows, n_cols = int(rng.integers(1, 12)), int(rng.integers(1, 30))
        dense = rng.integers(-2, 3, size=(n_rows, n_cols)).astype(np.float64)
        dense[rng.random(dense.shape) < 0.1] = np.nan
        dense[rng.random(dense.shape) < 0.3] = 0
        matrix = sp.csr_matrix(dense)  # NaNs are entries
        for row in range(n_rows):  # shuffle each row's entries
            a, b = matrix.indptr[row], matrix.indptr[row + 1]
            perm = a + rng.permutation(b - a)
            matrix.indices[a:b], matrix.data[a:b] = matrix.indices[perm], matrix.data[perm]
        matrix.has_sorted_indices = False
        m = int(rng.integers(0, 12))
        got = top_per_row(matrix, m)
        for row in range(n_rows):
            cols = np.flatnonzero(dense[row] != 0)  # NaN != 0
            vals = dense[row, cols]
            order = sorted(range(len(cols)), key=lambda i: (np.isnan(vals[i]), -np.nan_to_num(vals[i]), cols[i]))
            expected = sorted(cols[order[:m]].tolist())
            a, b = got.indptr[row], got.indptr[row + 1]
            assert got.indices[a:b].tolist() == expected


def test_top_of_product_keeps_what_the_product_would_keep_with_scipys_sums():
    """Each row of a @ b summed in compiled code: the same kept entries and the same float32 values as
    scipy's product (zero sums dropped, ties by column), without forming the product."""
    rng = np.random.default_rng(11)
    for trial in range(150):
        n, k, p = (int(x) for x in rng.integers(1, 25, size=3))
        a = sp.random(n, k, density=rng.random(), format="csr", dtype=np.float32, random_state=trial)
        b = sp.random(k, p, density=rng.random(), format="csr", dtype=np.float32, random_state=trial + 500)
        if trial % 2:  # small integers: many ties and sums that cancel to zero
            a.data = np.round(a.data * 3).astype(np.float32)
            b.data = np.round(b.data * 4 - 2).astype(np.float32)
        m = int(rng.integers(0, 12))
        got, expected = top_of_product(a, b, m), top_per_row((a @ b).tocsr(), m)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        assert got.indptr.tolist() == expected.indptr.tolist() and got.indices.tolist() == expected.indices.tolist()
        assert np.array_equal(got.data, expected.data)
    with pytest.raises(ValueError, match="do not multiply"):
        top_of_product(sp.csr_matrix((2, 3)), sp.csr_matrix((2, 3)), 1)


def test_history_aggregates():
    inter = events([("u1", "a", "watch", 1.0, 0, "2026-11-01"), ("u1", "b", "like", None, 5, "2026-11-02"),
                    ("u1", "c", "not_interested", None, 6, "2026-11-02"), ("u1", "d", "skip", None, 7, "2026-11-02"),
                    ("u2", "a", "impression", None, 1, "2026-10-01")])
    videos = pd.DataFrame({"video_id": list("abcde"), "title": list("ABCDE"),
                           "creator_id": ["k1", "k1", "k2", "k3", "k2"],
                           "category": ["Music", "Music", "News", "Pets", "News"], "upload_ts": T0})
    hist = History("2026-11-02", inter, videos, pd.DataFrame({"user_id": ["u1"], "region": ["de"]}), active_days=7)
    assert hist.active_users.tolist() == ["u1"]
    assert sorted(map(tuple, hist.excluded.values.tolist())) == [("u1", "a"), ("u1", "b"), ("u1", "c"), ("u1", "d")]
    assert hist.blocked_creators.values.tolist() == [["u1", "k2"]]
    assert hist.recent_videos(1)[["video_id", "recency"]].values.tolist() == [["b", 0]]
    assert hist.affinity("category").values.tolist() == [["u1", "Music", 1.0]]
    assert hist.user_region.to_dict() == {"u1": "de", "u2": "us"}
    assert hist.exposure(7).to_dict() == {}
    assert hist.exposure(40).to_dict() == {"a": 1}


def test_top_per_dense_row_keeps_what_top_per_row_keeps_ties_and_zeros_included():
    rng = np.random.default_rng(7)
    for _ in range(100):
        dense = rng.integers(-3, 4, size=(int(rng.integers(1, 40)), int(rng.integers(1, 40)))).astype(np.float32)
        dense[rng.random(dense.shape) < 0.3] = 0  # zeros are not entries; many equal values tie
        m = int(rng.integers(0, 45))
        expected = top_per_row(sp.csr_matrix(dense), m)
        got = top_per_dense_row(dense, m, block=int(rng.integers(1, 8)))
        assert got.nnz == expected.nnz and (got != expected).nnz == 0
    assert top_per_dense_row(np.array([[0, 2, 2, 1]], np.float32), 2).toarray().tolist() == [[0, 2, 2, 0]]
    assert top_per_dense_row(np.array([[0, 2, 2, 1]], np.float32), 1).toarray().tolist() == [[0, 2, 0, 0]]


def test_pair_set_membership_matches_a_python_set():
    rng = np.random.default_rng(3)
    users = np.array([f"u{i}" for i in rng.integers(0, 40, 3000)], dtype=object)
    videos = np.array([f"v{i}" for i in rng.integers(0, 60, 3000)], dtype=object)
    pairs = PairSet(users[:500], videos[:500])  # with repeated pairs
    expected = {(u, v) for u, v in zip(users[:500], videos[:500])}
    assert len(pairs) == len(expected)
    found = pairs.contains(users, videos)
    assert found.tolist() == [(u, v) in expected for u, v in zip(users, videos)]
    assert 0 < found.sum() < len(found)
    assert isin_pairs(users, videos, users[:500], videos[:500]).tolist() == found.tolist()
    assert not PairSet([], []).contains(users, videos).any()
    assert not pairs.contains(np.array(["nobody"], dtype=object), np.array(["v1"], dtype=object)).any()
    first = {}
    for j, pair in enumerate(zip(users[:500], videos[:500])):
        first.setdefault(pair, j)
    assert pairs.positions(users, videos).tolist() == [first.get(p, -1) for p in zip(users, videos)]

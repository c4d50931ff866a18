"""ScaNN recall vs the exact reference, for brute force and tree + AH configurations."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scann")

from models.retrieval.ann_index import AnnParams, build_index, exact_topk, load_index, recall_at_k, save_index  # noqa: E402


def test_exact_topk_on_a_hand_checked_example():
    items = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], np.float32)
    rows, scores = exact_topk(items, np.array([[1.0, 0.2], [0.1, -1.0]]), 3)
    assert rows[0].tolist() == [2, 0, 1]
    assert scores[0] == pytest.approx([1.2, 1.0, 0.2])
    assert rows[1].tolist() == [0, 3, 2] and scores[1] == pytest.approx([0.1, -0.1, -0.9])


def test_brute_force_recall_at_100_vs_exact_is_at_least_0_9(ann_data):
    ITEMS, _, QUERIES = ann_data
    index = build_index(ITEMS, AnnParams(k=100), queries=QUERIES)
    assert index.kind == "brute_force"
    assert index.recall >= 0.9
    assert recall_at_k(index.search(QUERIES)[0], exact_topk(ITEMS, QUERIES, 100)[0]) >= 0.9


def test_tree_ah_recall_at_100_vs_exact_is_at_least_0_9_and_is_recorded(tmp_path, ann_data):
    ITEMS, _, QUERIES = ann_data
    params = AnnParams(k=100, brute_force_below=0, recall_target=0.9)
    index = build_index(ITEMS, params, queries=QUERIES)
    assert index.kind == "tree_ah" and index.leaves_to_search >= 1
    found = index.search(QUERIES)[0]
    assert recall_at_k(found, exact_topk(ITEMS, QUERIES, 100)[0]) >= 0.9
    assert index.recall == pytest.approx(recall_at_k(found, exact_topk(ITEMS, QUERIES, 100)[0]))
    again = load_index(save_index(index, tmp_path / "index"))
    assert (again.kind, again.leaves_to_search, again.recall) == (index.kind, index.leaves_to_search, index.recall)
    assert np.array_equal(again.search(QUERIES[:20])[0], found[:20])


def test_tree_search_stays_in_the_querys_cluster(ann_data):
    ITEMS, LABELS, QUERIES = ann_data
    index = build_index(ITEMS, AnnParams(k=20, brute_force_below=0, recall_target=0.9), queries=QUERIES)
    rows = index.search(ITEMS[:50] * 3, 20)[0]
    assert (LABELS[rows] == LABELS[:50, None]).mean() >= 0.95


def test_fewer_items_than_k_pads_with_minus_one(ann_data):
    ITEMS, _, QUERIES = ann_data
    index = build_index(ITEMS[:5], AnnParams(k=10))
    rows, scores = index.search(QUERIES[:3])
    assert rows.shape == (3, 10) and (rows[:, 5:] == -1).all() and np.isneginf(scores[:, 5:]).all()
    assert sorted(rows[0, :5].tolist()) == [0, 1, 2, 3, 4]

"""ScaNN recall vs the exact reference, for brute force and tree + AH configurations."""

from __future__ import annotations

import numpy as np
import pytest

from models.retrieval.ann_index import AnnParams, build_index, exact_topk, load_index, recall_at_k, save_index
from vidrec.settings import Settings


def als_shaped(n, dim, n_users, seed):
    """Item vectors with ALS-like norms (a few large: the popular videos) around Zipf-sized topics, and users
    mixing a topic with noise (bench/ann.py's recipe, smaller)."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(n // 500, dim)) / np.sqrt(dim)
    popularity = rng.zipf(1.5, size=len(topics)).astype(float)
    label = rng.choice(len(topics), size=n, p=popularity / popularity.sum())
    items = 0.5 * topics[label] + rng.normal(size=(n, dim)) / np.sqrt(dim)
    items *= (np.exp(0.3 * rng.normal(size=(n, 1))) * (1 + 0.2 * rng.exponential(size=(n, 1)) ** 2))
    users = topics[rng.choice(len(topics), size=n_users)] + rng.normal(size=(n_users, dim)) / np.sqrt(dim)
    return items.astype(np.float32), users.astype(np.float32)


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


def test_exact_topk_in_chunks_equals_a_full_sort():
    rng = np.random.default_rng(5)
    items, queries = rng.normal(size=(1000, 8)).astype(np.float32), rng.normal(size=(37, 8)).astype(np.float32)
    rows, scores = exact_topk(items, queries, 50, block=10, chunk=64)
    full = queries @ items.T
    assert np.array_equal(rows, np.argsort(-full, axis=1, kind="stable")[:, :50])
    assert scores == pytest.approx(-np.sort(-full, axis=1)[:, :50], rel=1e-5)


@pytest.mark.parametrize("head_share", [0.0, 0.01])
def test_tree_ah_recall_at_100_vs_exact_is_at_least_0_9_and_is_recorded(tmp_path, ann_data, head_share):
    ITEMS, _, QUERIES = ann_data
    params = AnnParams(k=100, brute_force_below=0, recall_target=0.9, head_share=head_share)
    index = build_index(ITEMS, params, queries=QUERIES)
    assert index.kind == "tree_ah" and index.leaves_to_search >= 1
    found = index.search(QUERIES)[0]
    assert recall_at_k(found, exact_topk(ITEMS, QUERIES, 100)[0]) >= 0.9
    assert index.recall == pytest.approx(recall_at_k(found, exact_topk(ITEMS, QUERIES, 100)[0]))
    again = load_index(save_index(index, tmp_path / "index"))
    assert (again.kind, again.leaves_to_search, again.recall) == (index.kind, index.leaves_to_search, index.recall)
    assert np.array_equal(again.head_rows, index.head_rows) and len(index.head_rows) == round(head_share * 4000)
    assert np.array_equal(again.search(QUERIES[:20])[0], found[:20])


def test_the_tree_path_at_50k_items_with_the_settings_defaults_reaches_recall_0_9_on_held_out_users():
    items, users = als_shaped(50_000, 32, 600, seed=11)
    params = AnnParams.from_settings(Settings())
    assert params == AnnParams()
    index = build_index(items, params, queries=users[:300])
    assert index.kind == "tree_ah" and len(index.head_rows) == 1000 and index.num_leaves == 221
    assert 1 <= index.leaves_to_search <= index.num_leaves
    assert index.recall >= params.recall_target or index.leaves_to_search == index.num_leaves
    found, scores = index.search(users[300:])
    exact_rows, exact_scores = exact_topk(items, users[300:], 100)
    assert recall_at_k(found, exact_rows) >= 0.9
    assert (np.diff(scores, axis=1) <= 0).all() and scores[:, 0] == pytest.approx(exact_scores[:, 0], rel=1e-4)


def test_the_largest_norm_items_are_scored_exactly_beside_the_tree(ann_data):
    ITEMS, _, QUERIES = ann_data
    items = ITEMS.copy()
    items[7] *= 50  # the most popular video: first for every query that leans its way
    index = build_index(items, AnnParams(k=10, brute_force_below=0, head_share=0.01, leaves_to_search=1))
    assert 7 in index.head_rows and len(index.head_rows) == 40
    assert (np.linalg.norm(items[index.head_rows], axis=1).min()
            >= np.linalg.norm(np.delete(items, index.head_rows, axis=0), axis=1).max())
    assert (index.search(items[7:8] / 50)[0][0, 0]) == 7


def test_params_come_from_settings_and_a_fixed_leaves_to_search_is_kept(ann_data):
    ITEMS, _, QUERIES = ann_data
    settings = Settings(ann_brute_force_below=1000, ann_head_share=0.0, ann_num_leaves=50, ann_leaves_to_search=3,
                        ann_reorder=200, ann_recall_target=0.99)
    params = AnnParams.from_settings(settings)
    assert (params.brute_force_below, params.head_share, params.num_leaves, params.leaves_to_search,
            params.reorder, params.recall_target) == (1000, 0.0, 50, 3, 200, 0.99)
    index = build_index(ITEMS, params, queries=QUERIES)
    assert (index.kind, index.num_leaves, index.leaves_to_search, len(index.head_rows)) == ("tree_ah", 50, 3, 0)
    assert 0 < index.recall < 1
    with pytest.raises(ValueError, match="head_share"):
        AnnParams(head_share=1.0)


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

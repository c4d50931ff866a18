"""ALS known answers: checkerboard (implicit's own test), planted clusters, fold-in, save/load."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models.retrieval.als import AlsParams, fit_als, fold_in, load_als, save_als
from models.retrieval.matrix import build_user_items

SMALL = AlsParams(factors=8, regularization=0.01, alpha=10.0, iterations=15, num_threads=1)


def checkerboard(n=50) -> pd.DataFrame:
    """Even users like even videos, odd users odd videos; user i's own video i is held out."""
    rows = [(f"u{i:02d}", f"v{j:02d}", 1.0) for i in range(n) for j in range(i % 2, n, 2) if i != j]
    return pd.DataFrame(rows, columns=["user_id", "video_id", "confidence"])


def top_unseen(model, user_items, row, n):
    scores = model.item_factors @ model.user_factors[row]
    scores[user_items[row].indices] = -np.inf
    return np.argsort(-scores, kind="stable")[:n]


def test_checkerboard_recommends_each_users_held_out_diagonal_video():
    user_items, idmap = build_user_items(checkerboard())
    model = fit_als(user_items, AlsParams(factors=3, regularization=0.0, alpha=1.0, num_threads=1),
                    use_gpu=False, seed=23)
    for row in range(len(idmap.users)):
        best = top_unseen(model, user_items, row, 1)[0]
        assert idmap.videos[best][1:] == idmap.users[row][1:]


def test_planted_clusters_are_recovered(clusters):
    pairs, cluster_of = clusters
    user_items, idmap = build_user_items(pairs)
    model = fit_als(user_items, SMALL, use_gpu=False, seed=1)
    hits = [cluster_of(idmap.videos[top_unseen(model, user_items, r, 10)]) == cluster_of([u])[0]
            for r, u in enumerate(idmap.users)]
    assert np.mean(hits) >= 0.95
    # with one factor per cluster, the item vectors separate the clusters exactly: each video's 5 nearest
    # videos (cosine) are of its own cluster
    model = fit_als(user_items, replace(SMALL, factors=4), use_gpu=False, seed=1)
    unit = model.item_factors / np.linalg.norm(model.item_factors, axis=1, keepdims=True)
    cos = unit @ unit.T
    np.fill_diagonal(cos, -np.inf)
    labels = cluster_of(idmap.videos)
    assert (labels[np.argsort(-cos, axis=1)[:, :5]] == labels[:, None]).all()


def test_fold_in_recommends_from_the_new_users_cluster_without_retraining(clusters):
    pairs, cluster_of = clusters
    user_items, idmap = build_user_items(pairs)
    model = fit_als(user_items, SMALL, use_gpu=False, seed=1)
    before = model.item_factors.copy()
    seen = idmap.video_rows(["v2_1", "v2_5", "v2_9"])
    vector = fold_in(model, seen, [1.0, 1.5, 1.0])
    scores = model.item_factors @ vector
    scores[seen] = -np.inf
    assert (cluster_of(idmap.videos[np.argsort(-scores)[:10]]) == 2).all()
    assert np.array_equal(model.item_factors, before) and model.user_factors.shape[0] == len(idmap.users)
    # the fold-in of a trained user's own row is (nearly) that user's trained vector
    again = fold_in(model, user_items[5].indices, user_items[5].data)
    assert np.corrcoef(again, model.user_factors[5])[0, 1] > 0.99


def test_fold_in_rejects_rows_outside_the_model(clusters):
    user_items, _ = build_user_items(clusters[0])
    model = fit_als(user_items, SMALL, use_gpu=False, seed=1)
    with pytest.raises(ValueError):
        fold_in(model, [user_items.shape[1]], [1.0])


def test_save_and_load_round_trip(tmp_path, clusters):
    user_items, idmap = build_user_items(clusters[0])
    model = fit_als(user_items, SMALL, use_gpu=False, seed=1)
    again, ids = load_als(save_als(model, idmap, tmp_path / "als"))
    assert np.array_equal(again.item_factors, model.item_factors)
    assert np.array_equal(again.user_factors, model.user_factors)
    assert list(ids.users) == list(idmap.users) and list(ids.videos) == list(idmap.videos)
    assert ids.video_rows(["v0_0", "nope"]).tolist() == [idmap.video_rows(["v0_0"])[0], -1]


def test_same_seed_same_factors(clusters):
    user_items, _ = build_user_items(clusters[0])
    a = fit_als(user_items, SMALL, use_gpu=False, seed=3)
    b = fit_als(user_items, SMALL, use_gpu=False, seed=3)
    assert np.allclose(a.item_factors, b.item_factors)


def test_the_training_window_is_never_shorter_than_the_active_window(settings):
    assert AlsParams.from_settings(settings).lookback_days == 60
    assert AlsParams.from_settings(settings.replace(active_days=400)).lookback_days == 400
    assert AlsParams.from_settings(settings.replace(als_factors=12)).factors == 12


def test_fitting_busiest_first_gives_implicits_own_fit_in_the_matrix_order():
    from implicit.als import AlternatingLeastSquares

    rng = np.random.default_rng(5)
    pairs = pd.DataFrame({"user_id": [f"u{x}" for x in rng.integers(0, 300, 4000)],
                          "video_id": [f"v{int(x) % 200}" for x in rng.zipf(1.5, 4000)], "confidence": 1.0})
    user_items, _ = build_user_items(pairs)
    model = fit_als(user_items, SMALL, use_gpu=False, seed=3)
    plain = AlternatingLeastSquares(factors=SMALL.factors, regularization=SMALL.regularization, alpha=SMALL.alpha,
                                    iterations=SMALL.iterations, num_threads=1, use_gpu=False, random_state=3)
    plain.fit(user_items, show_progress=False)
    assert np.any(np.diff(np.diff(user_items.indptr)) > 0)  # the rows are not busiest first already
    np.testing.assert_allclose(model.item_factors, plain.item_factors, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(model.user_factors, plain.user_factors, rtol=1e-3, atol=1e-3)

"""Ranker: qid-sorted matrices, a planted signal learned out of sample, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.metrics import ndcg_of_scores
from models.ranking.ranker import (RankerParams, build_matrix, feature_columns, fit_ranker, load_ranker, save_ranker,
                                   score, with_positive_queries)

FAST = RankerParams(n_estimators=40, max_depth=3, n_jobs=1)


def planted(n_users, per_user, seed, label_ds="2026-11-06"):
    """Label 1 with probability sigmoid(3 * signal - 2); ``noise`` and ``retrieval_score`` say nothing."""
    rng = np.random.default_rng(seed)
    n = n_users * per_user
    signal, noise = rng.normal(size=n), rng.normal(size=n)
    label = (rng.random(n) < 1 / (1 + np.exp(-(3 * signal - 2)))).astype(np.int8)
    frame = pd.DataFrame({"user_id": np.repeat([f"u{i:03d}" for i in range(n_users)], per_user),
                          "video_id": [f"v{i}" for i in range(n)], "signal": signal, "noise": noise,
                          "retrieval_score": rng.random(n), "label": label, "label_ds": label_ds,
                          "label_kind": "x", "split": "train", "best_source": "als"})
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # shuffled: queries interleaved


def test_build_matrix_sorts_rows_by_query_and_keeps_rows_intact():
    frame = pd.concat([planted(5, 4, 1, "2026-11-06"), planted(5, 4, 2, "2026-11-05")], ignore_index=True)
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    X, y, qid = build_matrix(frame, ["signal", "noise"])
    assert (np.diff(qid) >= 0).all() and len(np.unique(qid)) == 10
    # query ids follow (label_ds, user_id) order; each row still carries its own features and label
    ordered = frame.sort_values(["label_ds", "user_id"], kind="mergesort")
    key = ordered[["label_ds", "user_id"]].astype(str).agg("|".join, axis=1)
    assert (qid == pd.factorize(key)[0]).all()
    assert np.array_equal(X, ordered[["signal", "noise"]].to_numpy(np.float32))
    assert np.array_equal(y, ordered["label"].to_numpy())


def test_feature_columns_are_numeric_and_not_bookkeeping():
    frame = planted(2, 3, 0).assign(flag=True, region="us", event_timestamp=pd.Timestamp("2026-11-07", tz="UTC"))
    assert feature_columns(frame) == ["signal", "noise", "retrieval_score", "flag"]


def test_ranker_learns_a_planted_signal_out_of_sample(tmp_path):
    from sklearn.metrics import roc_auc_score

    train, held = planted(150, 20, seed=1), planted(60, 20, seed=2)
    features = ["signal", "noise", "retrieval_score"]
    model = fit_ranker(train, features, FAST, seed=0)
    s = score(model, held, features)
    assert roc_auc_score(held["label"], s) > 0.85
    random_ndcg = np.mean([ndcg_of_scores(held, np.random.default_rng(i).random(len(held)), 5) for i in range(5)])
    assert ndcg_of_scores(held, s, 5) > random_ndcg + 0.2
    again, meta = load_ranker(save_ranker(model, {"features": features}, tmp_path / "ranker"))
    assert np.allclose(score(again, held, meta["features"]), s)


def test_training_keeps_only_queries_with_a_positive():
    frame = planted(30, 5, 3)
    kept = with_positive_queries(frame)
    assert kept.groupby("user_id")["label"].max().min() == 1
    assert set(frame["user_id"]) - set(kept["user_id"]) == set(
        frame.groupby("user_id")["label"].max().loc[lambda m: m == 0].index)

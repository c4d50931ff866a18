"""Forgetting users in the model artifacts: the runs' Parquet files and the ALS factors stay consistent."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.privacy import forget_in_artifacts
from models.retrieval.als import AlsParams, fit_als, load_als, save_als
from models.retrieval.matrix import build_user_items


def test_artifacts_lose_the_users_rows_and_their_als_factors(settings, clusters):
    pairs, _ = clusters
    user_items, idmap = build_user_items(pairs)
    model = fit_als(user_items, AlsParams(factors=4, iterations=3, num_threads=1), use_gpu=False, seed=1)
    run = settings.artifact_root / "runs" / "2026-11-07"
    save_als(model, idmap, run / "als")
    gone = ["u0_0", "u2_3"]
    users = pd.Series(idmap.users)
    pd.DataFrame({"user_id": users.repeat(3), "video_id": "v0_0", "score": 1.0}).to_parquet(run / "candidates.parquet")
    (run / "lists").mkdir()
    pd.DataFrame({"user_id": users, "rank": 1}).to_parquet(run / "lists" / "home.parquet")
    pd.DataFrame({"video_id": ["v0_0"], "rank": [1]}).to_parquet(run / "lists" / "related.parquet")
    before = dict(zip(idmap.users, model.user_factors))

    removed = forget_in_artifacts(settings, gone)

    assert removed == {"files": 2, "rows": 3 * 2 + 2, "als_users": 2}
    assert not set(gone) & set(pd.read_parquet(run / "candidates.parquet")["user_id"])
    assert len(pd.read_parquet(run / "lists" / "home.parquet")) == len(users) - 2
    loaded, ids = load_als(run / "als")  # still loads, and every remaining user keeps their own factors
    assert len(ids.users) == len(loaded.user_factors) == len(users) - 2 and not set(gone) & set(ids.users)
    assert all(np.array_equal(before[u], f) for u, f in zip(ids.users, loaded.user_factors))
    assert np.array_equal(loaded.item_factors, model.item_factors)
    assert forget_in_artifacts(settings, gone) == {"files": 0, "rows": 0, "als_users": 0}

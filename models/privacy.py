"""Forgetting users in the model artifacts (``<artifact_root>``): every run's and every other folder's files.

- Parquet files with a ``user_id`` column (candidates, the training set, ranked lists, ...) are rewritten
  without the users' rows, one row group at a time (``vidrec.privacy.purge_parquet``);
- ALS (``als/ids.npz`` + ``als/model.npz``, ``models.retrieval.als.save_als``): the users' ids and their rows of
  ``user_factors`` are dropped together, so the id map and the factors stay aligned.

Nothing else there holds user ids (manifests, evaluation, the ranker, the index and experiment reports hold
counts, parameters, item vectors and aggregates). Each file is replaced atomically: a job reading it sees the
old file or the new one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from models.retrieval.als import IDS_FILE, MODEL_FILE
from vidrec.privacy import purge_parquet
from vidrec.settings import Settings


def forget_als(directory: Path, users) -> int:
    """Drop ``users`` from the ALS model in ``directory``; returns how many of them it held."""
    ids_path, model_path = directory / IDS_FILE, directory / MODEL_FILE
    with np.load(ids_path, allow_pickle=False) as data:
        ids = {name: data[name] for name in data.files}
    keep = ~np.isin(ids["users"], np.asarray(sorted({str(u) for u in users})))
    if keep.all():
        return 0
    with np.load(model_path, allow_pickle=False) as data:
        model = {name: data[name] for name in data.files}
    model["user_factors"] = model["user_factors"][keep]
    ids["users"] = ids["users"][keep]
    for path, arrays in ((model_path, model), (ids_path, ids)):  # the factors first: never ids without their row
        tmp = path.with_name(f".{path.stem}.forget.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    return int((~keep).sum())


def forget_in_artifacts(settings: Settings, users) -> dict:
    """{"files": Parquet files rewritten, "rows": rows removed, "als_users": ALS users dropped}."""
    root = Path(settings.artifact_root)
    files = rows = als_users = 0
    for path in sorted(root.rglob("*.parquet")) if root.is_dir() else []:
        if path.name.startswith("."):
            continue
        removed = purge_parquet(path, users)
        files, rows = files + bool(removed), rows + removed
    for ids in sorted(root.rglob(IDS_FILE)) if root.is_dir() else []:
        if (ids.parent / MODEL_FILE).exists():
            als_users += forget_als(ids.parent, users)
    return {"files": files, "rows": rows, "als_users": als_users}

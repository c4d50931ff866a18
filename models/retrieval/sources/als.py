"""The ``als`` source: ScaNN top-k over the ALS item factors for the user's ALS vector (inner product)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.retrieval.fusion import source_frame
from models.retrieval.matrix import IdMap


def als_source(users, model, idmap: IdMap, index, k: int) -> pd.DataFrame:
    """Top ``k`` videos per user by inner product, from the index (users unknown to ALS get none).
    Searches ``2k`` so that ``k`` survive the exclusions; candidates cuts back to ``k``."""
    rows = idmap.user_rows(users)
    known = rows >= 0
    found, scores = index.search(model.user_factors[rows[known]], min(2 * k, index.n_items))
    ok = found >= 0
    user_ids = np.repeat(np.asarray(users, dtype=object)[known], found.shape[1]).reshape(found.shape)
    return source_frame(user_ids[ok], idmap.videos[found[ok]], scores[ok])

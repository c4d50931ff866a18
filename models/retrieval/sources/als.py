"""The ``als`` source: ScaNN top-k over the ALS item factors for the user's ALS vector (inner product)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.retrieval.fusion import source_frame
from models.retrieval.matrix import IdMap


def als_source(users, model, idmap: IdMap, index, k: int, codes: np.ndarray) -> pd.DataFrame:
    """Top ``k`` videos per user by inner product, from the index (users unknown to ALS get none); ``codes``
    is the catalog code of each ALS video (``idmap.videos``). Searches ``2k`` so that ``k`` survive the
    exclusions; candidates cuts back to ``k``."""
    rows = idmap.user_rows(users)
    known = np.flatnonzero(rows >= 0)
    found, scores = index.search(model.user_factors[rows[known]], min(2 * k, index.n_items))
    ok = found >= 0
    positions = np.repeat(known, found.shape[1]).reshape(found.shape)
    return source_frame(positions[ok], codes[found[ok]], scores[ok])

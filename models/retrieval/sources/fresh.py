"""The ``fresh`` source: uploads of the last ``fresh_days`` in the user's top categories, newest first."""

from __future__ import annotations

import pandas as pd

from models.retrieval.fusion import U, source_frame
from models.retrieval.history import History
from models.retrieval.matrix import top_per_group
from models.retrieval.params import CandidateParams
from models.retrieval.sources.content import users_top


def fresh_source(history: History, quality: pd.DataFrame, users, params: CandidateParams) -> pd.DataFrame:
    """Uploads of the last ``fresh_days`` in the user's top categories, score = freshness (newest 1);
    ``quality`` is ``models.retrieval.sources.content.video_quality``."""
    fresh = quality[quality["freshness"] > 0]
    fresh = top_per_group(fresh, "category", "freshness", params.fresh_k)[["category", "code", "freshness"]]
    rows = users_top(history, "category", params.top_categories, users).merge(fresh, on="category")
    return source_frame(rows[U], rows["code"], rows["freshness"])

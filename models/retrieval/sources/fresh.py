"""The ``fresh`` source: uploads of the last ``fresh_days`` in the user's top categories, newest first."""

from __future__ import annotations

import pandas as pd

from models.retrieval.fusion import source_frame
from models.retrieval.history import History, within_users
from models.retrieval.matrix import top_per_group
from models.retrieval.params import CandidateParams
from vidrec.tables import USER_ID, VIDEO_ID


def fresh_source(history: History, quality: pd.DataFrame, users, params: CandidateParams) -> pd.DataFrame:
    """Uploads of the last ``fresh_days`` in the user's top categories, score = freshness (newest 1);
    ``quality`` is ``models.retrieval.sources.content.video_quality``."""
    fresh = quality[quality["freshness"] > 0]
    fresh = top_per_group(fresh, "category", "freshness", params.fresh_k)[["category", VIDEO_ID, "freshness"]]
    mine = within_users(history.top_affinity("category", params.top_categories), users)
    rows = mine[mine[USER_ID].isin(users)].merge(fresh, on="category")
    return source_frame(rows[USER_ID].to_numpy(), rows[VIDEO_ID].to_numpy(), rows["freshness"])

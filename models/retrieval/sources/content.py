"""The ``content`` source: popular-and-fresh videos of the user's top categories, and of the creators of the
videos the user liked. ``video_quality`` (recent popularity + freshness per catalog video) is what it
ranks by; the ``fresh`` source and the ranker's pair features read it too. A video with no interactions
yet ranks by freshness, so it is retrievable on day one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.retrieval.fusion import U, source_frame
from models.retrieval.history import History, within_users
from models.retrieval.matrix import CONFIDENCE, top_per_group
from models.retrieval.params import CandidateParams
from vidrec import dates
from vidrec.tables import USER_ID, VIDEO_ID

DAY = pd.Timedelta(days=1)


def video_quality(history: History, params: CandidateParams) -> pd.DataFrame:
    """Catalog with ``quality`` = log1p(positive confidence in popular_days) + freshness in [0, 1], and each
    video's ``code`` (``History.video_codes``)."""
    end = pd.Timestamp(dates.day_end(history.ds))
    recent = history.positives[history.positives["last_ts"] >= end - params.popular_days * DAY]
    pop = recent.groupby(VIDEO_ID)[CONFIDENCE].sum()
    videos = history.videos.copy()
    videos["age_days"] = ((end - videos["upload_ts"]) / DAY).fillna(365.0).clip(lower=0.0)
    videos["freshness"] = (1.0 - videos["age_days"] / params.fresh_days).clip(lower=0.0)
    videos["video_popularity"] = np.log1p(videos[VIDEO_ID].map(pop).fillna(0.0))
    videos["quality"] = videos["video_popularity"] + videos["freshness"]
    videos["code"] = history.video_codes(videos[VIDEO_ID])
    return videos


def content_source(history: History, quality: pd.DataFrame, users, params: CandidateParams) -> pd.DataFrame:
    """Videos of the user's top categories and top creators, scored share x quality."""
    out = []
    for column, n, k in (("category", params.top_categories, params.content_k),
                         ("creator_id", params.top_creators, max(1, params.content_k // 3))):
        mine = users_top(history, column, n, users)
        best = top_per_group(quality, column, "quality", k)[[column, "code", "quality"]]
        rows = mine.merge(best, on=column)
        out.append(source_frame(rows[U], rows["code"], rows["share"] * rows["quality"]))
    return pd.concat(out, ignore_index=True)


def users_top(history: History, column: str, n: int, users) -> pd.DataFrame:
    """(u, <column>, share): ``History.top_affinity`` of the chunk's ``users``, u their position in it."""
    mine = within_users(history.top_affinity(column, n), users)
    at = pd.Index(users).get_indexer(mine[USER_ID])
    return pd.DataFrame({U: at, column: mine[column].to_numpy(), "share": mine["share"].to_numpy()})[at >= 0]

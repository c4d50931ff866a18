"""The ``trending`` source, and the one read of trending and recent popularity that the lists share.

The primary trending score is the Spark job's (``spark_jobs.features.trending``: a decayed score per
region and ``global``, lake table ``trending``), read for the day by ``read_trending``. Where that table
or day is missing (a lake without the trending job) and in the offline harness (no lake),
``recent_popularity`` stands in: the positive confidence of the last ``days`` days per region and
overall. It is also the "popular" half of the cold-start lists (``models.ranking.rank.build_coldstart``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models import io
from models.retrieval.fusion import U, source_frame
from models.retrieval.history import History, confidence
from models.retrieval.matrix import top_per_group
from models.retrieval.params import CandidateParams
from vidrec import dates
from vidrec.tables import GLOBAL_REGION, VIDEO_ID


def read_trending(snapshot: io.LakeSnapshot, ds: str) -> pd.DataFrame | None:
    """The ``trending`` table's rows for ``ds`` (None when the table or the day is missing)."""
    if not snapshot.exists("trending"):
        return None
    table = snapshot.read("trending", ["region", "rank", VIDEO_ID, "score", "ds"], (ds, ds))
    return table if len(table) else None


def recent_popularity(history: History, days: int) -> pd.DataFrame:
    """(region, video_id, score): positive confidence (``confidence``) summed over the last ``days`` days
    up to ``history.ds``, per region and then overall as GLOBAL_REGION, for videos of the as-of catalog.
    The fallback for the Spark trending score (see the module docstring)."""
    inter = history.interactions
    recent = inter[inter["ds"] >= dates.shift_ds(history.ds, -(days - 1))]
    recent = recent.assign(score=confidence(recent))
    recent = recent[(recent["score"] > 0) & recent[VIDEO_ID].isin(history.videos[VIDEO_ID])]
    per_region = recent.groupby(["region", VIDEO_ID])["score"].sum().reset_index()
    overall = recent.groupby(VIDEO_ID)["score"].sum().reset_index().assign(region=GLOBAL_REGION)
    return pd.concat([per_region, overall], ignore_index=True)


def trending_scores(history: History, params: CandidateParams, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """(region, video_id, score in (0, 1]) for every region and GLOBAL_REGION, best first per region.

    From the day's ``trending`` table when given (non-empty), else ``recent_popularity`` over the last
    ``trending_days``. Scores are divided by each region's best score; ``trending_k`` per region.
    """
    if table is not None and len(table):
        trend = table[["region", VIDEO_ID, "score"]]
    else:
        trend = recent_popularity(history, params.trending_days)
    trend = trend[trend[VIDEO_ID].isin(history.videos[VIDEO_ID])]
    trend = trend.assign(score=trend["score"] / trend.groupby("region")["score"].transform("max"))
    return top_per_group(trend, "region", "score", params.trending_k)


def trending_source(history: History, trend: pd.DataFrame, users) -> pd.DataFrame:
    """The user's region list and the global list of ``trend`` (``trending_scores``); ``trend_region``
    says which one."""
    region = history.user_region.reindex(users)
    who = pd.DataFrame({U: np.arange(len(users)), "region": region.fillna(GLOBAL_REGION).to_numpy()})
    trend = pd.DataFrame({"region": trend["region"].to_numpy(), "code": history.video_codes(trend[VIDEO_ID]),
                          "score": trend["score"].to_numpy()})
    local = who.merge(trend, on="region")
    glob = who[[U]].merge(trend[trend["region"] == GLOBAL_REGION], how="cross")
    rows = pd.concat([local, glob], ignore_index=True)
    return source_frame(rows[U], rows["code"], rows["score"], trend_region=rows["region"].to_numpy())

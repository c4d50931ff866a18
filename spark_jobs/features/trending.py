"""interactions (last 7 days) -> trending: the top videos per region (and "global") as of the end of ds.

The trending score of a video is a decayed count of its positive events: each event with weight > 0 in the
7 days before event_ts adds ``exp(-age_hours / HALF_LIFE_HOURS * ln 2)``, its age measured to event_ts (an
event 24 h old adds 0.5). ``video_features.trending_score`` is the same score over all regions.
"""

from __future__ import annotations

import datetime as dt
import math

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.features.windows import (EVENT_TS, as_of, conform, read_window, ts_literal, within,
                                         write_partition)
from vidrec.settings import Settings
from vidrec.tables import DS, GLOBAL_REGION, TRENDING, TS, VIDEO_ID, WEIGHT

HALF_LIFE_HOURS = 24.0
TRENDING_DAYS = 7
SIZE = 100  # videos per region


def decay(at: dt.datetime, col: str = TS) -> Column:
    """exp(-age_hours / HALF_LIFE_HOURS * ln 2), the age of ``col`` measured to ``at``."""
    age_hours = (F.unix_micros(ts_literal(at)) - F.unix_micros(F.col(col))) / F.lit(3_600_000_000.0)
    return F.exp(-age_hours / F.lit(HALF_LIFE_HOURS) * F.lit(math.log(2.0)))


def positive_recent(at: dt.datetime) -> Column:
    """The events the trending score counts: weight > 0, in the TRENDING_DAYS before ``at``."""
    return (F.col(WEIGHT) > 0) & within(TRENDING_DAYS, at)


def build_trending(interactions: DataFrame, ds: str, size: int = SIZE) -> DataFrame:
    """interactions(INTERACTIONS) -> trending(TRENDING): per region, the ``size`` videos with the highest score.

    A region's list scores only the events of that region (events without a region count only in "global");
    the "global" list (GLOBAL_REGION) scores every event. rank 1..N by score descending, ties by video_id;
    event_ts = ds + 1 day 00:00 UTC.
    """
    at = as_of(ds)
    scored = interactions.where(positive_recent(at)).withColumn("_score", decay(at))
    by_region = (scored.where(F.col("region").isNotNull()).groupBy("region", VIDEO_ID)
                 .agg(F.sum("_score").alias("score")))
    overall = scored.groupBy(VIDEO_ID).agg(F.sum("_score").alias("score")).withColumn("region", F.lit(GLOBAL_REGION))
    order = Window.partitionBy("region").orderBy(F.desc(F.round("score", 9)), F.asc(VIDEO_ID))
    ranked = (by_region.unionByName(overall).withColumn("rank", F.row_number().over(order))
              .where(F.col("rank") <= size).withColumn(EVENT_TS, ts_literal(at)).withColumn(DS, F.lit(ds)))
    return conform(ranked, TRENDING)


def run(settings: Settings, ds: str) -> dict:
    """`vidrec run build_trending --ds D`: replace partition D of trending (lists of VIDREC_TOPN videos)."""
    lake, interactions = read_window(settings, ds)
    return write_partition(lake, TRENDING, build_trending(interactions, ds, size=settings.topn), ds)

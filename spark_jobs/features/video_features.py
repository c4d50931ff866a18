"""interactions (last 30 days) + videos -> video_features: one row per catalog video, as of the end of ds."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_jobs.features.trending import decay, positive_recent
from spark_jobs.features.windows import (EVENT_TS, MAX_WINDOW, as_of, conform, read_window, ts_literal, within,
                                         write_partition)
from vidrec.settings import Settings
from vidrec.tables import (DS, EVENT_TYPE, USER_ID, VIDEO_FEATURES, VIDEO_ID, VIDEOS, WATCH_FRACTION, WINDOWS)

# Feature name -> event type it counts.
VIDEO_COUNTS = {"impressions": "impression", "views": "watch", "likes": "like", "skips": "skip"}
COMPLETED = 0.9  # a watch with watch_fraction >= this completes the video
ENGAGED = ("click", "watch")


def _ratio(num: Column, den: Column) -> Column:
    return F.when(den > 0, num / den).otherwise(F.lit(0.0))


def _per_video(events: DataFrame, at: dt.datetime) -> DataFrame:
    is_type = {name: F.col(EVENT_TYPE) == kind for name, kind in VIDEO_COUNTS.items()}
    watch7 = is_type["views"] & within(7, at)
    return events.groupBy(VIDEO_ID).agg(
        *[F.count(F.when(is_type[name] & within(w, at), True)).alias(f"{name}_{w}d")
          for name in VIDEO_COUNTS for w in WINDOWS],
        F.coalesce(F.avg(F.when(watch7, F.col(WATCH_FRACTION))), F.lit(0.0)).alias("mean_watch_fraction_7d"),
        _ratio(F.count(F.when(watch7 & (F.col(WATCH_FRACTION) >= COMPLETED), True)),
               F.count(F.when(watch7, True))).alias("completion_rate_7d"),
        F.coalesce(F.sum(F.when(positive_recent(at), decay(at))), F.lit(0.0)).alias("trending_score"),
    )


def _ctr_7d(events: DataFrame, at: dt.datetime) -> DataFrame:
    """video_id, ctr_7d: of the users shown the video in 7 d, the share who also clicked or watched it in 7 d."""
    per_user = events.where(within(7, at)).groupBy(VIDEO_ID, USER_ID).agg(
        F.max((F.col(EVENT_TYPE) == VIDEO_COUNTS["impressions"]).cast("int")).alias("_shown"),
        F.max(F.col(EVENT_TYPE).isin(*ENGAGED).cast("int")).alias("_engaged"))
    return per_user.groupBy(VIDEO_ID).agg(
        _ratio(F.sum(F.col("_shown") * F.col("_engaged")), F.sum("_shown")).alias("ctr_7d"))


def build_video_features(interactions: DataFrame, videos: DataFrame, ds: str) -> DataFrame:
    """interactions(INTERACTIONS), videos(VIDEOS) -> video_features(VIDEO_FEATURES).

    One row per catalog video uploaded before event_ts (= ds + 1 day 00:00 UTC; a video without upload_ts is
    kept, with age_days null); videos without events get zero counts and rates, so new videos are present.
    Windows 1/7/30 d end at event_ts.

    - ``impressions/views/likes/skips_{w}d``: counts of impression/watch/like/skip events.
    - ``ctr_7d`` = |users with an impression and a click or watch of the video| / |users with an impression|,
      over 7 d, 0 without impressions (engagement of users never shown it is not counted, so it stays in [0, 1]).
    - ``mean_watch_fraction_7d``: mean watch_fraction of 7-d watch events (0 without); ``completion_rate_7d``:
      share of 7-d watch events with watch_fraction >= 0.9 (0 without).
    - ``trending_score``: decayed count of positive events, 7 d, half-life 24 h (spark_jobs.features.trending.decay).
    - ``age_days`` = (event_ts - upload_ts) in days; ``creator_id``, ``category`` from videos.
    - ``creator_views_30d``: views_30d summed over the creator's videos; ``creator_like_rate_30d`` =
      min(1, creator likes_30d / creator views_30d), 0 without views (0 and 0 when creator_id is null).
    """
    at = as_of(ds)
    events = interactions.where(within(MAX_WINDOW, at))
    at_us = F.unix_micros(ts_literal(at))
    catalog = (videos.where(F.col("upload_ts").isNull() | (F.col("upload_ts") < ts_literal(at)))
               .select(VIDEO_ID, "creator_id", "category",
                       ((at_us - F.unix_micros("upload_ts")) / F.lit(86_400_000_000.0)).alias("age_days")))
    stats = _per_video(events, at).join(_ctr_7d(events, at), VIDEO_ID, "left")
    zeros = {c: 0 for c in stats.columns if c != VIDEO_ID}
    rows = catalog.join(stats, VIDEO_ID, "left").fillna(zeros)
    creators = rows.where(F.col("creator_id").isNotNull()).groupBy("creator_id").agg(
        F.sum("views_30d").alias("creator_views_30d"), F.sum("likes_30d").alias("_creator_likes"))
    rows = (rows.join(creators, "creator_id", "left").fillna({"creator_views_30d": 0, "_creator_likes": 0})
            .withColumn("creator_like_rate_30d",
                        F.least(F.lit(1.0), _ratio(F.col("_creator_likes"), F.col("creator_views_30d"))))
            .withColumn(EVENT_TS, ts_literal(at)).withColumn(DS, F.lit(ds)))
    return conform(rows, VIDEO_FEATURES)


def run(settings: Settings, ds: str) -> dict:
    """`vidrec run build_video_features --ds D`: replace partition D of video_features."""
    lake, interactions = read_window(settings, ds)
    return write_partition(lake, VIDEO_FEATURES, build_video_features(interactions, lake.read(VIDEOS), ds), ds)

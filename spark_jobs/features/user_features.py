"""interactions (last 30 days) -> user_features: one row per active user, as of the end of partition ds.

Windows and the as-of time are ``spark_jobs.features.windows``'s.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.features.windows import (EVENT_TS, MAX_WINDOW, as_of, conform, read_window, ts_literal, within,
                                         write_partition)
from vidrec.settings import Settings
from vidrec.tables import (DS, EVENT_ID, EVENT_TYPE, TS, USER_FEATURES, USER_ID, USERS, VIDEO_ID, VIDEOS, WATCH_MS,
                           WEIGHT, WINDOWS)

TOP_NAMES = 3  # top_categories, top_creators
LAST_WATCHED = 10
# Feature name -> event type it counts.
USER_COUNTS = {"views": "watch", "likes": "like", "skips": "skip", "not_interested": "not_interested"}


def first_n(df: DataFrame, key: str, value: str, order: list[Column], n: int, alias: str) -> DataFrame:
    """key, alias: the first ``n`` values of ``value`` per key in ``order`` (which must be a total order)."""
    ranked = df.withColumn("_rn", F.row_number().over(Window.partitionBy(key).orderBy(*order))).where(F.col("_rn") <= n)
    listed = F.sort_array(F.collect_list(F.struct("_rn", value)))
    return ranked.groupBy(key).agg(F.transform(listed, lambda x: x.getField(value)).alias(alias))


def empty_names() -> Column:
    return F.array().cast("array<string>")


def _counts(at: dt.datetime) -> list[Column]:
    out = [F.count(F.when((F.col(EVENT_TYPE) == kind) & within(w, at), True)).alias(f"{name}_{w}d")
           for name, kind in USER_COUNTS.items() for w in WINDOWS]
    watch = F.col(EVENT_TYPE) == USER_COUNTS["views"]
    out += [F.coalesce(F.sum(F.when(watch & within(w, at), F.col(WATCH_MS))), F.lit(0)).alias(f"watch_ms_{w}d")
            for w in WINDOWS]
    return out


def _latest(col: str) -> Column:
    """The value of ``col`` in the most recent event that has one (ties: the larger event_id)."""
    return F.max(F.when(F.col(col).isNotNull(), F.struct(TS, EVENT_ID, col))).getField(col).alias(col)


def top_names(events: DataFrame, videos: DataFrame, column: str, alias: str, n: int = TOP_NAMES) -> DataFrame:
    """user_id, alias: up to n values of the video's ``column`` by the user's total positive weight (ties by name)."""
    positive = (events.where(F.col(WEIGHT) > 0).join(videos.select(VIDEO_ID, column), VIDEO_ID)
                .where(F.col(column).isNotNull()))
    totals = positive.groupBy(USER_ID, column).agg(F.round(F.sum(WEIGHT), 9).alias("_total"))
    return first_n(totals, USER_ID, column, [F.desc("_total"), F.asc(column)], n, alias)


def last_watched(events: DataFrame, n: int = LAST_WATCHED) -> DataFrame:
    """user_id, last_watched: up to n distinct watched videos, most recently watched first (ties by video_id)."""
    watched = (events.where(F.col(EVENT_TYPE) == USER_COUNTS["views"])
               .groupBy(USER_ID, VIDEO_ID).agg(F.max(TS).alias("_last")))
    return first_n(watched, USER_ID, VIDEO_ID, [F.desc("_last"), F.asc(VIDEO_ID)], n, "last_watched")


def build_user_features(interactions: DataFrame, videos: DataFrame, users: DataFrame, ds: str) -> DataFrame:
    """interactions(INTERACTIONS), videos(video_id, creator_id, category), users(user_id, region)
    -> user_features(USER_FEATURES): one row per user with any interaction in the 30 days before event_ts.

    - ``event_ts`` = ds + 1 day 00:00 UTC; windows 1/7/30 d end there (rows outside [event_ts - 30 d,
      event_ts) are ignored, whatever partition they sit in).
    - ``views/likes/skips/not_interested_{w}d``: counts of watch/like/skip/not_interested events;
      ``watch_ms_{w}d``: sum of watch_ms of watch events.
    - ``like_rate_30d`` = min(1, likes_30d / views_30d), 0 without views (a like may come without a watch
      event, so the ratio is capped to stay a rate); ``skip_rate_30d`` = skips_30d / (views_30d + skips_30d),
      0 when both are 0.
    - ``top_categories`` / ``top_creators``: up to 3 by the total weight of the user's positive (weight > 0)
      interactions, ties by name; ``last_watched``: up to 10 distinct watched video ids, most recent first.
    - ``region`` / ``device``: from the most recent event that has one; region falls back to the users table.
    """
    at = as_of(ds)
    events = interactions.where(within(MAX_WINDOW, at))
    counts = events.groupBy(USER_ID).agg(*_counts(at), _latest("region").alias("_region"), _latest("device"))
    views, likes, skips = F.col("views_30d"), F.col("likes_30d"), F.col("skips_30d")
    rows = (
        counts.join(top_names(events, videos, "category", "top_categories"), USER_ID, "left")
        .join(top_names(events, videos, "creator_id", "top_creators"), USER_ID, "left")
        .join(last_watched(events), USER_ID, "left")
        .join(users.select(USER_ID, F.col("region").alias("_home")), USER_ID, "left")
        .withColumn("like_rate_30d", F.when(views > 0, F.least(F.lit(1.0), likes / views)).otherwise(F.lit(0.0)))
        .withColumn("skip_rate_30d", F.when(views + skips > 0, skips / (views + skips)).otherwise(F.lit(0.0)))
        .withColumn("region", F.coalesce("_region", "_home"))
        .withColumn(EVENT_TS, ts_literal(at))
        .withColumn(DS, F.lit(ds))
    )
    for name in ("top_categories", "top_creators", "last_watched"):
        rows = rows.withColumn(name, F.coalesce(name, empty_names()))
    return conform(rows, USER_FEATURES)


def run(settings: Settings, ds: str) -> dict:
    """`vidrec run build_user_features --ds D`: replace partition D of user_features."""
    lake, interactions = read_window(settings, ds)
    df = build_user_features(interactions, lake.read(VIDEOS), lake.read(USERS), ds)
    return write_partition(lake, USER_FEATURES, df, ds)

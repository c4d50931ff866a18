"""Feature views over the spark_jobs feature tables, and the real-time view serving pushes to.

Schemas are explicit and include the join key (Feast then never opens a source to infer them); they must
match vidrec.tables.USER_FEATURES / VIDEO_FEATURES (tests/feature_repo checks it).

TTL: a feature table row is valid from its event_ts (ds + 1 day, 00:00 UTC) and describes one day. With a
ttl of 2 days a point-in-time join at time t takes the newest partition with t - 2 d <= event_ts <= t: one
missed daily build still finds yesterday's row, anything older counts as missing (null) rather than being
passed off as current. The same ttl bounds the first materialize-incremental; Redis itself keeps the last
value written (online reads do not apply the ttl).
"""

from datetime import timedelta

from feast import FeatureView, Field
from feast.types import Array, Float64, Int64, String

from data_sources import user_features_source, user_realtime_push, video_features_source
from entities import user, video

WINDOWS = (1, 7, 30)
BATCH_TTL = timedelta(days=2)


def _counts(names):
    return [Field(name=f"{n}_{w}d", dtype=Int64) for n in names for w in WINDOWS]


user_features = FeatureView(
    name="user_features",
    entities=[user],
    ttl=BATCH_TTL,
    schema=[
        Field(name="user_id", dtype=String),
        *_counts(["views", "likes", "skips", "not_interested", "watch_ms"]),
        Field(name="like_rate_30d", dtype=Float64),
        Field(name="skip_rate_30d", dtype=Float64),
        Field(name="top_categories", dtype=Array(String)),
        Field(name="top_creators", dtype=Array(String)),
        Field(name="last_watched", dtype=Array(String)),
        Field(name="region", dtype=String),
        Field(name="device", dtype=String),
    ],
    online=True,
    source=user_features_source,
    description="per-user activity as of the end of a day (spark_jobs.features.user_features)",
)

video_features = FeatureView(
    name="video_features",
    entities=[video],
    ttl=BATCH_TTL,
    schema=[
        Field(name="video_id", dtype=String),
        *_counts(["impressions", "views", "likes", "skips"]),
        Field(name="ctr_7d", dtype=Float64),
        Field(name="mean_watch_fraction_7d", dtype=Float64),
        Field(name="completion_rate_7d", dtype=Float64),
        Field(name="trending_score", dtype=Float64),
        Field(name="age_days", dtype=Float64),
        Field(name="creator_id", dtype=String),
        Field(name="category", dtype=String),
        Field(name="creator_views_30d", dtype=Int64),
        Field(name="creator_like_rate_30d", dtype=Float64),
    ],
    online=True,
    source=video_features_source,
    description="per-video engagement as of the end of a day, one row per catalog video (spark_jobs.features.video_features)",
)

user_realtime = FeatureView(
    name="user_realtime",
    entities=[user],
    ttl=timedelta(days=1),
    schema=[
        Field(name="user_id", dtype=String),
        *[Field(name=name, dtype=Array(String)) for name in (
            "session_watched", "recent_not_interested_videos", "recent_not_interested_creators", "recent_liked",
            "recent_skipped", "recent_disliked_creators", "recent_impressions", "recent_watch_times")],
        # serving/state.py says what each is
    ],
    online=True,
    source=user_realtime_push,
    description="the current session's overlay, pushed by serving's event intake (online only)",
)

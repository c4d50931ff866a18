"""Table names, column names and schemas of the lake. Shared by every stage; stdlib only.

Schemas are Spark DDL strings (``"name type, ..."``); ``spark_jobs`` and ``models`` turn them into
Spark or Arrow schemas, so a column is declared once.
"""

from __future__ import annotations

# Columns shared across tables.
EVENT_ID = "event_id"
USER_ID = "user_id"
VIDEO_ID = "video_id"
EVENT_TYPE = "event_type"
WATCH_MS = "watch_ms"
TS = "ts"
DS = "ds"
DURATION_MS = "duration_ms"
WATCH_FRACTION = "watch_fraction"
WEIGHT = "weight"
REASON = "reason"

EVENT_TYPES = ("impression", "click", "watch", "like", "dislike", "share", "skip", "not_interested")
SURFACES = ("home", "related", "trending", "category", "fresh", "search")
DEVICES = ("android", "ios", "web", "tv")

# Label weight of each event type in the interactions table. A watch counts its watch fraction
# (capped at WATCH_WEIGHT_CAP, so replays of a short video count but do not dominate).
EVENT_WEIGHTS = {
    "impression": 0.0,
    "click": 0.1,
    "watch": None,  # min(watch_fraction, WATCH_WEIGHT_CAP)
    "like": 1.0,
    "share": 1.5,
    "dislike": -1.0,
    "skip": -0.5,
    "not_interested": -2.0,
}
WATCH_WEIGHT_CAP = 2.0

# What producers send (landing files): JSON lines or Parquet with these fields.
EVENT_FIELDS = (
    "event_id string, user_id string, video_id string, event_type string, watch_ms long, "
    "ts timestamp, session_id string, device string, region string, surface string, rec_id string, position int"
)  # rec_id, position: the feed response (``served``) and the 1-based place in it the event's video was shown at
VIDEO_FIELDS = (  # thumbnail_url and url: optional (null, or absent from a producer's files)
    "video_id string, title string, creator_id string, category string, tags array<string>, "
    "duration_ms long, upload_ts timestamp, language string, thumbnail_url string, url string"
)
USER_FIELDS = "user_id string, region string, age_band string, signup_ts timestamp"
SERVED_FIELDS = (  # what the API's served log writes (serving/served_log.py): one record per feed response
    "rec_id string, user_id string, experiment string, arm string, surface string, version string, "
    "video_ids array<string>, shown int, served_at timestamp"
)  # shown: only the first ``shown`` of video_ids were served (null: all)


class Table:
    """A lake table: its name, DDL schema, partition columns and key."""

    def __init__(self, name: str, schema: str, partition_by: tuple[str, ...] = (), key: tuple[str, ...] = ()):
        self.name, self.schema, self.partition_by, self.key = name, schema, partition_by, key

    @property
    def columns(self) -> list[str]:
        return [c.strip().split(" ", 1)[0] for c in split_ddl(self.schema)]

    def __repr__(self) -> str:
        return f"Table({self.name!r})"


def split_ddl(ddl: str) -> list[str]:
    """Split a DDL string on top-level commas (``array<...>`` and ``struct<...>`` may hold commas)."""
    parts, depth, cur = [], 0, []
    for ch in ddl:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


EVENTS = Table("events", EVENT_FIELDS + ", ds string", partition_by=(DS,), key=(EVENT_ID,))
INTERACTIONS = Table(
    "interactions",
    "event_id string, user_id string, video_id string, event_type string, ts timestamp, "
    "watch_ms long, duration_ms long, watch_fraction double, weight double, surface string, "
    "region string, device string, ds string",
    partition_by=(DS,),
    key=(EVENT_ID,),
)
QUARANTINE = Table(
    "events_quarantine",
    "quarantine_id string, kind string, record_id string, reason string, raw string, "
    "source_file string, batch_id string, quarantined_at timestamp, ds string",
    partition_by=(DS,),
    key=("quarantine_id",),
)
SERVED = Table(  # one row per item of a feed response (``position``: 1-based), for joining to events by rec_id
    "served",
    "rec_id string, position int, video_id string, user_id string, experiment string, arm string, "
    "surface string, version string, served_at timestamp, ds string",
    partition_by=(DS,),
    key=("rec_id", "position"),
)
VIDEOS = Table("videos", VIDEO_FIELDS, key=(VIDEO_ID,))
USERS = Table("users", USER_FIELDS, key=(USER_ID,))
INGEST_FILES = Table(
    "ingest_files",
    "path string, size long, mtime double, kind string, batch_id string, status string, error string, "
    "rows_read long, ingested_at timestamp",
    key=("path", "size", "mtime"),
)

# Feature tables: one row per entity per ds, computed as of the END of ds (event_ts = ds + 1 day, UTC);
# nothing from later events leaks in. Windows 1/7/30 days end at event_ts. Feast reads these (feature_repo/).
WINDOWS = (1, 7, 30)
_USER_COUNTS = ", ".join(f"{m}_{w}d long" for m in ("views", "likes", "skips", "not_interested") for w in WINDOWS)
_WATCH = ", ".join(f"watch_ms_{w}d long" for w in WINDOWS)
USER_FEATURES = Table(
    "user_features",
    f"user_id string, event_ts timestamp, {_USER_COUNTS}, {_WATCH}, like_rate_30d double, skip_rate_30d double, "
    "top_categories array<string>, top_creators array<string>, last_watched array<string>, region string, "
    "device string, ds string",
    partition_by=(DS,),
    key=(USER_ID, DS),
)
_VIDEO_COUNTS = ", ".join(f"{m}_{w}d long" for m in ("impressions", "views", "likes", "skips") for w in WINDOWS)
VIDEO_FEATURES = Table(
    "video_features",
    f"video_id string, event_ts timestamp, {_VIDEO_COUNTS}, ctr_7d double, mean_watch_fraction_7d double, "
    "completion_rate_7d double, trending_score double, age_days double, creator_id string, category string, "
    "creator_views_30d long, creator_like_rate_30d double, ds string",
    partition_by=(DS,),
    key=(VIDEO_ID, DS),
)
TRENDING = Table(
    "trending",
    "region string, rank int, video_id string, score double, event_ts timestamp, ds string",
    partition_by=(DS,),
    key=("region", "rank", DS),
)
GLOBAL_REGION = "global"
CONTEXT_LIFTS = Table(  # per context dimension, value and duration band: the request context model, vidrec.context
    "context_lifts",
    "dimension string, value string, band int, watches long, mean_fraction double, log_lift double, "
    "event_ts timestamp, ds string",
    partition_by=(DS,),
    key=("dimension", "value", "band", DS),
)

TABLES = {t.name: t for t in (EVENTS, INTERACTIONS, QUARANTINE, VIDEOS, USERS, INGEST_FILES, USER_FEATURES,
                              VIDEO_FEATURES, TRENDING, CONTEXT_LIFTS, SERVED)}



def arrow_schema(ddl: str):
    """The Arrow schema of a DDL string (timestamps are UTC microseconds, as Delta stores them)."""
    import pyarrow as pa

    def one(t: str):
        t = t.strip()
        if t.startswith("array<") and t.endswith(">"):
            return pa.list_(one(t[6:-1]))
        return {
            "string": pa.string(), "long": pa.int64(), "int": pa.int32(), "double": pa.float64(),
            "boolean": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32(),
        }[t]

    return pa.schema([pa.field(n, one(t)) for n, t in (c.split(" ", 1) for c in split_ddl(ddl))])


# Landing folder layout: one sub-folder per kind of file.
LANDING_KINDS = ("videos", "users", "events", "served")
LANDING_FORMATS = {".jsonl": "json", ".json": "json", ".ndjson": "json", ".parquet": "parquet"}

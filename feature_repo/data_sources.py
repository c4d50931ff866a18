"""Sources: the Delta tables that spark_jobs write, and the push source serving writes to.

The lake root is read from the environment once, here (STYLE.md B9): Feast, not our code, loads this file.
Delta in Feast 0.67 is ``FileSource(file_format=DeltaFormat())`` with ``feast.data_format.DeltaFormat`` (the
form the DuckDB offline store reads); ``table_format=`` exists only on SparkSource.
"""

import os

from feast import FileSource, PushSource
from feast.data_format import DeltaFormat

LAKE_ROOT = os.environ["VIDREC_LAKE_ROOT"].rstrip("/")

user_features_source = FileSource(
    name="user_features",
    path=f"{LAKE_ROOT}/user_features",
    file_format=DeltaFormat(),
    timestamp_field="event_ts",
    description="spark_jobs.features.user_features: one row per active user per ds, valid from event_ts = ds + 1 day",
)

video_features_source = FileSource(
    name="video_features",
    path=f"{LAKE_ROOT}/video_features",
    file_format=DeltaFormat(),
    timestamp_field="event_ts",
    description="spark_jobs.features.video_features: one row per catalog video per ds, valid from event_ts = ds + 1 day",
)

# A push source needs a batch source. Serving pushes online only (PushMode.ONLINE), so this Delta table is
# not written today; it is never materialized (spark_jobs.features.feast_jobs materializes the batch views by name).
user_realtime_batch_source = FileSource(
    name="user_realtime_batch",
    path=f"{LAKE_ROOT}/user_realtime",
    file_format=DeltaFormat(),
    timestamp_field="event_ts",
)

user_realtime_push = PushSource(name="user_realtime_push", batch_source=user_realtime_batch_source)

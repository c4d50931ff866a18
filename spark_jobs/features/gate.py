"""validate_features: the gate between the feature tables and Feast.

Checks partition ds of user_features, video_features, trending and context_lifts with Great Expectations suites
built from ``spark_jobs.quality.Rule`` (plus one Spark check that keys are unique, which Feast would silently hide).
Any failure raises ``quality.ValidationFailed``: the Airflow task fails, and feast_apply/materialize do not
run, so Redis keeps serving the last good features.
"""

from __future__ import annotations

import logging

from spark_jobs import quality
from spark_jobs.quality import Rule
from spark_jobs.features.user_features import USER_COUNTS
from spark_jobs.features.windows import EVENT_TS, as_of
from spark_jobs.features.video_features import VIDEO_COUNTS
from vidrec.settings import Settings
from vidrec.context import DIMENSIONS, EDGES_MS, MAX_ABS_LIFT
from vidrec.tables import (CONTEXT_LIFTS, DS, TRENDING, USER_FEATURES, USER_ID, VIDEO_FEATURES, VIDEO_ID, WINDOWS,
                           Table)

log = logging.getLogger("vidrec.features")


def _partition_rules(ds: str) -> list[Rule]:
    at = as_of(ds)
    return [Rule("missing_event_ts", EVENT_TS, "not_null"), Rule("missing_ds", DS, "not_null"),
            Rule("event_ts_not_end_of_ds", EVENT_TS, "between", {"min": at, "max": at}),
            Rule("ds_not_partition", DS, "in_set", {"values": [ds]})]


def _non_negative(columns: list[str]) -> list[Rule]:
    return [Rule(f"negative_{c}", c, "between", {"min": 0}) for c in columns]


def _rates(columns: list[str]) -> list[Rule]:
    return [Rule(f"{c}_out_of_range", c, "between", {"min": 0.0, "max": 1.0}) for c in columns]


def _nested_windows(names) -> list[Rule]:
    """A longer window never counts fewer events than a shorter one (30 d >= 7 d >= 1 d)."""
    return [Rule(f"{n}_{long}d_below_{short}d", f"{n}_{long}d", "a_ge_b", {"other": f"{n}_{short}d"})
            for n in names for short, long in zip(WINDOWS, WINDOWS[1:])]


def user_feature_rules(ds: str) -> list[Rule]:
    return [Rule("missing_user_id", USER_ID, "not_null"), *_partition_rules(ds),
            *_non_negative([f"{n}_1d" for n in (*USER_COUNTS, "watch_ms")]),
            *_nested_windows([*USER_COUNTS, "watch_ms"]),
            *_rates(["like_rate_30d", "skip_rate_30d"])]


def video_feature_rules(ds: str) -> list[Rule]:
    return [Rule("missing_video_id", VIDEO_ID, "not_null"), *_partition_rules(ds),
            *_non_negative([f"{n}_1d" for n in VIDEO_COUNTS] + ["trending_score", "mean_watch_fraction_7d",
                                                                 "creator_views_30d", "age_days"]),
            *_nested_windows(VIDEO_COUNTS),
            *_rates(["ctr_7d", "completion_rate_7d", "creator_like_rate_30d"])]


def trending_rules(ds: str, size: int) -> list[Rule]:
    return [Rule("missing_region", "region", "not_null"), Rule("missing_video_id", VIDEO_ID, "not_null"),
            Rule("missing_rank", "rank", "not_null"),
            Rule("rank_out_of_range", "rank", "between", {"min": 1, "max": size}),
            Rule("negative_score", "score", "between", {"min": 0.0}), *_partition_rules(ds)]


def context_rules(ds: str) -> list[Rule]:
    return [Rule("unknown_dimension", "dimension", "in_set", {"values": list(DIMENSIONS)}),
            Rule("missing_value", "value", "not_null"),
            Rule("band_out_of_range", "band", "between", {"min": 0, "max": len(EDGES_MS)}),
            Rule("no_watches", "watches", "between", {"min": 1}), *_rates(["mean_fraction"]),
            Rule("log_lift_out_of_range", "log_lift", "between", {"min": -MAX_ABS_LIFT, "max": MAX_ABS_LIFT}),
            *_partition_rules(ds)]


def duplicate_keys(df, table: Table) -> int:
    """Rows beyond the first per key (the table's key, ds included): 0 for a good partition."""
    from pyspark.sql import functions as F

    return df.groupBy(*table.key).count().where(F.col("count") > 1).agg(
        F.coalesce(F.sum(F.col("count") - 1), F.lit(0))).first()[0]


def validate_partition(df, table: Table, rules: list[Rule], ds: str) -> dict:
    """Raise quality.ValidationFailed when a rule fails or a key repeats; else the GX report.

    The pass/fail run skips GX's failure counts (about twice as fast); only a failing partition is validated
    again with counts, for the error message.
    """
    name = f"{table.name}_{ds}"
    report = quality.run_suite(df, rules, name, result_format="BOOLEAN_ONLY")
    if not report["success"]:
        quality.validate_or_raise(df, rules, name)
    dupes = duplicate_keys(df, table)
    if dupes:
        raise quality.ValidationFailed(f"{table.name} ds={ds}: {dupes} rows repeat the key {table.key}")
    return report


def run(settings: Settings, ds: str) -> dict:
    """`vidrec run validate_features --ds D`: validate partition D of the four feature tables (raises on failure)."""
    from spark_jobs.lake import open_lake
    from spark_jobs.session import build_spark

    lake = open_lake(settings, build_spark(settings))
    checks = [(USER_FEATURES, user_feature_rules(ds)), (VIDEO_FEATURES, video_feature_rules(ds)),
              (TRENDING, trending_rules(ds, settings.topn)), (CONTEXT_LIFTS, context_rules(ds))]
    out = {"ds": ds}
    for table, rules in checks:
        if not lake.exists(table):
            raise quality.ValidationFailed(f"{table.name} does not exist: run its build job for ds={ds} first")
        df = lake.read(table, partitions={DS: [ds]}).cache()  # one day of features; GX scans it once per rule
        try:
            report = validate_partition(df, table, rules, ds)
            out[table.name] = {"rows": df.count(), "rules": report["evaluated"]}
        finally:
            df.unpersist()
        log.info("%s ds=%s valid: %s", table.name, ds, out[table.name])
    return out

"""Each rule of each suite can fail: Great Expectations and the row classifier agree on a failing frame."""

from __future__ import annotations

import datetime as dt

import pytest

from spark_jobs import quality
from vidrec.settings import Settings

pytestmark = pytest.mark.spark
NOW = dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc)
COLS = "event_id string, user_id string, video_id string, event_type string, watch_ms long, ts timestamp, " \
       "duration_ms long, _max_watch_ms double"
OK = ("e", "u", "v", "watch", 10, dt.datetime(2026, 11, 1), 100, 2000.0)


def frame(spark, **bad):
    row = dict(zip([c.split()[0] for c in COLS.split(", ")], OK))
    return spark.createDataFrame([tuple(row.values()), tuple({**row, **bad}.values())], COLS)


CASES = [
    ({"event_id": None}, "missing_event_id"),
    ({"user_id": None}, "missing_user_id"),
    ({"video_id": None}, "missing_video_id"),
    ({"event_type": "purchase"}, "unknown_event_type"),
    ({"ts": None}, "missing_ts"),
    ({"watch_ms": -3}, "negative_watch_ms"),
    ({"ts": dt.datetime(1990, 1, 1)}, "ts_out_of_bounds"),
    ({"ts": dt.datetime(2026, 11, 4)}, "ts_out_of_bounds"),
    ({"duration_ms": None, "_max_watch_ms": None}, "unknown_video_id"),
    ({"watch_ms": 2001}, "watch_ms_beyond_duration"),
]


@pytest.mark.parametrize("bad, rule", CASES, ids=[c[1] + str(i) for i, c in enumerate(CASES)])
def test_event_rule_fails_exactly_the_bad_row(spark, bad, rule):
    rules = quality.event_rules(Settings(), NOW)
    df = frame(spark, **bad)
    report = quality.run_suite(df, rules, "events_test")
    assert not report["success"] and report["failures"] == {rule: 1}
    reasons = [r[0] for r in df.select(quality.first_failed_rule(rules)).collect()]
    assert reasons == [None, rule]


def test_a_clean_frame_passes_every_expectation(spark):
    report = quality.run_suite(frame(spark), quality.event_rules(Settings(), NOW), "events_ok")
    assert report["success"] and report["evaluated"] == len(quality.event_rules(Settings(), NOW))


def test_the_gate_raises_with_the_failed_rules(spark):
    df = spark.createDataFrame([("e1", None, 1.0)], "event_id string, user_id string, weight double")
    rules = [quality.Rule("missing_user_id", "user_id", "not_null")]
    with pytest.raises(quality.ValidationFailed, match="missing_user_id"):
        quality.validate_or_raise(df, rules, "gate")

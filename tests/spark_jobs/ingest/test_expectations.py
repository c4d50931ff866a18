"""Great Expectations on a staged batch reports what it would report on the whole batch, and the silver gate fails."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from spark_jobs import quality
from spark_jobs.ingest import batch as ingest
from spark_jobs.ingest import expectations, gx_process, landing
from spark_jobs.ingest.classify import CORRUPT, UNFIT, classify, read_landed, with_max_watch
from spark_jobs.ingest.staging import outcome_dir
from vidrec.ops import services
from vidrec.tables import EVENT_FIELDS, INTERACTIONS, VIDEO_FIELDS, arrow_schema

pytestmark = pytest.mark.spark
T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)


def event(i, **kw):
    e = {"event_id": f"e{i}", "user_id": f"u{i % 3}", "video_id": "v1", "event_type": "watch", "watch_ms": 30_000,
         "ts": "2026-11-01T12:00:00Z", "session_id": "s1", "device": "web", "region": "us", "surface": "home"}
    return json.dumps({**e, **kw})


def lines():
    """Many breakers of one rule (more than GX is shown), one of each other rule, copies, malformed lines."""
    bad = [event(i, event_type="bogus") for i in range(100, 100 + 3 * expectations.WITNESSES)]
    one_each = [event(1, user_id=None), event(2, watch_ms=-1), event(3, ts="1980-01-01T00:00:00Z"),
                event(4, video_id="v404"), event(5, watch_ms=60_000 * 21), event(6, event_type="bogus", watch_ms=-2)]
    good = [event(i) for i in range(10, 40)]
    return bad + one_each + good + good[:5] + ['{"event_id": "e7", "cut', event(8, watch_ms="lots")]


@pytest.fixture
def landed(settings):
    videos = [{"video_id": "v1", "title": "t", "creator_id": "c1", "category": "music", "tags": [],
               "duration_ms": 60_000, "upload_ts": T0 - dt.timedelta(days=3), "language": "en"}]
    (settings.landing_dir / "videos").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(videos, schema=arrow_schema(VIDEO_FIELDS)),
                   settings.landing_dir / "videos" / "v.parquet")
    (settings.landing_dir / "events").mkdir(parents=True)
    (settings.landing_dir / "events" / "e.jsonl").write_text("\n".join(lines()) + "\n")
    return landing.land(settings, None, "b1")


def whole_batch_report(spark, settings, manifest) -> dict:
    """What GX reported before the outcome split: the suite on every parsed row of the batch."""
    files = {f["kind"]: [f] for f in manifest["files"]}
    videos = spark.read.schema(VIDEO_FIELDS).parquet(files["videos"][0]["path"]).select("video_id", "duration_ms")
    events = read_landed(spark, files["events"], EVENT_FIELDS).join(videos, "video_id", "left")
    rules = quality.event_rules(settings, dt.datetime.fromisoformat(manifest["landed_at"]))
    rows = classify(with_max_watch(events, settings.max_watch_ratio), rules).where(F.col(CORRUPT).isNull())
    return quality.run_suite(rows, rules, "whole_batch")


def test_the_staged_report_equals_the_whole_batch_report(settings, spark, landed):
    validated = ingest.run_step(settings, "validate", batch_id="b1")
    report, whole = validated["expectations"], whole_batch_report(spark, settings, landed)
    assert whole["failures"] == {"missing_user_id": 1, "unknown_event_type": 3 * expectations.WITNESSES + 1,
                                 "negative_watch_ms": 2, "ts_out_of_bounds": 1, "unknown_video_id": 1,
                                 "watch_ms_beyond_duration": 1}
    assert (report["success"], report["evaluated"], report["failures"]) == (False, whole["evaluated"],
                                                                           whole["failures"])
    assert "disagreements" not in report
    # GX saw a bounded frame: at most WITNESSES failing rows per failed rule, and the accepted rows as a sample.
    assert report["checked"]["failing"] <= expectations.WITNESSES * len(report["failures"])
    assert report["checked"]["sample"] == validated["accepted"] == 30
    assert validated["interactions_gate"]["success"]


def test_a_running_gx_server_checks_the_batch_with_the_same_report(settings, spark, landed):
    gx_process.stop()  # this process's helper, if an earlier test started one
    services.gx_up(settings)
    try:
        report = ingest.run_step(settings, "validate", batch_id="b1")["expectations"]
        assert gx_process.start(settings.gx_socket) == "server"  # the batch talked to the server
    finally:
        gx_process.stop()
        services.down(settings)
    whole = whole_batch_report(spark, settings, landed)
    assert (report["success"], report["evaluated"], report["failures"]) == (False, whole["evaluated"],
                                                                           whole["failures"])


def test_a_clean_batch_is_checked_on_its_sample_alone(settings, spark, landed):
    (settings.landing_dir / "events" / "e.jsonl").unlink()
    (settings.landing_dir / "events" / "clean.jsonl").write_text("\n".join(event(i) for i in range(5)) + "\n")
    landing.land(settings, None, "b2")
    validated = ingest.run_step(settings, "validate", batch_id="b2")
    report = validated["expectations"]
    assert (report["success"], report["failures"], report["checked"]) == (True, {}, {"failing": 0, "sample": 5})


def test_unfit_rows_fail_the_silver_gate(settings, spark, tmp_path):
    """An accepted row whose silver row breaks the contract is staged as unfit, and the gate raises."""
    row = {"event_id": "e1", "user_id": "u1", "video_id": "v1", "event_type": "watch", "ts": T0, "watch_ms": 10,
           "duration_ms": 1, "watch_fraction": 10_000.0, "weight": 2.0, "surface": "home", "region": "us",
           "device": "web", "ds": "2026-11-01"}
    folder = outcome_dir(tmp_path / "events", UNFIT)
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([row], schema=arrow_schema(INTERACTIONS.schema)), folder / "p.parquet")
    with pytest.raises(quality.ValidationFailed, match="watch_fraction_out_of_range"):
        expectations.check_interactions(spark, tmp_path / "events", quality.interaction_rules(settings), unfit=1)

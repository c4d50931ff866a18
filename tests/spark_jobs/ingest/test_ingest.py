"""Ingestion with real Spark, Great Expectations and Delta tables in a temp folder."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from spark_jobs.ingest import batch as ingest

from spark_jobs.ingest import landing
from spark_jobs.lake import stats
from vidrec.tables import EVENT_FIELDS, USER_FIELDS, VIDEO_FIELDS, arrow_schema

pytestmark = pytest.mark.spark
T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)
DATA_TABLES = ("events", "interactions", "events_quarantine", "videos", "users")


def event(i, **kw):
    e = {"event_id": f"e{i}", "user_id": "u1", "video_id": "v1", "event_type": "watch", "watch_ms": 30_000,
         "ts": "2026-11-01T12:00:00.250Z", "session_id": "s1", "device": "web", "region": "us", "surface": "home"}
    return json.dumps({**e, **kw})


# (line, expected reason or None for accepted, "dup" for duplicate)
BATCH = [
    (event(1), None),
    (event(2, event_type="like", watch_ms=0), None),
    (event(3, event_type="skip", watch_ms=3_000, video_id="v2"), None),
    (event(4, event_type="bogus"), "unknown_event_type"),
    (event(5, video_id="v404"), "unknown_video_id"),
    (event(6, watch_ms=-1), "negative_watch_ms"),
    (event(7, watch_ms=60_000 * 21), "watch_ms_beyond_duration"),
    (event(8, ts="1980-01-01T00:00:00Z"), "ts_out_of_bounds"),
    (event(9, ts="2099-01-01T00:00:00Z"), "ts_out_of_bounds"),
    (event(10, user_id=None), "missing_user_id"),
    (event(11, watch_ms="lots"), "malformed_record"),
    ('{"event_id": "e12", "user_id": "u1", "vid', "malformed_record"),
    (event(1), "dup"),
]


def write_catalog(landing_dir):
    (landing_dir / "videos").mkdir(parents=True, exist_ok=True)
    (landing_dir / "users").mkdir(parents=True, exist_ok=True)
    videos = [{"video_id": v, "title": v, "creator_id": "c1", "category": "music", "tags": ["a"], "duration_ms": d,
               "upload_ts": T0 - dt.timedelta(days=3), "language": "en"} for v, d in (("v1", 60_000), ("v2", 20_000))]
    pq.write_table(pa.Table.from_pylist(videos, schema=arrow_schema(VIDEO_FIELDS)),
                   landing_dir / "videos" / "v.parquet")
    users = [{"user_id": "u1", "region": "us", "age_band": "18-24", "signup_ts": T0}]
    pq.write_table(pa.Table.from_pylist(users, schema=arrow_schema(USER_FIELDS)), landing_dir / "users" / "u.parquet")


def write_events(landing_dir, name="batch.jsonl", lines=None):
    (landing_dir / "events").mkdir(parents=True, exist_ok=True)
    path = landing_dir / "events" / name
    path.write_text("\n".join(line for line, _ in (lines or BATCH)) + "\n")
    return path


def snapshot(settings):
    """Version and full sorted contents of every data table."""
    out = {}
    for name in DATA_TABLES + ("ingest_files",):
        dt_ = DeltaTable(str(settings.lake_root / name))
        rows = dt_.to_pyarrow_table().to_pylist()
        out[name] = (dt_.version(), sorted(json.dumps(r, default=str, sort_keys=True) for r in rows))
    return out


@pytest.fixture
def ingested(settings, spark):
    write_catalog(settings.landing_dir)
    write_events(settings.landing_dir)
    counts = ingest.run_step(settings)
    return settings, counts


def test_each_bad_row_lands_in_quarantine_with_its_reason(ingested):
    settings, counts = ingested
    expected_bad = {f"e{i}": reason for i, (_, reason) in enumerate(BATCH, 1) if reason not in (None, "dup")}
    q = DeltaTable(str(settings.lake_root / "events_quarantine")).to_pyarrow_table().to_pylist()
    by_id = {r["record_id"]: r["reason"] for r in q if r["record_id"]}
    unparsed = [r for r in q if r["record_id"] is None]
    assert by_id == {k: v for k, v in expected_bad.items() if k != "e12"}
    assert [r["reason"] for r in unparsed] == ["malformed_record"]
    assert unparsed[0]["raw"] == BATCH[11][0]  # the broken line is kept verbatim
    assert counts["read"] == len(BATCH) == counts["accepted"] + counts["quarantined"] + counts["duplicates"]
    assert (counts["accepted"], counts["quarantined"], counts["duplicates"]) == (3, 9, 1)
    assert counts["reasons"]["ts_out_of_bounds"] == 2 and counts["reasons"]["malformed_record"] == 2


def test_accepted_events_and_interactions_are_exact(ingested):
    settings, _ = ingested
    events = DeltaTable(str(settings.lake_root / "events")).to_pyarrow_table().to_pylist()
    assert sorted(e["event_id"] for e in events) == ["e1", "e2", "e3"]
    assert {e["ds"] for e in events} == {"2026-11-01"}
    assert events[0]["ts"].microsecond == 250_000
    rows = DeltaTable(str(settings.lake_root / "interactions")).to_pyarrow_table().to_pylist()
    got = {r["event_id"]: (r["event_type"], r["watch_fraction"], r["weight"]) for r in rows}
    assert got == {"e1": ("watch", 0.5, 0.5), "e2": ("like", 0.0, 1.0), "e3": ("skip", 0.15, -0.5)}
    assert stats(settings)["tables"]["videos"]["rows"] == 2


def test_ingesting_the_same_batch_twice_changes_no_table(ingested):
    settings, _ = ingested
    before = snapshot(settings)
    again = ingest.run_step(settings)  # the same files: remembered, nothing read
    assert again["read"] == 0 and snapshot(settings) == before
    forced = ingest.run_step(settings, force=True)  # re-read anyway: every event is a duplicate
    assert forced["accepted"] == 0 and forced["duplicates"] == 4
    assert snapshot(settings) == before


def test_a_file_repeating_events_only_adds_its_new_events(ingested):
    settings, _ = ingested
    before = snapshot(settings)
    shutil.copy(settings.landing_dir / "events" / "batch.jsonl", settings.landing_dir / "events" / "copy.jsonl")
    counts = ingest.run_step(settings)
    assert (counts["read"], counts["accepted"], counts["duplicates"]) == (len(BATCH), 0, 4)
    after = snapshot(settings)
    assert {n: after[n] for n in DATA_TABLES} == {n: before[n] for n in DATA_TABLES}
    write_events(settings.landing_dir, "new.jsonl", [(event(1), "dup"), (event(50), None)])
    counts = ingest.run_step(settings)
    assert (counts["read"], counts["accepted"], counts["duplicates"]) == (2, 1, 1)


def test_every_row_read_is_accepted_quarantined_or_a_duplicate(ingested):
    """A second batch mixing every outcome: each count is exact, they add up to the rows read, nothing is lost."""
    settings, _ = ingested
    bogus = event(61, event_type="bogus")
    lines = [(event(1), "dup: already in the lake"), (event(60), None), (event(60, device="tv"), "dup: in the batch"),
             (bogus, "unknown_event_type"), (bogus, "unknown_event_type: a copy, quarantined once"),
             ('{"event_id": "e63", "broken', "malformed_record"), (event(62, watch_ms=-5), "negative_watch_ms"),
             (event(64, event_type="share"), None)]
    write_events(settings.landing_dir, "mixed.jsonl", lines)
    quarantine_before = stats(settings)["tables"]["events_quarantine"]["rows"]
    counts = ingest.run_step(settings)
    assert counts["read"] == len(lines) == counts["accepted"] + counts["quarantined"] + counts["duplicates"]
    assert (counts["accepted"], counts["quarantined"], counts["duplicates"]) == (2, 4, 2)
    assert counts["reasons"] == {"unknown_event_type": 2, "malformed_record": 1, "negative_watch_ms": 1}
    events = DeltaTable(str(settings.lake_root / "events")).to_pyarrow_table().to_pylist()
    assert sorted(e["event_id"] for e in events) == ["e1", "e2", "e3", "e60", "e64"]
    assert [e["device"] for e in events if e["event_id"] == "e60"] == ["web"]  # the first copy wins
    assert stats(settings)["tables"]["events_quarantine"]["rows"] == quarantine_before + 3
    assert stats(settings)["tables"]["interactions"]["rows"] == 5


def test_corrupt_files_are_moved_aside_and_the_run_goes_on(settings, spark):
    write_catalog(settings.landing_dir)
    good = write_events(settings.landing_dir, "good.jsonl", BATCH[:2])
    (settings.landing_dir / "events" / "notjson.jsonl").write_text("hello, I am not JSON\n")
    pq.write_table(pa.table({"x": [1, 2, 3]}), settings.landing_dir / "events" / "cut.parquet")
    data = (settings.landing_dir / "events" / "cut.parquet").read_bytes()
    (settings.landing_dir / "events" / "cut.parquet").write_bytes(data[: len(data) // 2])
    counts = ingest.run_step(settings)
    assert (counts["files_rejected"], counts["accepted"]) == (2, 2)
    rejected = settings.landing_dir / "events" / landing.REJECTED_DIR
    assert sorted(p.name for p in rejected.iterdir()) == [
        "cut.parquet", "cut.parquet.error.txt", "notjson.jsonl", "notjson.jsonl.error.txt"]
    assert "not JSON" in (rejected / "notjson.jsonl.error.txt").read_text()
    assert good.exists()


def test_split_steps_give_the_same_result_and_commit_retries_are_harmless(settings, spark):
    write_catalog(settings.landing_dir)
    write_events(settings.landing_dir)
    land = ingest.run_step(settings, "land", batch_id="b1")
    assert land["files"] == 3
    assert ingest.run_step(settings, "land", batch_id="b1")["files"] == 3  # same manifest on retry
    validated = ingest.run_step(settings, "validate", batch_id="b1")
    staged = landing.batch_dir(settings, "b1")
    shutil.copytree(staged, settings.data_dir / "b1-before-commit")
    committed = ingest.run_step(settings, "commit", batch_id="b1")
    assert (validated["accepted"], committed["accepted"]) == (3, 3)
    before = snapshot(settings)
    shutil.rmtree(staged)  # as if the commit task died after its writes, before marking the batch done
    shutil.copytree(settings.data_dir / "b1-before-commit", staged)
    assert ingest.run_step(settings, "commit", batch_id="b1")["accepted"] == 3
    assert snapshot(settings) == before


def test_a_batch_staged_before_the_outcome_split_still_commits(settings, spark):
    """validated.json without "layout": a folder per table (what the code before staged), as after a deploy
    between the validate and commit tasks of one batch."""
    write_catalog(settings.landing_dir)
    write_events(settings.landing_dir)
    ingest.run_step(settings, "land", batch_id="b1")
    validated = ingest.run_step(settings, "validate", batch_id="b1")
    bdir = landing.batch_dir(settings, "b1")
    for kind in ("videos", "users", "events"):
        shutil.move(bdir / kind / "outcome=accepted", bdir / f"{kind}-accepted")
        shutil.rmtree(bdir / kind)
        shutil.move(bdir / f"{kind}-accepted", bdir / kind)
    shutil.copytree(bdir / "events", bdir / "interactions")  # extra columns are not read
    (bdir / "validated.json").write_text(json.dumps({k: v for k, v in validated.items() if k != "layout"}))
    committed = ingest.run_step(settings, "commit", batch_id="b1")
    assert (committed["accepted"], committed["written"]["events"], committed["written"]["interactions"]) == (3, 3, 3)
    assert committed["written"]["events_quarantine"] == 9 and committed["written"]["videos"] == 2


def test_parquet_landing_files_are_read_with_the_declared_schema(settings, spark):
    write_catalog(settings.landing_dir)
    rows = [{**json.loads(event(i)), "ts": T0} for i in (1, 2)]
    (settings.landing_dir / "events").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(EVENT_FIELDS)),
                   settings.landing_dir / "events" / "p.parquet")
    counts = ingest.run_step(settings)
    assert (counts["read"], counts["accepted"]) == (2, 2)
    forced = ingest.run_step(settings, force=True)  # the lake's days to check come from the files' footers
    assert (forced["read"], forced["accepted"], forced["duplicates"]) == (2, 0, 2)


def test_the_land_step_reads_each_parquet_files_days_from_its_footer(tmp_path):
    ts = [T0, T0 + dt.timedelta(days=2), None]
    pq.write_table(pa.table({"ts": pa.array(ts, pa.timestamp("us", tz="UTC"))}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"ts": pa.array([None], pa.timestamp("us", tz="UTC"))}), tmp_path / "b.parquet")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "c.parquet")
    assert landing.ts_days(tmp_path / "a.parquet") == ["2026-11-01", "2026-11-03"]
    assert landing.ts_days(tmp_path / "b.parquet") == []
    assert landing.ts_days(tmp_path / "c.parquet") is None  # unknown: Spark finds the days


def test_a_step_without_its_predecessor_says_what_to_run(settings):
    with pytest.raises(FileNotFoundError, match="--step land"):
        ingest.run_step(settings, "validate", batch_id="nope")
    with pytest.raises(ValueError, match="--batch"):
        ingest.run_step(settings, "commit")

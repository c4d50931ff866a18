"""Forgetting users in real Delta tables (delta-rs), landing files and staged Parquet files."""

from __future__ import annotations

import datetime as dt
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from spark_jobs.ingest.landing import ingested_keys
from spark_jobs.lake_base import BaseLake
from spark_jobs.privacy import forget_in_landing, forget_in_staging, forget_in_tables, live_users
from vidrec.tables import EVENTS, INGEST_FILES, QUARANTINE, USERS, VIDEOS

GONE, QUOTED, KEPT = "alice-7f3a", "o'brien-7f3a", "bob-7f3a"
UTC = dt.timezone.utc


def event(i, user, ds="2026-11-01"):
    ts = dt.datetime.fromisoformat(ds + "T10:00:00+00:00")
    return {"event_id": f"e{i}", "user_id": user, "video_id": f"v{i % 3}", "event_type": "watch", "watch_ms": 1000,
            "ts": ts, "session_id": "s", "device": "web", "region": "us", "surface": "home", "ds": ds}


def test_forgotten_users_leave_every_table_and_the_old_versions_and_log(settings, traces):
    lake, settings = BaseLake(settings), settings.replace(lake_history_hours=0)
    for batch in range(3):  # several commits: the users sit in many files and log entries
        lake.append_rows(EVENTS, [event(batch * 10 + n, u, f"2026-11-0{1 + n % 2}")
                                  for n, u in enumerate([GONE, QUOTED, KEPT, KEPT])])
    lake.append_rows(USERS, [{"user_id": u, "region": "us"} for u in (GONE, QUOTED, KEPT)])
    raw_gone = json.dumps({"event_id": "q1", "user_id": GONE, "event_type": "teleport"})
    raw_kept = json.dumps({"event_id": "q2", "user_id": KEPT, "event_type": "teleport"})
    lake.append_rows(QUARANTINE, [{"quarantine_id": q, "kind": "events", "record_id": q, "reason": "bad type",
                                   "raw": raw, "ds": "2026-11-01"} for q, raw in (("q1", raw_gone), ("q2", raw_kept))])
    lake.append_rows(VIDEOS, [{"video_id": "v1", "title": "t"}])
    assert traces(settings.lake_root, GONE) and traces(settings.lake_root, "o'brien")

    removed = forget_in_tables(settings, [GONE, QUOTED])

    assert removed["events"] == 6 and removed["users"] == 2 and removed[QUARANTINE.name] == 1
    assert "videos" not in removed  # no user column: untouched
    assert removed["files_vacuumed"] > 0
    assert traces(settings.lake_root, GONE) == [] and traces(settings.lake_root, "o'brien") == []
    events = DeltaTable(str(lake.path(EVENTS))).to_pyarrow_table().to_pylist()
    assert len(events) == 6 and {e["user_id"] for e in events} == {KEPT}  # the others' rows are all there
    quarantined = DeltaTable(str(lake.path(QUARANTINE))).to_pyarrow_table().to_pylist()
    assert [q["quarantine_id"] for q in quarantined] == ["q2"]
    lake.append_rows(EVENTS, [event(99, KEPT)])  # the table takes new commits after its log was cleaned
    assert len(DeltaTable(str(lake.path(EVENTS))).to_pyarrow_table()) == 7
    assert forget_in_tables(settings, [GONE])["events"] == 0  # idempotent


def test_old_versions_keep_forgotten_rows_until_the_retention_passes(settings):
    lake = BaseLake(settings)  # the default retention: a week
    for n in range(2):
        lake.append_rows(EVENTS, [event(n, GONE), event(n + 10, KEPT)])
    forget_in_tables(settings, [GONE])
    table = DeltaTable(str(lake.path(EVENTS)))
    assert {e["user_id"] for e in table.to_pyarrow_table().to_pylist()} == {KEPT}
    table.load_as_version(1)  # time travel still reaches the version before the delete ...
    assert GONE in {e["user_id"] for e in table.to_pyarrow_table().to_pylist()}
    latest = DeltaTable(str(lake.path(EVENTS))).metadata().configuration
    assert latest["delta.logRetentionDuration"] == "interval 168 hours"  # ... until a run a week later


def write_lines(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_landing_files_are_rewritten_and_the_apis_live_file_waits(settings, traces):
    landing = settings.landing_dir
    done = write_lines(landing / "events" / "producer.jsonl", [{"user_id": GONE, "event_id": "1"},
                                                               {"user_id": KEPT, "event_id": "2"}])
    BaseLake(settings).append_rows(INGEST_FILES, [{"path": str(done), "size": done.stat().st_size,
                                                   "mtime": done.stat().st_mtime, "status": "ingested"}])
    only_gone = write_lines(landing / "events" / "only.jsonl", [{"user_id": GONE, "event_id": "3"}])
    (landing / "users").mkdir()
    pq.write_table(pa.table({"user_id": [GONE, KEPT], "video_id": ["v1", "v2"]}), landing / "users" / "u.parquet")
    rejected = landing / "events" / "_rejected" / "garbage.jsonl"
    rejected.parent.mkdir(parents=True)
    rejected.write_text(f"not json {GONE} here\nnot json either\n")
    now = dt.datetime(2026, 11, 5, 10, 30, tzinfo=UTC)
    live = write_lines(landing / "events" / "api" / f"api-20261105-10-{os.getpid()}.jsonl", [{"user_id": GONE}])
    old = write_lines(landing / "events" / "api" / f"api-20261105-09-{os.getpid()}.jsonl", [{"user_id": GONE}])

    result = forget_in_landing(settings, [GONE], now)

    assert result == {"files": 5, "records": 5, "deferred": 1}
    assert [json.loads(line)["event_id"] for line in done.read_text().splitlines()] == ["2"]
    assert (str(done), done.stat().st_size, done.stat().st_mtime) in ingested_keys(settings)  # not read again
    assert not only_gone.exists() and not old.exists()  # emptied files go
    assert pq.read_table(landing / "users" / "u.parquet").column("user_id").to_pylist() == [KEPT]
    assert rejected.read_text() == "not json either\n"
    assert live.read_text() == json.dumps({"user_id": GONE}) + "\n"  # the API still appends to it
    assert live_users(settings, [GONE, KEPT], now) == {GONE}
    later = now + dt.timedelta(hours=1)
    assert forget_in_landing(settings, [GONE], later) == {"files": 1, "records": 1, "deferred": 0}
    assert traces(landing, GONE) == [] and live_users(settings, [GONE], later) == set()


def test_staged_batches_lose_the_users_rows_and_quarantined_records(settings, traces):
    batch = settings.staging_dir / "batches" / "b1"
    (batch / "events").mkdir(parents=True)
    (batch / "quarantine").mkdir()
    pq.write_table(pa.table({"user_id": [GONE, KEPT, KEPT]}), batch / "events" / "part-0.parquet")
    (batch / "events" / ".part-0.parquet.crc").write_bytes(b"checksum of the old bytes")
    pq.write_table(pa.table({"raw": [json.dumps({"user_id": GONE}), json.dumps({"user_id": KEPT})]}),
                   batch / "quarantine" / "part-0.parquet")
    assert forget_in_staging(settings, [GONE]) == {"files": 2, "rows": 2}
    assert pq.read_table(batch / "events" / "part-0.parquet").num_rows == 2
    assert not (batch / "events" / ".part-0.parquet.crc").exists()  # Spark would reject the new bytes
    assert traces(settings.staging_dir, GONE) == []

"""The lake's upkeep on real Delta tables (delta-rs): retention by day, compaction of hourly files, vacuum, and
staging batches and run folders out of the way (run folders against a real redis-server)."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from deltalake import DeltaTable

from models.run_folders import clean_runs
from spark_jobs import maintenance
from spark_jobs.lake_base import BaseLake
from vidrec.recstore import codec
from vidrec.recstore.keys import HOME
from vidrec.recstore.writer import RecoStore
from vidrec.tables import EVENTS, USERS


def event(i, ds):
    ts = dt.datetime.fromisoformat(ds + "T10:00:00+00:00")
    return {"event_id": f"e{i}", "user_id": f"u{i % 7}", "video_id": "v1", "event_type": "watch", "ts": ts, "ds": ds}


def test_retention_compaction_and_vacuum_shrink_the_lake_and_keep_what_is_recent(settings):
    s = settings.replace(retention_days=30, lake_history_hours=0)
    lake = BaseLake(s)
    days = ["2026-09-01", "2026-10-20", "2026-11-01"]
    for hour in range(24):  # hourly batches: one small file per day each
        lake.append_rows(EVENTS, [event(hour * 10 + d, day) for d, day in enumerate(days)])
    lake.append_rows(USERS, [{"user_id": "u1"}])
    before = maintenance.file_count(s)

    assert maintenance.apply_retention(s) == {"cutoff": "2026-10-02", "events": 24}  # 30 days before the newest
    compacted = maintenance.compact(s)["events"]
    assert compacted == {"files_before": 48, "files_after": 2}  # one file per day left
    assert maintenance.vacuum(s)["events"] == 72  # the 24 x 3 hourly files
    after = maintenance.file_count(s)

    assert after["events"] < before["events"] / 10
    rows = DeltaTable(str(lake.path(EVENTS))).to_pyarrow_table().to_pylist()
    assert len(rows) == 48 and {r["ds"] for r in rows} == {"2026-10-20", "2026-11-01"}
    assert maintenance.apply_retention(s.replace(retention_days=0)) == {"cutoff": None}  # 0: keep everything
    lake.append_rows(EVENTS, [event(999, "2026-11-02")])  # the table takes commits after all that
    assert len(DeltaTable(str(lake.path(EVENTS))).to_pyarrow_table()) == 49


def test_old_staging_batches_go_and_recent_ones_stay(settings):
    batches = settings.staging_dir / "batches"
    for name, age_days in (("old", 8), ("recent", 1)):
        (batches / name / "events").mkdir(parents=True)
        (batches / name / "manifest.json").write_text("{}")
        stamp = time.time() - age_days * 86_400
        os.utime(batches / name, (stamp, stamp))
    assert maintenance.clean_staging(settings) == {"batches": 1, "commit_leftovers": 0}
    assert [p.name for p in batches.iterdir()] == ["recent"]


@pytest.mark.redis
def test_run_folders_keep_the_newest_and_those_a_version_in_redis_needs(settings, redis_server):
    s = settings.replace(redis_url=redis_server.rsplit("/", 1)[0] + "/10")
    store = RecoStore.from_url(s.redis_url)
    store.r.flushdb()
    runs = s.artifact_root / "runs"
    for day in range(1, 13):
        (runs / f"2026-11-{day:02d}").mkdir(parents=True)
    (runs / "notes").mkdir()
    store.publish("old", [(HOME, "u1", codec.encode_items([{"video_id": "v1"}]))], {"ds": "2026-11-02"})
    result = clean_runs(s, keep=3)
    assert result["kept"] == ["2026-11-02", "2026-11-10", "2026-11-11", "2026-11-12"]
    assert sorted(p.name for p in runs.iterdir()) == [*result["kept"], "notes"]  # only run days are touched
    assert clean_runs(s.replace(redis_url="redis://127.0.0.1:1/0"), keep=1)["removed"] == []  # no Redis: none

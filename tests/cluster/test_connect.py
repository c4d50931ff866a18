"""The ingest attached to a long-lived Spark Connect server writes exactly the tables in-process Spark writes.

`vidrec services up` starts the server (spark-submit of SparkConnectServer, from the settings' spark_remote);
one landed batch with dirty rows is ingested twice, each into its own lake: in the test session's local[2],
and by a child process whose settings name the server (one Spark session per process: a process that holds
a classic session cannot also attach). Every table is compared row by row.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from spark_jobs import session
from spark_jobs.ingest import batch, landing
from vidrec.ops import services
from vidrec.settings import Settings
from vidrec.sources import synthetic_events

pytestmark = [pytest.mark.cluster, pytest.mark.spark]
BATCH = "20261108T000000-connect"
TABLES = ("events", "interactions", "events_quarantine", "videos", "users", "ingest_files")
CHILD = """import json
from spark_jobs.ingest import batch
from spark_jobs.session import build_spark
from vidrec.settings import Settings
s = Settings.from_env()
out = batch.run_step(s, "all", batch_id=%r)
print(json.dumps({**out, "session": type(build_spark(s)).__module__}))
"""


def dirty(landing_dir) -> None:
    """A copy of a generated event (a duplicate), two rule breakers and an unparseable line."""
    first = pq.read_table(sorted((landing_dir / "events").glob("*.parquet"))[0]).slice(0, 1).to_pylist()[0]
    first["ts"] = first["ts"].isoformat()
    bad = {**first, "event_id": "d1", "video_id": "missing-video"}
    lines = [json.dumps(first), json.dumps(bad), json.dumps({**bad, "event_id": "d2", "event_type": "bogus"}),
             '{"event_id": "d3", "user_']
    (landing_dir / "events" / "dirty.jsonl").write_text("\n".join(lines) + "\n")


def rows(settings: Settings, name: str) -> list[str]:
    table = DeltaTable(str(settings.lake_root / name)).to_pyarrow_table()
    return sorted(json.dumps(r, default=str, sort_keys=True) for r in table.to_pylist())


def test_ingest_attached_to_spark_connect_matches_local_mode(tmp_path, spark, monkeypatch):
    landing_dir = tmp_path / "landing"
    synthetic_events.generate(landing_dir, events=5_000, seed=5, days=3, start="2026-11-01")
    dirty(landing_dir)
    local, remote = (Settings(data_dir=tmp_path / side, landing_dir=landing_dir, spark_shuffle_partitions=2,
                              spark_driver_memory="1g", spark_remote=url)
                     for side, url in (("local", ""), ("remote", f"sc://127.0.0.1:{services.free_port()}")))
    auto = local.replace(spark_remote=session.AUTO)  # the default: this server when it listens, else in-process
    monkeypatch.setattr(session, "AUTO_URL", remote.spark_remote)
    assert session.remote_for_jobs(auto) == ""
    landing.land(local, None, BATCH)
    (landing.batch_dir(remote, BATCH)).mkdir(parents=True)
    shutil.copy(landing.batch_dir(local, BATCH) / "manifest.json", landing.batch_dir(remote, BATCH) / "manifest.json")
    try:
        assert services.spark_connect_up(remote)["started"]
        assert session.remote_for_jobs(auto) == remote.spark_remote
        local_out = batch.run_step(local, "all", batch_id=BATCH)
        done = subprocess.run([sys.executable, "-c", CHILD % BATCH], env=services.child_env(remote),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-4000:]
        remote_out = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        services.down(remote)
    assert services.wait_until(lambda: session.remote_for_jobs(auto) == "", 30)
    assert remote_out.pop("session") == "pyspark.sql.connect.session"
    assert remote_out == local_out
    assert (local_out["read"], local_out["quarantined"], local_out["duplicates"]) == (5_004, 3, 1)
    for name in TABLES:
        assert rows(local, name) == rows(remote, name), name

"""The same jobs on a real Spark standalone cluster give exactly the tables local mode gives.

One master and one worker (1 core, 1 GB) run on loopback from pyspark's own launcher (conftest.py).
A seeded synthetic landing set, with a few dirty rows and one unreadable file added, is landed once;
then ingest and build_user_features (run_pipeline.py) run twice, each into its own lake: in the test
session's ``local[2]`` while the cluster starts, and in a child process on ``spark://127.0.0.1:<port>``
(one Spark session per process: only a fresh process can take the cluster's master URL). Every table
is compared row by row.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from spark_jobs.ingest import landing
from vidrec.settings import Settings
from vidrec.sources import synthetic_events as sample

pytestmark = [pytest.mark.cluster, pytest.mark.spark]

RUN_PIPELINE = Path(__file__).with_name("run_pipeline.py")
EVENTS, SEED, START, DAYS, DS = 10_000, 11, "2026-11-01", 7, "2026-11-07"
BATCH = "20261108T000000-cluster"
TABLES = ("events", "interactions", "events_quarantine", "videos", "users", "ingest_files")
# On the worker's single core: executors must fit its 1 GB, and the app takes that one core only.
EXECUTOR_DEFAULTS = "spark.executor.memory 512m\nspark.cores.max 1\n"


def dirty_lines(landing_dir: Path) -> list[str]:
    """JSON lines built from real generated events: one duplicate, four rule breakers, one unparseable."""
    first = sorted((landing_dir / "events").glob("*.parquet"))[0]
    rows = [{**r, "ts": r["ts"].isoformat()} for r in pq.read_table(first).slice(0, 5).to_pylist()]
    bad = [dict(r, event_id=f"dirty-{i}") for i, r in enumerate(rows[1:])]
    bad[0]["event_type"] = "bogus"
    bad[1]["watch_ms"] = -1
    bad[2]["video_id"] = "v-unknown"
    bad[3]["ts"] = "2099-01-01T00:00:00+00:00"
    return [json.dumps(r) for r in (rows[0], *bad)] + ['{"event_id": "dirty-cut", "user_id": "u']


def land_once(landing_dir: Path, sides: list[Settings]) -> dict:
    """Generate, dirty and land the batch for the first side; the others get the same manifest (same landed_at)."""
    sample.generate(landing_dir, events=EVENTS, seed=SEED, days=DAYS, start=START)
    (landing_dir / "events" / "dirty.jsonl").write_text("\n".join(dirty_lines(landing_dir)) + "\n")
    (landing_dir / "events" / "broken.parquet").write_bytes(b"not a parquet file")
    manifest = landing.land(sides[0], None, BATCH)
    for other in sides[1:]:
        dest = landing.batch_dir(other, BATCH)
        dest.mkdir(parents=True)
        shutil.copy(landing.batch_dir(sides[0], BATCH) / "manifest.json", dest / "manifest.json")
    return manifest


def load_runner():
    """run_pipeline.py as a module (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("cluster_run_pipeline", RUN_PIPELINE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_on_cluster(settings: Settings, master: str, tmp_path: Path, timeout_s: float = 300) -> dict:
    """run_pipeline.py in a child process, so that its Spark session is the cluster's; its JSON result."""
    conf = tmp_path / "driver-conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text(EXECUTOR_DEFAULTS)
    env = {**os.environ, "SPARK_CONF_DIR": str(conf), "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1", "GX_ANALYTICS_ENABLED": "false"}
    args = [sys.executable, str(RUN_PIPELINE), "--data-dir", str(settings.data_dir), "--landing-dir",
            str(settings.landing_dir), "--master", master, "--batch", BATCH, "--ds", DS]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def table_rows(settings: Settings, name: str, partition: str | None = None) -> list[str]:
    """Every row of a Delta table (one partition if given), as sorted canonical JSON: order-free and exact."""
    dt = DeltaTable(str(settings.lake_root / name))
    table = dt.to_pyarrow_table(partitions=[("ds", "=", partition)] if partition else None)
    return sorted(json.dumps(r, default=str, sort_keys=True) for r in table.to_pylist())


def assert_same_rows(name: str, local: list[str], cluster: list[str]) -> None:
    assert local, f"{name}: local mode wrote no rows, so the comparison would prove nothing"
    only_local, only_cluster = sorted(set(local) - set(cluster)), sorted(set(cluster) - set(local))
    assert local == cluster, (f"{name}: {len(local)} rows in local mode, {len(cluster)} on the cluster; "
                              f"only local {only_local[:3]}, only cluster {only_cluster[:3]}")


def test_ingest_and_user_features_on_a_standalone_cluster_match_local_mode(standalone, tmp_path):
    local, cluster = (Settings(data_dir=tmp_path / side, landing_dir=tmp_path / "landing",
                               spark_shuffle_partitions=2, spark_driver_memory="1g") for side in ("local", "cluster"))
    manifest = land_once(tmp_path / "landing", [local, cluster])
    assert len(manifest["rejected"]) == 1 and len(manifest["files"]) >= 4

    # Local side in this process, while the master and worker start: build_spark reuses the test session's
    # local[2] session, or creates it (the `spark` fixture reuses it later), without waiting for the cluster.
    local_out = load_runner().run_jobs(local, BATCH, DS)
    standalone.wait_alive()
    cluster_out = run_on_cluster(cluster, standalone.url, tmp_path)
    print(f"seconds: local {local_out['seconds']}, cluster {cluster_out['seconds']}")

    # The cluster run really ran on the cluster: its master, an app the master saw finish, executors on the worker.
    assert (local_out["master"], cluster_out["master"]) == ("local[2]", standalone.url)
    apps = {a["id"]: a for a in standalone.state()["completedapps"]}
    assert cluster_out["app_id"] in apps and apps[cluster_out["app_id"]]["cores"] == 1, apps
    assert list((standalone.work_dir / cluster_out["app_id"]).glob("*/stderr")), standalone.log_tails()

    counts = local_out["ingest"]
    assert counts["read"] == EVENTS + 6 == counts["accepted"] + counts["quarantined"] + counts["duplicates"]
    assert (counts["quarantined"], counts["duplicates"], counts["files_rejected"]) == (5, 1, 1), counts
    assert cluster_out["ingest"] == local_out["ingest"]
    assert cluster_out["features"] == local_out["features"] and local_out["features"]["rows"] > 100
    for name in TABLES:
        assert_same_rows(name, table_rows(local, name), table_rows(cluster, name))
    assert_same_rows("user_features", table_rows(local, "user_features", DS), table_rows(cluster, "user_features", DS))

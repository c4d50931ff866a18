"""Ingest one landed batch, then build one day of user_features, on the Spark master given.

Spark keeps one session per process (``build_spark`` uses getOrCreate, and the test session already
holds a local one), so test_cluster.py runs this file with ``sys.executable`` for the cluster side; the
local side calls ``run_jobs`` in the test process. The last line printed is JSON: the master the session
really used, its application id, the jobs' results and the seconds each took.

    python tests/cluster/run_pipeline.py --data-dir D --landing-dir L --master spark://127.0.0.1:7077 \
        --batch B --ds 2026-11-07
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def run_jobs(settings, batch_id: str, ds: str) -> dict:
    """What the DAGs run, in one process: `vidrec ingest` (all three steps) then `build_user_features --ds`."""
    from spark_jobs.features import user_features
    from spark_jobs.ingest import batch
    from spark_jobs.session import build_spark

    started = time.perf_counter()
    spark = build_spark(settings)
    out = {"master": spark.sparkContext.master, "app_id": spark.sparkContext.applicationId,
           "seconds": {"session": round(time.perf_counter() - started, 1)}}
    for name, job in (("ingest", lambda: batch.run_step(settings, "all", batch_id=batch_id)),
                      ("features", lambda: user_features.run(settings, ds))):
        started = time.perf_counter()
        out[name] = job()
        out["seconds"][name] = round(time.perf_counter() - started, 1)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--landing-dir", type=Path, required=True)
    parser.add_argument("--master", required=True)
    parser.add_argument("--batch", required=True, help="an already landed batch (its manifest is in staging)")
    parser.add_argument("--ds", required=True)
    args = parser.parse_args(argv)

    from spark_jobs.session import build_spark
    from vidrec.settings import Settings

    settings = Settings(data_dir=args.data_dir, landing_dir=args.landing_dir, spark_master=args.master,
                        spark_shuffle_partitions=2, spark_driver_memory="1g")
    out = run_jobs(settings, args.batch, args.ds)
    build_spark(settings).stop()
    print(json.dumps(out, default=str))
    return out


if __name__ == "__main__":
    main()

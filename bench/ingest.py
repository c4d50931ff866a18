"""Benchmark: ingest N synthetic events end to end and print events/s and peak memory.

    .venv/bin/python bench/ingest.py [--events 1000000] [--format parquet|jsonl] [--keep DIR]

Runs the real `vidrec ingest` command in a child process on a fresh lake in a temp folder (Spark
start-up included, as an hourly Airflow task pays it), samples the resident memory of the whole
process tree (Python driver + Spark JVM) every 0.1 s, and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from vidrec.ops import services
from vidrec.settings import Settings
from vidrec.sources import synthetic_events


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(cmd: list[str], env: dict) -> tuple[float, int, str]:
    start = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    proc, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        peak = max(peak, tree_rss(proc))
        time.sleep(0.1)
    out = child.stdout.read()
    if child.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {child.returncode}")
    return time.perf_counter() - start, peak, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    ap.add_argument("--keep", help="work in this folder and keep it (default: a temp folder, removed)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.keep or tmp)
        settings = Settings(data_dir=work / "var")
        t0 = time.perf_counter()
        summary = synthetic_events.generate(settings.landing_dir, events=a.events, seed=42, fmt=a.format)
        gen_s = time.perf_counter() - t0
        env = {**services.child_env(settings), "SPARK_LOCAL_IP": "127.0.0.1", "GX_ANALYTICS_ENABLED": "false"}
        vidrec = services.vidrec_command()
        wall, peak, out = run_measured([vidrec, "ingest"], env)
        counts = json.loads(out.strip().splitlines()[-1])
        replay_wall, _, replay_out = run_measured([vidrec, "ingest", "--force"], env)
        replay = json.loads(replay_out.strip().splitlines()[-1])
    result = {
        "events": summary["events"], "format": a.format, "cores": os.cpu_count(),
        "generate_s": round(gen_s, 2), "ingest_s": round(wall, 2), "events_per_s": round(summary["events"] / wall),
        "peak_rss_mb": round(peak / 2**20), "read": counts["read"], "accepted": counts["accepted"],
        "quarantined": counts["quarantined"], "duplicates": counts["duplicates"],
        "replay_s": round(replay_wall, 2), "replay_accepted": replay["accepted"],
        "replay_duplicates": replay["duplicates"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

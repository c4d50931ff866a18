"""Benchmark: the weekly maintenance on a lake after a day of hourly ingests.

    .venv/bin/python bench/maintenance.py LAKE_DIR [--batches 24] [--events-per-batch 5000] [--work DIR]
                                         [--out bench/results/maintenance.json]

LAKE_DIR is a data dir a `bench/pipeline.py N --keep LAKE_DIR` run left (its landing events are reused); it is copied
to --work (a temp folder by default) and never changed. On the copy, each of --batches hourly landing files (events of
the lake's landing files with new ids, timed in hour h of the day after the lake's newest day) is ingested by its
own `vidrec ingest` process, as ingest_hourly runs them. Then, side by side on the same lake: the files on disk and
in the tables' current versions, and the time to read the events table (user_id, video_id; best of 3) before, and
after `vidrec maintenance all` (VIDREC_LAKE_HISTORY_HOURS=0, so the vacuum removes what compaction replaced at
once; with the default week it does so a week later). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
VIDREC = str(Path(sys.executable).with_name("vidrec"))


def hourly_files(data_dir: Path, batches: int, per_batch: int, day: str) -> list[Path]:
    """``batches`` landing files of ``per_batch`` events each, in hours 0.. of ``day`` (written later, one by one)."""
    source = pq.read_table(sorted((data_dir / "landing" / "events").glob("*.parquet"))[0]).slice(0, batches * per_batch)
    out = []
    for h in range(batches):
        part = source.slice(h * per_batch, per_batch)
        start = dt.datetime.fromisoformat(f"{day}T{h:02d}:00:00+00:00")
        ts = pa.array([start + dt.timedelta(seconds=i * 3600 / per_batch) for i in range(len(part))],
                      pa.timestamp("us", tz="UTC"))
        part = part.set_column(part.schema.get_field_index("event_id"), "event_id",
                               pa.array([f"hourly-{h}-{i}" for i in range(len(part))]))
        part = part.set_column(part.schema.get_field_index("ts"), "ts", ts.cast(part.schema.field("ts").type))
        path = data_dir / "hourly" / f"events-{day}-{h:02d}.parquet"
        path.parent.mkdir(exist_ok=True)
        pq.write_table(part, path)
        out.append(path)
    return out


def lake_figures(data_dir: Path) -> dict:
    from deltalake import DeltaTable

    lake = data_dir / "lake"
    tables = [p for p in sorted(lake.iterdir()) if (p / "_delta_log").is_dir()]
    reads = []
    for _ in range(3):
        t0 = time.perf_counter()
        DeltaTable(str(lake / "events")).to_pyarrow_table(columns=["user_id", "video_id"])
        reads.append(time.perf_counter() - t0)
    return {"disk_files": sum(1 for t in tables for p in t.rglob("*") if p.is_file()),
            "table_files": sum(DeltaTable(str(t)).get_add_actions().num_rows for t in tables),
            "events_files": DeltaTable(str(lake / "events")).get_add_actions().num_rows,
            "bytes": sum(p.stat().st_size for t in tables for p in t.rglob("*") if p.is_file()),
            "read_events_s": round(min(reads), 3)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("lake_dir", type=Path)
    ap.add_argument("--batches", type=int, default=24)
    ap.add_argument("--events-per-batch", type=int, default=5000)
    ap.add_argument("--work", type=Path)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="vidrec-maintenance-"))
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(a.lake_dir, work, symlinks=True)
    env = {**os.environ, "VIDREC_DATA_DIR": str(work), "VIDREC_LAKE_HISTORY_HOURS": "0", "VIDREC_SPARK_REMOTE": ""}
    from deltalake import DeltaTable

    newest = max(p["ds"] for p in DeltaTable(str(work / "lake" / "events")).partitions())
    from vidrec import dates

    day = dates.shift_ds(newest, 1)
    ingest_s = []
    for path in hourly_files(work, a.batches, a.events_per_batch, day):
        t0 = time.perf_counter()
        done = subprocess.run([VIDREC, "ingest", "--path", str(path)], env=env, capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-3000:], file=sys.stderr)
            return done.returncode
        ingest_s.append(round(time.perf_counter() - t0, 1))
    before = lake_figures(work)
    t0 = time.perf_counter()
    done = subprocess.run([VIDREC, "maintenance", "all"], env=env, capture_output=True, text=True)
    seconds = round(time.perf_counter() - t0, 1)
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
        return done.returncode
    after = lake_figures(work)
    result = {"lake": str(a.lake_dir), "batches": a.batches, "events_per_batch": a.events_per_batch,
              "ingest_s": ingest_s, "before": before, "after": after, "maintenance_s": seconds,
              "read_ratio": round(before["read_events_s"] / max(after["read_events_s"], 1e-9), 2),
              "maintenance": json.loads(done.stdout.strip().splitlines()[-1])}
    if a.out:
        a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

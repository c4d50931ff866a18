"""`make demo`: generate the default data, ingest it through Airflow, show what landed where."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from vidrec.settings import Settings

CATALOG = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "kuairand-catalog"


def _say(msg: str) -> None:
    print(f"\n== {msg}", flush=True)


def run(settings: Settings, events: int = 200_000) -> int:
    from vidrec import airflow_env, sample

    events_dir = Path(settings.landing_dir) / "events"
    if events_dir.exists() and any(events_dir.iterdir()):
        _say(f"landing folder already has data: {settings.landing_dir} (delete {settings.data_dir} to start over)")
    else:
        _say(f"generating {events:,} synthetic events (seed {settings.seed}) into {settings.landing_dir}")
        catalog = CATALOG if (CATALOG / "video_features_basic_pure.csv").exists() else None
        summary = sample.generate(settings.landing_dir, events=events, seed=settings.seed, catalog_path=catalog)
        print(f"   {summary['videos']:,} videos, {summary['users']:,} users, {summary['events']:,} events in "
              f"{len(summary['files'])} files" + (f" (catalog statistics from {catalog})" if catalog else ""))

        _write_bad_producer_files(Path(settings.landing_dir) / "events")
        print("   plus events/demo-bad-producer.jsonl (6 bad rows, 1 repeated event) and events/demo-garbage.jsonl "
              "(not JSON): to show quarantine and rejected files")

    logical = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    log_file = Path(settings.airflow_home) / "demo-ingest_hourly.log"
    _say(f"running the Airflow DAG ingest_hourly: airflow dags test ingest_hourly {logical.isoformat()}")
    print(f"   (Airflow's output: {log_file})", flush=True)
    started = time.monotonic()
    code = airflow_env.test_dag(settings, "ingest_hourly", logical.isoformat(), log_file=log_file)
    _print_task_results(log_file)
    if code:
        print(f"vidrec demo: the DAG run failed (exit {code}); see {log_file}")
        return code
    batch = logical.strftime("%Y%m%dT%H%M%S")
    result = Path(settings.staging_dir) / "batches" / batch / "committed.json"
    counts = json.loads(result.read_text()) if result.exists() else {}
    _say(f"ingest_hourly finished in {time.monotonic() - started:.0f} s; batch {batch}:")
    print("   " + json.dumps({k: counts.get(k) for k in ("read", "accepted", "quarantined", "duplicates")}))
    if counts.get("reasons"):
        print("   quarantined by rule: " + json.dumps(counts["reasons"]))
    print(f"   files: {counts.get('files', 0)} ingested, {counts.get('files_rejected', 0)} malformed "
          f"(moved to {settings.landing_dir}/events/_rejected/ with a .error.txt)")
    return _show_lake(settings)


def _write_bad_producer_files(events_dir: Path) -> None:
    """What a buggy producer sends: each row breaks one rule (see README), plus one file that is not JSON."""
    good = {"user_id": "u1", "video_id": "v1", "event_type": "watch", "watch_ms": 1000, "ts": "2026-11-01T08:00:00Z",
            "session_id": "demo", "device": "web", "region": "us", "surface": "home"}
    rows = [{**good, "event_id": "bad-1", "event_type": "purchase"},
            {**good, "event_id": "bad-2", "video_id": "v-nope"},
            {**good, "event_id": "bad-3", "watch_ms": -20}, {**good, "event_id": "bad-4", "ts": "1970-01-01T00:00:00Z"},
            {**good, "event_id": "bad-5", "user_id": None}, {**good, "event_id": "ok-1"}, {**good, "event_id": "ok-1"}]
    lines = [json.dumps(r) for r in rows] + ['{"event_id": "bad-6", "user_id": "u1", "watch_ms": "a lot"}']
    (events_dir / "demo-bad-producer.jsonl").write_text("\n".join(lines) + "\n")
    (events_dir / "demo-garbage.jsonl").write_text("<html>502 Bad Gateway</html>\n")


def _print_task_results(log_file: Path) -> None:
    """One line per task from Airflow's log: its state."""
    import re

    text = log_file.read_text(errors="replace") if log_file.exists() else ""
    for task in re.findall(r"\[DAG TEST\] end task task_id=(\w+)", text):
        print(f"   task {task:<9} done")
    for task in re.findall(r"Task failed[^\n]*task_id=(\w+)", text):
        print(f"   task {task:<9} FAILED")


def _show_lake(settings: Settings) -> int:
    from spark_jobs.lake import stats

    s = stats(settings)
    _say(f"lake tables (Delta Lake) under {s['lake_root']}")
    print(f"   {'table':<20} {'rows':>12} {'version':>8}")
    for name, t in s["tables"].items():
        print(f"   {name:<20} {t['rows']:>12,} {t['version'] if t['version'] is not None else '-':>8}")
    _say("where to look")
    print(f"   tables:      {settings.lake_root}/<table>  (read with deltalake.DeltaTable or `vidrec lake stats`)")
    print(f"   quarantine:  {settings.lake_root}/events_quarantine  (each rejected row with its rule)")
    print(f"   batches:     {settings.staging_dir}/batches/<batch>/  (manifest, validation report, counts)")
    print(f"   Airflow:     {settings.airflow_home}  (`vidrec airflow dags list`; task logs in logs/)")
    print("   more data:   vidrec generate --events 1000000 && vidrec ingest   |   "
          "vidrec import movielens ../shared/datasets/ml-100k && vidrec ingest")
    return 0

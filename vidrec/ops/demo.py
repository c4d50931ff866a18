"""`make demo`: the whole product on the default data, through real Airflow, Spark, Delta, Feast and Redis.

generate data -> ingest_hourly -> features (a few days of backfill, then features_hourly) -> train_nightly ->
the API in the background -> real responses, including the effect of a not_interested event -> a simulated A/B
test of popularity against the model, with its report.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

from vidrec.ops import airflow_env
from vidrec.ops import demo_api
from vidrec.ops import services
from vidrec.settings import Settings
from vidrec.sources import synthetic_events

CATALOG = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "kuairand-catalog"
DAYS, START = 7, "2026-11-01"  # the generated activity window
BACKFILL_DAYS = 3  # feature partitions before the last day, for the ranker's point-in-time training set


def _say(msg: str) -> None:
    print(f"\n== {msg}", flush=True)


def run(settings: Settings, events: int = 200_000) -> int:
    _say(f"redis-server: {json.dumps(services.redis_up(settings))}")
    _generate(settings, events)
    last_day = (dt.date.fromisoformat(START) + dt.timedelta(days=DAYS - 1)).isoformat()
    steps = [lambda: _ingest(settings), lambda: _features(settings, last_day), lambda: _train(settings, last_day)]
    for step in steps:
        code = step()
        if code:
            return code
    _show_lake(settings)
    code = demo_api.show(settings, last_day)
    return code or _simulated_ab_test(settings)


def _simulated_ab_test(settings: Settings) -> int:
    """A short A/B test, popularity against the model, with simulated users (``vidrec.ops.simulate``)."""
    from vidrec.ops import simulate

    _say("a simulated A/B test: the home feed of 600 users, half served popularity (trending), half the model")
    done = simulate.run(settings)
    for metric in ("ctr", "watch_ms_per_impression"):
        cells = {arm: row["metrics"][metric] for arm, row in done["figures"]["arms"].items()}
        model = cells["two_stage"]
        verdict = "significant" if model["significant"] else "not significant"
        print(f"   {metric}: popularity {cells['control']['value']:.4g}, model {model['value']:.4g} "
              f"({model['lift']:+.1%}, p={model['p']:.2g}, {verdict})")
    print(f"   report with plots: {done['report']}  (`vidrec experiments report {simulate.SIMULATED}` prints it)")
    return 0


def _generate(settings: Settings, events: int) -> None:
    events_dir = Path(settings.landing_dir) / "events"
    if events_dir.exists() and any(events_dir.iterdir()):
        _say(f"landing folder already has data: {settings.landing_dir} (`make clean` to start over)")
        return
    _say(f"generating {events:,} synthetic events (seed {settings.seed}) into {settings.landing_dir}")
    catalog = CATALOG if (CATALOG / "video_features_basic_pure.csv").exists() else None
    summary = synthetic_events.generate(settings.landing_dir, events=events, seed=settings.seed, catalog_path=catalog,
                              start=START, days=DAYS)
    print(f"   {summary['videos']:,} videos, {summary['users']:,} users, {summary['events']:,} events from {START} "
          f"over {DAYS} days" + (f" (catalog statistics from {catalog})" if catalog else ""))
    _write_bad_producer_files(events_dir)
    print("   plus events/demo-bad-producer.jsonl (6 bad rows, 1 repeated event) and events/demo-garbage.jsonl "
          "(not JSON): to show quarantine and rejected files")


def _run_dag(settings: Settings, dag_id: str, logical: str) -> int:
    log_file = Path(settings.airflow_home) / f"demo-{dag_id}.log"
    _say(f"Airflow: airflow dags test {dag_id} {logical}   (output: {log_file})")
    started = time.monotonic()
    code = airflow_env.test_dag(settings, dag_id, logical, log_file=log_file)
    _print_task_results(log_file)
    print(f"   {dag_id}: {'succeeded' if code == 0 else f'FAILED (exit {code}), see the log'} "
          f"in {time.monotonic() - started:.0f} s", flush=True)
    return code


def _ingest(settings: Settings) -> int:
    logical = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    code = _run_dag(settings, "ingest_hourly", logical.isoformat())
    result = Path(settings.staging_dir) / "batches" / logical.strftime("%Y%m%dT%H%M%S") / "committed.json"
    counts = json.loads(result.read_text()) if result.exists() else {}
    print("   " + json.dumps({k: counts.get(k) for k in ("read", "accepted", "quarantined", "duplicates")}))
    if counts.get("reasons"):
        print("   quarantined by rule: " + json.dumps(counts["reasons"]))
    print(f"   files: {counts.get('files', 0)} ingested, {counts.get('files_rejected', 0)} malformed "
          f"(moved to {settings.landing_dir}/events/_rejected/ with a .error.txt)")
    return code


def _features(settings: Settings, last_day: str) -> int:
    """Backfill a few days of feature partitions in one process, then the last day through Airflow."""
    _say(f"backfilling feature partitions for the {BACKFILL_DAYS} days before {last_day} "
         "(vidrec run build_*_features --ds ..., one Spark session)")
    from spark_jobs.features import context
    from spark_jobs.features import trending
    from spark_jobs.features import user_features
    from spark_jobs.features import video_features
    started = time.monotonic()
    day = dt.date.fromisoformat(last_day)
    for back in range(BACKFILL_DAYS, 0, -1):
        ds = (day - dt.timedelta(days=back)).isoformat()
        rows = [job.run(settings, ds)["rows"] for job in (user_features, video_features, trending, context)]
        print(f"   {ds}: user_features {rows[0]:,}, video_features {rows[1]:,}, trending {rows[2]:,}, "
              f"context_lifts {rows[3]:,} rows")
    print(f"   backfill took {time.monotonic() - started:.0f} s")
    return _run_dag(settings, "features_hourly", f"{(day + dt.timedelta(days=1)).isoformat()}T00:15:00+00:00")


def _train(settings: Settings, last_day: str) -> int:
    next_day = (dt.date.fromisoformat(last_day) + dt.timedelta(days=1)).isoformat()
    code = _run_dag(settings, "train_nightly", f"{next_day}T03:00:00+00:00")
    manifest = Path(settings.artifact_root) / "runs" / last_day / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        print("   metrics: " + json.dumps(m.get("metrics", {}), default=str)[:600])
    return code


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
    """One line per finished task, from Airflow's log."""
    text = log_file.read_text(errors="replace") if log_file.exists() else ""
    done = re.findall(r"\[DAG TEST\] end task task_id=(\w+)", text)
    failed = re.findall(r"Task failed[^\n]*task_id=(\w+)", text)
    print("   tasks: " + " -> ".join(done) + (f"   FAILED: {', '.join(failed)}" if failed else ""))


def _show_lake(settings: Settings) -> None:
    from spark_jobs.lake import stats

    s = stats(settings)
    _say(f"lake tables (Delta Lake) under {s['lake_root']}")
    for name, t in s["tables"].items():
        print(f"   {name:<20} {t['rows']:>12,} rows   version {t['version'] if t['version'] is not None else '-'}")

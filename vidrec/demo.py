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

    logical = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    _say(f"running the Airflow DAG ingest_hourly (airflow dags test, logical date {logical.isoformat()})")
    started = time.monotonic()
    code = airflow_env.test_dag(settings, "ingest_hourly", logical.isoformat())
    if code:
        print(f"vidrec demo: the DAG run failed (exit {code}); task logs are under {settings.airflow_home}/logs")
        return code
    batch = logical.strftime("%Y%m%dT%H%M%S")
    result = Path(settings.staging_dir) / "batches" / batch / "committed.json"
    counts = json.loads(result.read_text()) if result.exists() else {}
    _say(f"ingest_hourly finished in {time.monotonic() - started:.0f} s; batch {batch}:")
    print("   " + json.dumps({k: counts.get(k) for k in ("read", "accepted", "quarantined", "duplicates")}))
    if counts.get("reasons"):
        print("   quarantined by rule: " + json.dumps(counts["reasons"]))
    return _show_lake(settings)


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

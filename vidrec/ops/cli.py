"""The `vidrec` command. Every subcommand imports its implementation lazily, so `vidrec --help` is instant."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from vidrec.ops import eval_cli, job_metrics, lifecycle_cli
from vidrec.settings import Settings, describe


# Batch jobs: `vidrec run <job> --ds YYYY-MM-DD`. Each target is ``run(settings, ds) -> dict`` and is imported
# only when its job runs. DAG task ids equal these names.
JOBS = {
    "build_user_features": "spark_jobs.features.user_features:run",
    "build_video_features": "spark_jobs.features.video_features:run",
    "build_trending": "spark_jobs.features.trending:run",
    "build_context": "spark_jobs.features.context:run",
    "validate_features": "spark_jobs.features.gate:run",
    "feast_apply": "spark_jobs.features.feast_jobs:apply_run",
    "materialize": "spark_jobs.features.feast_jobs:materialize_run",
    "build_training_set": "models.ranking.training_set:run",
    "train_als": "models.retrieval.als:run",
    "build_index": "models.retrieval.ann_index:run",
    "build_candidates": "models.retrieval.candidates:run",
    "train_ranker": "models.ranking.objectives:run",
    "rank": "models.ranking.rank:run",
    "evaluate": "models.evaluation.gate:run",
    "publish": "models.publish:run",
    "publish_hourly": "models.hourly:run",
    "tune_params": "models.evaluation.lake_tuning:run",
    "experiments_report": "spark_jobs.experiments.report:run",
}


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=None, sort_keys=False, default=str))


def cmd_ingest(s: Settings, a) -> int:
    from spark_jobs.ingest import batch
    with job_metrics.recorded(s, "ingest" if a.step == "all" else f"ingest_{a.step}") as run:
        run["result"] = batch.run_step(s, a.step, paths=[Path(p) for p in a.path or []], batch_id=a.batch,
                                       force=a.force)
    _print_json(run["result"])
    return 0


def cmd_run(s: Settings, a) -> int:
    import datetime as dt
    import importlib

    try:
        dt.date.fromisoformat(a.ds)
    except ValueError:
        print(f"vidrec run: --ds must be a date like 2026-11-01, not {a.ds!r}", file=sys.stderr)
        return 2
    module, func = JOBS[a.job].split(":")
    with job_metrics.recorded(s, a.job, a.ds) as run:
        run["result"] = getattr(importlib.import_module(module), func)(s, a.ds)
    _print_json(run["result"])
    return 0


def cmd_publish(s: Settings, a) -> int:
    from models.publish import PublishRefused
    from vidrec.ops import versions
    from vidrec.recstore.keys import StoreError
    if (a.action is None) == (a.canary is None):
        print("vidrec publish: give an action (status, rollback, restore, promote) or --canary PCT", file=sys.stderr)
        return 2
    what = a.action or f"--canary {a.canary:g}"
    try:
        _print_json(versions.canary(s, a.canary, a.ds) if a.canary is not None else versions.action(s, a.action))
    except (StoreError, PublishRefused, ValueError) as exc:
        print(f"vidrec publish {what}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # redis-py's connection errors: say where we looked, no traceback
        if type(exc).__module__.startswith("redis"):
            print(f"vidrec publish {what}: cannot reach Redis at {s.redis_url}: {exc}", file=sys.stderr)
            return 1
        raise
    return 0


def cmd_experiments(s: Settings, a) -> int:
    import datetime as dt

    from spark_jobs.experiments import report

    if a.action == "simulate":
        from vidrec.ops import simulate

        done = simulate.run(s, users=a.users)
        print(Path(done["report"]).read_text(), end="")
        return 0
    if a.name is None:
        print("vidrec experiments report: name the experiment", file=sys.stderr)
        return 2
    ds = a.ds or dt.datetime.now(dt.timezone.utc).date().isoformat()
    done = report.run(s, ds, a.name)
    if a.name not in done["reports"]:
        print(f"vidrec experiments report: nothing served in {a.name!r} in the {report.REPORT_DAYS} days ending "
              f"{ds}", file=sys.stderr)
        return 1
    print(Path(done["reports"][a.name]).read_text(), end="")
    return 0


def cmd_serve(s: Settings, a) -> int:
    import uvicorn

    from serving.metrics import shared_by_workers

    with shared_by_workers(a.workers, s.api_metrics_dir):
        uvicorn.run("serving.app:create_app_from_env", factory=True, host=s.api_host, port=s.api_port,
                    log_level="warning", access_log=False, workers=a.workers)
    return 0


def cmd_lake(s: Settings, a) -> int:
    from spark_jobs import lake
    stats = lake.stats(s)
    if a.json:
        _print_json(stats)
    else:
        print(f"lake: {s.lake_root}")
        print(f"{'table':<20} {'rows':>12} {'version':>8}")
        for name, t in stats["tables"].items():
            print(f"{name:<20} {t['rows']:>12,} {t['version'] if t['version'] is not None else '-':>8}")
    return 0


def cmd_services(s: Settings, a) -> int:
    from vidrec.ops import airflow_env
    from vidrec.ops import services
    if a.action == "airflow":
        result = airflow_env.start_ui(s)
    else:
        result = getattr(services, a.action.replace("-", "_"))(s)
    _print_json(result)
    return 0 if a.action != "status" or result.get("redis") == "running" else 1


def cmd_keys(s: Settings, a) -> int:
    from vidrec import api_keys
    try:
        if a.action == "add":
            print(api_keys.add(s.api_keys_file, a.name or "", a.role))  # alone on standard output, shown once
        else:
            _print_json(api_keys.revoke(s.api_keys_file, a.name or "") if a.action == "revoke"
                        else api_keys.listing(s.api_keys_file))
    except api_keys.KeyProblem as exc:
        print(f"vidrec keys {a.action}: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_generate(s: Settings, a) -> int:
    from vidrec.sources import synthetic_events
    out = Path(a.out) if a.out else s.landing_dir
    summary = synthetic_events.generate(
        out, events=a.events, seed=a.seed if a.seed is not None else s.seed, days=a.days, start=a.start,
        fmt=a.format, catalog_path=Path(a.catalog) if a.catalog else None,
    )
    _print_json(summary)
    return 0


def cmd_import(s: Settings, a) -> int:
    from vidrec.sources import movielens
    out = Path(a.out) if a.out else s.landing_dir
    _print_json(movielens.import_movielens(Path(a.path), out, seed=s.seed))
    return 0


def cmd_airflow(s: Settings, a) -> int:
    from vidrec.ops import airflow_env
    return airflow_env.run_airflow(s, a.args)


def cmd_demo(s: Settings, a) -> int:
    from vidrec.ops import demo
    return demo.run(s, events=a.events)


def cmd_settings(s: Settings, a) -> int:
    current = s.as_env()
    for var, default, help_ in describe():
        print(f"{var:<34} {current[var]:<40} {help_}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidrec", description="vidrec: batch-first video recommendations")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_batch_commands, eval_cli.add_command, _add_data_commands, lifecycle_cli.add_commands,
                _add_ops_commands):
        add(sub)  # in this order: `vidrec --help` lists the subcommands as they are added
    return p


def _add_batch_commands(sub) -> None:
    """ingest, run, publish, serve, keys: the pipeline and the API."""
    q = sub.add_parser("ingest", help="validate landing files and append them to the lake; prints counts as JSON")
    q.add_argument("--path", action="append", help="file or folder to ingest (default: the landing folder)")
    q.add_argument("--step", choices=["all", "land", "validate", "commit"], default="all",
                   help="run one step of the batch (Airflow runs them as separate tasks)")
    q.add_argument("--batch", help="batch id (Airflow passes the run's timestamp); default: a new id")
    q.add_argument("--force", action="store_true", help="re-read files that were already ingested")
    q.set_defaults(func=cmd_ingest)
    q = sub.add_parser("run", help="run one batch job for a partition date (what the DAG tasks run)")
    q.add_argument("job", choices=sorted(JOBS))
    q.add_argument("--ds", required=True, help="partition date, YYYY-MM-DD")
    q.set_defaults(func=cmd_run)
    q = sub.add_parser("publish", help="published recommendation versions in Redis")
    q.add_argument("action", nargs="?", choices=["status", "rollback", "restore", "promote"],
                   help="restore: publish the newest gated run again when Redis serves none (after data loss); "
                        "rollback: withdraw the canary, if one is on, else serve the previous version; promote: "
                        "make the canary the served version")
    q.add_argument("--canary", type=float, metavar="PCT",
                   help="publish the newest gated run (or --ds) to PCT percent of users, beside the served version")
    q.add_argument("--ds", help="with --canary: the nightly run to publish (default: the newest that passed its gate)")
    q.set_defaults(func=cmd_publish)
    q = sub.add_parser("experiments", help="A/B experiments: report NAME prints its per-arm report (and writes it); "
                                           "simulate runs a short A/B test with simulated users and prints its report")
    q.add_argument("action", choices=["report", "simulate"])
    q.add_argument("name", nargs="?", help="report: the experiment (canary-<version> for a canary)")
    q.add_argument("--users", type=int, default=600, help="simulate: how many simulated users")
    q.add_argument("--ds", help="the last day the report covers (default: today, UTC)")
    q.set_defaults(func=cmd_experiments)
    q = sub.add_parser("serve", help="run the API in the foreground (VIDREC_API_HOST:VIDREC_API_PORT)")
    q.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (one event loop each)")
    q.set_defaults(func=cmd_serve)
    q = sub.add_parser("keys", help="the API's keys: add NAME --role R prints a new key once; list; revoke NAME")
    q.add_argument("action", choices=["add", "list", "revoke"])
    q.add_argument("name", nargs="?", help="the key's name (add, revoke)")
    q.add_argument("--role", choices=["reader", "writer", "admin"], default="reader",
                   help="reader: recommendations; writer: events; admin: everything")
    q.set_defaults(func=cmd_keys)


def _add_data_commands(sub) -> None:
    """lake, services, generate, import: the lake, the local services and the landing data."""
    q = sub.add_parser("lake", help="lake tables")
    q.add_argument("action", choices=["stats"])
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=cmd_lake)
    q = sub.add_parser("services", help="the local services: redis-server, Spark Connect, the GX server")
    q.add_argument("action", choices=["up", "down", "status", "airflow", "connect-server"],
                   help="up: redis-server, Spark Connect (a loopback or auto VIDREC_SPARK_REMOTE), the GX server; "
                        "airflow: those, then the Airflow UI and scheduler; down: stop all of them; connect-server: "
                        "the Spark Connect server of VIDREC_SPARK_REMOTE in the foreground on all interfaces")
    q.set_defaults(func=cmd_services)
    q = sub.add_parser("generate", help="write a seeded synthetic catalog and event stream as landing files")
    q.add_argument("--events", type=int, default=100_000, help="number of events (10k to 50M)")
    q.add_argument("--out", help="output folder (default: the landing folder)")
    q.add_argument("--seed", type=int, help="random seed (default: VIDREC_SEED)")
    q.add_argument("--days", type=int, default=7, help="days of activity")
    q.add_argument("--start", default="2026-11-01", help="first day of activity (UTC)")
    q.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    q.add_argument("--catalog", help="kuairand-catalog folder to take real catalog statistics from")
    q.set_defaults(func=cmd_generate)
    q = sub.add_parser("import", help="turn a public dataset into catalog and event landing files")
    q.add_argument("dataset", choices=["movielens"])
    q.add_argument("path", help="folder of MovieLens 100K (u.data...) or latest-small (ratings.csv...)")
    q.add_argument("--out", help="output folder (default: the landing folder)")
    q.set_defaults(func=cmd_import)


def _add_ops_commands(sub) -> None:
    """airflow, demo, settings: running the project."""
    q = sub.add_parser("airflow", help="run the airflow CLI with this project's AIRFLOW_HOME and DAGs")
    q.add_argument("args", nargs=argparse.REMAINDER)
    q.set_defaults(func=cmd_airflow)
    q = sub.add_parser("demo", help="generate data, ingest it through Airflow, print the lake")
    q.add_argument("--events", type=int, default=200_000)
    q.set_defaults(func=cmd_demo)
    q = sub.add_parser("settings", help="print every VIDREC_* setting and its current value")
    q.set_defaults(func=cmd_settings)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("py4j", "great_expectations", "airflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"vidrec: {exc}", file=sys.stderr)
        return 2
    return args.func(settings, args)


if __name__ == "__main__":
    sys.exit(main())

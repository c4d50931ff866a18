"""Benchmark: N events through ingest, the feature days, features_hourly and train_nightly, as the DAGs run them.

    .venv/bin/python bench/pipeline.py N [--days 14] [--keep DIR] [--out bench/results/pipeline-N.json]
                                         [--max-rss-gb 18] [--code HEAD|<commit>|tree] [--skip-generate-ingest DIR]
                                         [--parallelism P] [--connect]

In a fresh data dir (a temp folder, or --keep DIR) with a private redis-server on a free port:
`vidrec generate --events N --days D --catalog ../shared/datasets/kuairand-catalog`, `vidrec ingest`, a backfill
of the feature days the training set reads (the label_days days before the last day, in one process and one
Spark session, as `make demo` does), then the tasks of features_hourly, then those of train_nightly, for the
last day, each as its own `vidrec run <task> --ds <last day>` process with the environment an Airflow task gets
(vidrec.ops.airflow_env). Within a DAG the tasks follow its graph (the JOBS dict of dags/<name>.py: task ->
the tasks it waits for): a task starts as soon as those succeeded, next to any other ready task, as Airflow's
scheduler runs them (--parallelism P caps the tasks running at once; 1 runs them one after another).
The stages run one commit exported with `git archive` (--code, default HEAD; on PYTHONPATH), so edits landing
in the working tree during a run never mix code versions.
Per stage: start (seconds since the run began), wall seconds, peak RSS of its process tree (vidrec + its
Spark JVM, summed, sampled every 0.2 s), the JVM's share, CPU seconds of the tree, exit code, and the
machine's mean 1-minute load average during the stage (other work on the machine, or stages running side by
side, show there). After a failing stage no new one starts. With --max-rss-gb the running stages are killed
(exit -9, "killed": "rss") when their trees together pass that RSS, before the kernel's OOM killer has to
act. Stage output goes to <data dir>/bench-logs/.
With --connect the Spark stages attach to one Spark Connect server started before them (VIDREC_SPARK_REMOTE,
what `vidrec services up` runs for the DAGs): its start is not timed, and its CPU seconds and RSS over the DAGs
are reported apart (``connect_server``), as the tasks' trees do not hold it.
The last line is one JSON object: events, stages (seconds), stage_start_s, stage_rss_mb, total_s (wall
seconds from the first task of the last day's features to the end of train_nightly), stages_sum_s (the same
stages' seconds added up), peak_rss_mb (the most the stages running at one time held together), failed
(null or the first failed task).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import psutil
from stages import Run  # bench/stages.py: the stages' processes, measured
from vidrec.ops import airflow_env, services
from vidrec.settings import Settings

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO.parent / "shared" / "datasets" / "kuairand-catalog"
START = "2026-11-01"
DAGS = ("features_hourly", "train_nightly")  # timed: total_s spans their tasks
BACKFILL = """import json, sys
from models.ranking.training_set import TrainingSetParams
from spark_jobs.features import trending, user_features, video_features
from vidrec import dates
from vidrec.settings import Settings
try:
    from spark_jobs.features import context  # commits before the request context model have no such job
    extra = (context,)
except ImportError:
    extra = ()
s = Settings.from_env()
for ds in dates.days_ending(dates.shift_ds(sys.argv[1], -1), TrainingSetParams().label_days)[::-1]:
    jobs = (user_features, video_features, trending, *extra)
    rows = {job.__name__.rsplit('.', 1)[-1]: job.run(s, ds)['rows'] for job in jobs}
    print(json.dumps({'ds': ds, 'rows': rows}), flush=True)
"""


def dag_graph(code: Path, name: str) -> dict[str, list[str]]:
    """The tasks of dags/<name>.py and the tasks each waits for (its module-level JOBS: a dict task ->
    upstream tasks, or in older commits a list run as a chain), read without importing Airflow."""
    tree = ast.parse((code / "dags" / f"{name}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "JOBS" for t in node.targets):
            jobs = ast.literal_eval(node.value)
            if isinstance(jobs, dict):
                return {task: list(upstream) for task, upstream in jobs.items()}
            return {task: jobs[i - 1:i] for i, task in enumerate(jobs)}
    raise RuntimeError(f"dags/{name}.py has no JOBS")


def checkout(rev: str, into: Path) -> tuple[Path, str]:
    """The code the stages run: ``tree`` = this working tree as it is at each stage's start (others' edits
    included); otherwise a commit exported with `git archive` into ``into``, frozen for the whole run."""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    if rev == "tree":
        dirty = subprocess.run([*git, "status", "--porcelain", "-uno"], capture_output=True, text=True).stdout
        return REPO, head + ("+uncommitted" if dirty.strip() else "")
    sha = subprocess.run([*git, "rev-parse", f"{rev}^{{commit}}"], capture_output=True, text=True,
                         check=True).stdout.strip()
    into.mkdir(parents=True)
    archive = subprocess.Popen([*git, "archive", "--format=tar", sha], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
        tar.extractall(into, filter="data")
    if archive.wait():
        raise RuntimeError(f"git archive {sha} failed")
    return into, sha


def settings_for(data_dir: Path, port: int, spark_remote: str = "") -> Settings:
    """This environment's VIDREC_* settings, with every path under ``data_dir`` and the private Redis (and
    ``spark_remote``: the Spark Connect server the stages attach to, or none)."""
    paths = {name: Path("") for name in ("lake_root", "landing_dir", "staging_dir", "artifact_root", "redis_dir",
                                         "airflow_home", "feast_dir")}
    return Settings.from_env(data_dir=data_dir, redis_url=f"redis://127.0.0.1:{port}/0", spark_remote=spark_remote,
                             **paths)


class ConnectServer:
    """The Spark Connect server of ``settings.spark_remote`` (``services.spark_connect_up``), measured: its CPU
    seconds and RSS (process tree) since ``mark``."""

    def __init__(self, settings: Settings):
        started = time.perf_counter()
        self.pid = services.spark_connect_up(settings)["pid"]
        self.start_s, self.cpu_at = round(time.perf_counter() - started, 1), 0.0

    def _tree(self):
        root = psutil.Process(self.pid)
        return [root, *root.children(recursive=True)]

    def mark(self) -> None:
        self.cpu_at = sum(sum(p.cpu_times()[:2]) for p in self._tree())

    def report(self) -> dict:
        tree = self._tree()
        return {"start_s": self.start_s, "cpu_s": round(sum(sum(p.cpu_times()[:2]) for p in tree) - self.cpu_at, 1),
                "rss_mb": round(sum(p.memory_info().rss for p in tree) / 2**20)}

    def stop(self) -> None:
        os.killpg(self.pid, signal.SIGTERM)


def pipeline(run: Run, a, settings: Settings, ds: str, server: ConnectServer | None = None) -> None:
    """generate, ingest, backfill, then the DAG tasks for ``ds`` (``server``: marked as they start); stops at the
    first failure."""
    vidrec, python = services.vidrec_command(), sys.executable
    if not a.skip_generate_ingest:
        gen = [vidrec, "generate", "--events", str(a.events), "--days", str(a.days), "--start", START,
               "--out", str(settings.landing_dir)] + (["--catalog", str(CATALOG)] if CATALOG.exists() else [])
        run.stage("generate", gen) and run.stage("ingest", [vidrec, "ingest"])
    if not a.skip_backfill:
        run.stage("backfill", [python, "-c", BACKFILL, ds])
    server and server.mark()
    for dag in DAGS:  # the nightly starts when the day's features are done
        graph = dag_graph(run.code, dag)
        run.graph(graph, {task: [vidrec, "run", task, "--ds", ds] for task in graph})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("events", type=int, help="events to generate (e.g. 200000, 1000000)")
    ap.add_argument("--days", type=int, default=14, help="days of activity (the last one is the DAGs' ds)")
    ap.add_argument("--keep", help="use this folder as the data dir and keep it (default: a temp folder, removed)")
    ap.add_argument("--out", help="also write the JSON (plus each stage's printed summary) to this file")
    ap.add_argument("--max-rss-gb", type=float, help="kill a stage whose process tree passes this RSS")
    ap.add_argument("--code", default="HEAD", help="commit to run, exported with git archive (default HEAD), "
                    "or `tree`: the working tree as it is (its uncommitted edits included)")
    ap.add_argument("--skip-generate-ingest", metavar="DATA_DIR",
                    help="a data dir (from --keep) that already holds the generated and ingested lake")
    ap.add_argument("--parallelism", type=int, help="tasks running at once (default: every ready task, as "
                    "Airflow's LocalExecutor; 1 runs them one after another)")
    ap.add_argument("--connect", action="store_true",
                    help="attach the Spark stages to one Spark Connect server started before them")
    ap.add_argument("--skip-backfill", action="store_true",
                    help="with --skip-generate-ingest: the data dir also holds the feature days before ds")
    return ap.parse_args(argv)


def _raise_interrupt(*_):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill <pid>` cleans up like Ctrl-C
    from vidrec import dates

    ds = dates.shift_ds(START, a.days - 1)
    with tempfile.TemporaryDirectory(prefix="vidrec-bench-") as tmp:
        data_dir = Path(a.skip_generate_ingest or a.keep or tmp).resolve()
        port = services.free_port()
        settings = settings_for(data_dir, port, f"sc://127.0.0.1:{services.free_port()}" if a.connect else "")
        code, version = checkout(a.code, Path(tmp) / "code")
        env = airflow_env.airflow_env(settings)
        env = {k: v for k, v in env.items() if v or not k.startswith("VIDREC_")}  # empty = default, in any version
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
        tasks = [task for dag in DAGS for task in dag_graph(code, dag)]
        redis = services.start_redis(port, Path(tmp) / "redis")
        print(f"data dir {data_dir}, code {version} ({code}), redis on port {port}, ds {ds}, "
              f"{os.cpu_count()} cores", flush=True)
        run = Run(env, data_dir / "bench-logs", a.max_rss_gb, tasks, code, a.parallelism)  # cwd: `python -c` puts it first
        server, served = None, {}
        try:
            server = ConnectServer(settings) if a.connect else None
            pipeline(run, a, settings, ds, server)
        except KeyboardInterrupt:
            run.failed = run.failed or f"interrupted in {run.current}"
            print("interrupted: stopping", file=sys.stderr)
        finally:
            served = server.report() if server else {}
            server and server.stop()
            redis.terminate()
            redis.wait(timeout=10)
    result = {**run.summary(a.events, ds, version), **({"connect_server": served} if served else {})}
    if a.out:
        outputs = {k: r["last"] for k, r in run.results.items()}
        Path(a.out).write_text(json.dumps({**result, "outputs": outputs}, indent=1, default=str) + "\n")
    print(json.dumps(result))
    return 0 if run.failed is None else 1


if __name__ == "__main__":
    sys.exit(main())

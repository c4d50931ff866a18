"""Benchmark: N events through ingest, the feature days, features_hourly and train_nightly, as the DAGs run them.

    .venv/bin/python bench/pipeline.py N [--days 14] [--keep DIR] [--out bench/results/pipeline-N.json]
                                         [--max-rss-gb 18] [--code HEAD|<commit>|tree] [--skip-generate-ingest DIR]

In a fresh data dir (a temp folder, or --keep DIR) with a private redis-server on a free port:
`vidrec generate --events N --days D --catalog ../shared/datasets/kuairand-catalog`, `vidrec ingest`, a backfill
of the feature days the training set reads (the label_days days before the last day, in one process and one
Spark session, as `make demo` does), then every task of features_hourly and train_nightly for the last day, in
the DAG files' order, each as its own `vidrec run <task> --ds <last day>` process with the environment an
Airflow task gets (vidrec.ops.airflow_env). The stages run one commit exported with `git archive` (--code,
default HEAD; on PYTHONPATH), so edits landing in the working tree during a run never mix code versions.
Per stage: wall seconds, peak RSS of the whole process tree (vidrec + its Spark JVM, summed, sampled every
0.2 s), the JVM's share, CPU seconds of the tree, exit code, and the machine's mean 1-minute load average
during the stage (other work on the machine shows there).
It stops at the first failing stage. With --max-rss-gb a stage whose tree passes that RSS is killed
(exit -9, "killed": "rss") before the kernel's OOM killer has to act. Stage output goes to <data dir>/bench-logs/.
The last line is one JSON object: events, stages (seconds), stage_rss_mb, total_s (the last day's features +
train_nightly), peak_rss_mb (max over every stage), failed (null or the task).
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

from vidrec.ops import airflow_env, services
from vidrec.settings import Settings

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO.parent / "shared" / "datasets" / "kuairand-catalog"
START = "2026-11-01"
SAMPLE_S = 0.2
BACKFILL = """import json, sys
from models.ranking.training_set import TrainingSetParams
from spark_jobs.features import trending, user_features, video_features
from vidrec import dates
from vidrec.settings import Settings
s = Settings.from_env()
for ds in dates.days_ending(dates.shift_ds(sys.argv[1], -1), TrainingSetParams().label_days)[::-1]:
    jobs = (user_features, video_features, trending)
    rows = {job.__name__.rsplit('.', 1)[-1]: job.run(s, ds)['rows'] for job in jobs}
    print(json.dumps({'ds': ds, 'rows': rows}), flush=True)
"""


def dag_jobs(code: Path, name: str) -> list[str]:
    """The task order of dags/<name>.py (its module-level JOBS list), read without importing Airflow."""
    tree = ast.parse((code / "dags" / f"{name}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "JOBS" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise RuntimeError(f"dags/{name}.py has no JOBS list")


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


class Tree:
    """Samples a process and its descendants: peak summed RSS, peak JVM RSS, last CPU seconds seen per process."""

    def __init__(self, pid: int):
        try:
            self.root: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:  # it already exited
            self.root = None
        self.peak = self.peak_jvm = 0
        self.cpu: dict[int, float] = {}

    def sample(self) -> int:
        try:
            procs = [self.root, *self.root.children(recursive=True)] if self.root else []
        except psutil.Error:
            return 0
        rss = jvm = 0
        for p in procs:
            try:
                with p.oneshot():
                    mem, times, name = p.memory_info().rss, p.cpu_times(), p.name()
            except psutil.Error:
                continue
            rss += mem
            jvm += mem if name == "java" else 0
            self.cpu[p.pid] = times.user + times.system
        self.peak, self.peak_jvm = max(self.peak, rss), max(self.peak_jvm, jvm)
        return rss


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the stage's whole process group (it was started in its own session), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def measure(cmd: list[str], env: dict, log: Path, max_rss: float | None, cwd: Path | None = None) -> dict:
    """Run ``cmd`` (stdout+stderr to ``log``) in its own session; wall seconds, peak tree RSS, exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start, killed = time.perf_counter(), None
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=cwd)
    tree, loads = Tree(proc.pid), []
    try:
        while proc.poll() is None:
            loads.append(os.getloadavg()[0])
            if tree.sample() > (max_rss or float("inf")):
                killed = "rss"
                kill_group(proc)
                break
            time.sleep(SAMPLE_S)
    finally:
        if proc.poll() is None:  # Ctrl-C or an error in the harness: leave no stage behind
            kill_group(proc)
    wall = time.perf_counter() - start
    return {"s": round(wall, 1), "rss_mb": round(tree.peak / 2**20), "jvm_mb": round(tree.peak_jvm / 2**20),
            "cpu_s": round(sum(tree.cpu.values()), 1), "load": round(sum(loads) / max(len(loads), 1), 1),
            "code": proc.returncode, "killed": killed, "last": last_json(log)}


def last_json(log: Path) -> dict | None:
    """The last line of a stage's output that parses as a JSON object (what `vidrec` prints), or None."""
    for line in reversed(log.read_text(errors="replace").splitlines()[-200:]):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


class Run:
    """The stages of one benchmark run: prints a row per stage, stops at the first failure."""

    def __init__(self, env: dict, logs: Path, max_rss_gb: float | None, tasks: list[str], code: Path):
        self.env, self.logs, self.tasks, self.code = env, logs, tasks, code
        self.max_rss = max_rss_gb * 2**30 if max_rss_gb else None
        self.results: dict[str, dict] = {}
        self.failed: str | None = None
        self.current = ""
        print(f"{'stage':<22}{'seconds':>9}{'cpu s':>8}{'peak MB':>9}{'JVM MB':>8}{'load':>6}  exit", flush=True)

    def stage(self, name: str, cmd: list[str]) -> bool:
        if self.failed:
            return False
        self.current = name
        r = self.results[name] = measure(cmd, self.env, self.logs / f"{name}.log", self.max_rss, self.code)
        status = str(r["code"]) + (" (killed: rss over --max-rss-gb)" if r["killed"] else "")
        if r["code"] == -9 and not r["killed"]:
            status += " (SIGKILL: the kernel's OOM killer?)"
        print(f"{name:<22}{r['s']:>9.1f}{r['cpu_s']:>8.1f}{r['rss_mb']:>9,}{r['jvm_mb']:>8,}{r['load']:>6.1f}  "
              f"{status}", flush=True)
        if r["code"] != 0:
            self.failed = name
            log = self.logs / f"{name}.log"
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"   {name} failed; last lines of {log}:", *tail, sep="\n   ", file=sys.stderr)
        return r["code"] == 0

    def summary(self, events: int, ds: str, code: str) -> dict:
        timed = [t for t in self.tasks if t in self.results]
        return {
            "events": events, "ds": ds, "cores": os.cpu_count(), "code": code,
            "stages": {k: r["s"] for k, r in self.results.items()},
            "stage_rss_mb": {k: r["rss_mb"] for k, r in self.results.items()},
            "stage_jvm_rss_mb": {k: r["jvm_mb"] for k, r in self.results.items()},
            "stage_cpu_s": {k: r["cpu_s"] for k, r in self.results.items()},
            "stage_load": {k: r["load"] for k, r in self.results.items()},
            "total_s": round(sum(self.results[t]["s"] for t in timed), 1),
            "peak_rss_mb": max((r["rss_mb"] for r in self.results.values()), default=0),
            "failed": self.failed,
            "exit": {k: r["code"] for k, r in self.results.items() if r["code"]},
            "killed": {k: r["killed"] for k, r in self.results.items() if r["killed"]},
        }


def settings_for(data_dir: Path, port: int) -> Settings:
    """This environment's VIDREC_* settings, with every path under ``data_dir`` and the private Redis."""
    paths = {name: Path("") for name in ("lake_root", "landing_dir", "staging_dir", "artifact_root", "redis_dir",
                                         "airflow_home", "feast_dir")}
    return Settings.from_env(data_dir=data_dir, redis_url=f"redis://127.0.0.1:{port}/0", **paths)


def pipeline(run: Run, a, settings: Settings, ds: str) -> None:
    """generate, ingest, backfill, then the DAG tasks for ``ds``; stops at the first failure."""
    vidrec, python = services.vidrec_command(), sys.executable
    if not a.skip_generate_ingest:
        gen = [vidrec, "generate", "--events", str(a.events), "--days", str(a.days), "--start", START,
               "--out", str(settings.landing_dir)] + (["--catalog", str(CATALOG)] if CATALOG.exists() else [])
        run.stage("generate", gen) and run.stage("ingest", [vidrec, "ingest"])
    if not a.skip_backfill:
        run.stage("backfill", [python, "-c", BACKFILL, ds])
    for task in run.tasks:
        run.stage(task, [vidrec, "run", task, "--ds", ds])


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
        settings = settings_for(data_dir, port)
        code, version = checkout(a.code, Path(tmp) / "code")
        env = airflow_env.airflow_env(settings)
        env = {k: v for k, v in env.items() if v or not k.startswith("VIDREC_")}  # empty = default, in any version
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
        tasks = dag_jobs(code, "features_hourly") + dag_jobs(code, "train_nightly")
        redis = services.start_redis(port, Path(tmp) / "redis")
        print(f"data dir {data_dir}, code {version} ({code}), redis on port {port}, ds {ds}, "
              f"{os.cpu_count()} cores", flush=True)
        run = Run(env, data_dir / "bench-logs", a.max_rss_gb, tasks, code)  # cwd: `python -c` puts it first
        try:
            pipeline(run, a, settings, ds)
        except KeyboardInterrupt:
            run.failed = run.failed or f"interrupted in {run.current}"
            print("interrupted: stopping", file=sys.stderr)
        finally:
            redis.terminate()
            redis.wait(timeout=10)
    result = run.summary(a.events, ds, version)
    if a.out:
        outputs = {k: r["last"] for k, r in run.results.items()}
        Path(a.out).write_text(json.dumps({**result, "outputs": outputs}, indent=1, default=str) + "\n")
    print(json.dumps(result))
    return 0 if run.failed is None else 1


if __name__ == "__main__":
    sys.exit(main())

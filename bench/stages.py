"""The benchmarks' child processes: each stage runs in its own session, its process tree sampled for RSS
and CPU (bench/pipeline.py runs the DAGs' graphs with ``Run``; bench/ingest.py measures one command)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

SAMPLE_S = 0.2


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


class Stage:
    """One running stage: ``cmd`` (stdout+stderr to ``log``) in its own session, its process tree sampled."""

    def __init__(self, cmd: list[str], env: dict, log: Path, cwd: Path | None = None):
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log, self.start, self.killed, self.loads = log, time.perf_counter(), None, []
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, cwd=cwd)
        self.tree = Tree(self.proc.pid)

    def sample(self) -> int:
        self.loads.append(os.getloadavg()[0])
        return self.tree.sample()

    def kill(self, reason: str | None = None) -> None:
        self.killed = self.killed or reason
        kill_group(self.proc)

    def result(self, started: float) -> dict:
        """Wall seconds, start offset from ``started``, peak tree RSS, CPU seconds, load, exit code."""
        wall, tree = time.perf_counter() - self.start, self.tree
        return {"s": round(wall, 1), "at": round(self.start - started, 1), "rss_mb": round(tree.peak / 2**20),
                "jvm_mb": round(tree.peak_jvm / 2**20), "cpu_s": round(sum(tree.cpu.values()), 1),
                "load": round(sum(self.loads) / max(len(self.loads), 1), 1), "code": self.proc.returncode,
                "killed": self.killed, "last": last_json(self.log)}


def measure(cmd: list[str], env: dict, log: Path, max_rss: float | None, cwd: Path | None = None) -> dict:
    """Run one command as a stage until it ends (killed when its tree passes ``max_rss`` bytes)."""
    stage = Stage(cmd, env, log, cwd)
    try:
        while stage.proc.poll() is None:
            if stage.sample() > (max_rss or float("inf")):
                stage.kill("rss")
            time.sleep(SAMPLE_S)
    finally:
        if stage.proc.poll() is None:
            kill_group(stage.proc)
    return stage.result(stage.start)


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
    """The stages of one benchmark run, as the DAGs run them: every task whose upstream tasks succeeded starts
    at once (up to ``parallelism`` at a time), as Airflow's scheduler starts them. Prints a row per stage as it
    ends; after a failure no new task starts (those running finish)."""

    def __init__(self, env: dict, logs: Path, max_rss_gb: float | None, tasks: list[str], code: Path,
                 parallelism: int | None = None):
        self.env, self.logs, self.tasks, self.code = env, logs, tasks, code
        self.max_rss = max_rss_gb * 2**30 if max_rss_gb else None
        self.parallelism = parallelism or len(tasks) or 1
        self.results: dict[str, dict] = {}
        self.failed: str | None = None
        self.current = ""
        self.started = time.perf_counter()
        self.peak = 0  # the sum over the stages running at one time
        print(f"{'stage':<22}{'at s':>7}{'seconds':>9}{'cpu s':>8}{'peak MB':>9}{'JVM MB':>8}{'load':>6}  exit",
              flush=True)

    def stage(self, name: str, cmd: list[str]) -> bool:
        return self.graph({name: []}, {name: cmd})

    def graph(self, upstream: dict[str, list[str]], cmds: dict[str, list[str]]) -> bool:
        """Run the tasks of ``upstream`` (task -> the tasks it waits for); True when all succeeded."""
        pending, running, done = dict(upstream), {}, set()
        try:
            while pending or running:
                ready = [t for t, ups in pending.items() if not self.failed and all(u in done for u in ups)]
                for task in ready[:max(0, self.parallelism - len(running))]:
                    del pending[task]
                    running[task] = Stage(cmds[task], self.env, self.logs / f"{task}.log", self.code)
                if not running:
                    break
                self.current = ", ".join(running)
                total = sum(stage.sample() for stage in running.values())
                self.peak = max(self.peak, total)
                if total > (self.max_rss or float("inf")):
                    for stage in running.values():
                        stage.kill("rss")
                for task, stage in list(running.items()):
                    if stage.proc.poll() is not None:
                        self._ended(task, running.pop(task))
                        if self.results[task]["code"] == 0:
                            done.add(task)
                time.sleep(SAMPLE_S)
        finally:
            for stage in running.values():  # Ctrl-C or an error in the harness: leave no stage behind
                kill_group(stage.proc)
        return not self.failed and not pending

    def _ended(self, name: str, stage: Stage) -> None:
        r = self.results[name] = stage.result(self.started)
        status = str(r["code"]) + (" (killed: rss over --max-rss-gb)" if r["killed"] else "")
        if r["code"] == -9 and not r["killed"]:
            status += " (SIGKILL: the kernel's OOM killer?)"
        print(f"{name:<22}{r['at']:>7.0f}{r['s']:>9.1f}{r['cpu_s']:>8.1f}{r['rss_mb']:>9,}{r['jvm_mb']:>8,}"
              f"{r['load']:>6.1f}  {status}", flush=True)
        if r["code"] != 0:
            self.failed = self.failed or name
            tail = stage.log.read_text(errors="replace").splitlines()[-15:]
            print(f"   {name} failed; last lines of {stage.log}:", *tail, sep="\n   ", file=sys.stderr)

    def summary(self, events: int, ds: str, code: str) -> dict:
        timed = [self.results[t] for t in self.tasks if t in self.results]
        span = max((r["at"] + r["s"] for r in timed), default=0) - min((r["at"] for r in timed), default=0)
        return {
            "events": events, "ds": ds, "cores": os.cpu_count(), "code": code, "parallelism": self.parallelism,
            "stages": {k: r["s"] for k, r in self.results.items()},
            "stage_start_s": {k: r["at"] for k, r in self.results.items()},
            "stage_rss_mb": {k: r["rss_mb"] for k, r in self.results.items()},
            "stage_jvm_rss_mb": {k: r["jvm_mb"] for k, r in self.results.items()},
            "stage_cpu_s": {k: r["cpu_s"] for k, r in self.results.items()},
            "stage_load": {k: r["load"] for k, r in self.results.items()},
            "total_s": round(span, 1),
            "stages_sum_s": round(sum(r["s"] for r in timed), 1),
            "peak_rss_mb": round(self.peak / 2**20),
            "failed": self.failed,
            "exit": {k: r["code"] for k, r in self.results.items() if r["code"]},
            "killed": {k: r["killed"] for k, r in self.results.items() if r["killed"]},
        }


def stop(*procs) -> None:
    """Terminate the child processes given (None: not started) and wait for them."""
    for proc in procs:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)

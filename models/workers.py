"""A job's chunks of users on all the machine's cores: forked worker processes, one chunk each.

The model jobs hold what every chunk reads (the history, the ranker, fetched features) in one process;
``map_chunks`` forks a child per chunk, up to ``workers`` at a time, so each child reads the parent's memory
as it was at the fork (copy-on-write: nothing is pickled or loaded twice) and the parent goes on preparing
the next chunk. A child writes its frame as one parquet part and exits; the parent keeps only the paths.
Children must not use what cannot cross a fork: the parent's DuckDB connection, Spark, and OpenMP (a child
of a process that ran an OpenMP region, XGBoost's prediction for one, hangs in its first own region): the
parent does that part of the work before it forks. With ``workers`` = 1 every chunk runs in the job's own process,
through the same parts.

``Settings.workers`` (``VIDREC_WORKERS``, 0 = the machine's cores) sets the count; on a cluster the Airflow
worker that runs the task lends its cores the same way.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

import pandas as pd

from vidrec.settings import Settings


def worker_count(settings: Settings) -> int:
    """``settings.workers``, or the cores this process may use when it is 0."""
    if settings.workers > 0:
        return settings.workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def map_chunks(func, chunks, workers: int, into: Path, *, first_here: bool = False) -> list[Path]:
    """``func(chunk)`` -> DataFrame for each item of ``chunks`` (consumed here, in order), each result
    written to ``into``/part-NNNNN.parquet by a forked child (at most ``workers`` running); the part paths
    in chunk order. A failing child fails the call (the others are stopped) with its exit code; its
    traceback is on stderr.

    What a child computes and keeps (a history's lazily built per-user aggregates) dies with it: compute it
    before the call, or pass ``first_here`` to run the first chunk in this process, so that every child forks
    with it."""
    into.mkdir(parents=True, exist_ok=True)
    paths, running = [], {}
    try:
        for i, chunk in enumerate(chunks):
            path = into / f"part-{i:05d}.parquet"
            paths.append(path)
            if workers <= 1 or (first_here and i == 0):
                _write(func(chunk), path)
                continue
            while len(running) >= workers:
                _reap(running)
            running[_fork(func, chunk, path)] = i
        while running:
            _reap(running)
    finally:
        for pid in running:  # an error here: leave no child behind
            _stop(pid)
    return paths


def _write(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _fork(func, chunk, path: Path) -> int:
    sys.stdout.flush(), sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _write(func(chunk), path)
        code = 0
    except BaseException:  # noqa: BLE001 - the child reports any failure through its exit code
        traceback.print_exc()
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)


def _reap(running: dict) -> None:
    """Wait until one of ``running``'s children ends (only those: the job may have other children)."""
    while True:
        for pid in list(running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                chunk = running.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                if code != 0:
                    raise RuntimeError(f"the worker of chunk {chunk} failed (exit {code}); its traceback is above")
                return
        time.sleep(0.02)


def _stop(pid: int) -> None:
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass

"""models.workers: chunks in forked processes give the parts one process gives, in order, and fail loudly."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import psutil
import pytest

from models import workers
from vidrec.settings import Settings

BIG = np.arange(200_000)  # made before the fork: the children read it without it being sent to them


def _square(chunk: int) -> pd.DataFrame:
    return pd.DataFrame({"chunk": [chunk] * 3, "value": [chunk * chunk, int(BIG[chunk]), os.getpid()]})


@pytest.mark.parametrize("n", [1, 2, 3])
def test_forked_workers_write_the_parts_of_one_process_in_chunk_order(tmp_path, n):
    paths = workers.map_chunks(_square, iter(range(7)), n, tmp_path / f"parts{n}")
    assert [p.name for p in paths] == [f"part-{i:05d}.parquet" for i in range(7)]
    frames = [pd.read_parquet(p) for p in paths]
    assert [f["chunk"].tolist() for f in frames] == [[i] * 3 for i in range(7)]
    assert [f["value"].tolist()[:2] for f in frames] == [[i * i, i] for i in range(7)]
    pids = {int(f["value"].iloc[2]) for f in frames}
    assert (pids == {os.getpid()}) if n == 1 else (os.getpid() not in pids and len(pids) == 7)


def _fails_on_three(chunk: int) -> pd.DataFrame:
    if chunk == 3:
        raise ValueError("chunk three is bad")
    return pd.DataFrame({"chunk": [chunk]})


def test_a_failing_chunk_fails_the_call_and_leaves_no_child(tmp_path, capfd):
    before = {p.pid for p in psutil.Process().children()}
    with pytest.raises(RuntimeError, match="chunk 3 failed"):
        workers.map_chunks(_fails_on_three, iter(range(6)), 2, tmp_path / "parts")
    assert "chunk three is bad" in capfd.readouterr().err  # the child's traceback
    assert {p.pid for p in psutil.Process().children()} == before  # every child stopped and reaped
    assert not (tmp_path / "parts" / "part-00003.parquet").exists()


def test_the_worker_count_follows_the_setting_or_the_cores(tmp_path):
    assert workers.worker_count(Settings(data_dir=tmp_path, workers=3)) == 3
    assert workers.worker_count(Settings(data_dir=tmp_path, workers=0)) == len(os.sched_getaffinity(0))


def test_the_first_chunk_can_run_here_so_that_the_children_inherit_what_it_built(tmp_path):
    paths = workers.map_chunks(_square, iter(range(4)), 2, tmp_path / "parts", first_here=True)
    pids = [int(pd.read_parquet(p)["value"].iloc[2]) for p in paths]
    assert pids[0] == os.getpid() and os.getpid() not in pids[1:]

"""bench/pipeline.py runs each DAG's graph as the DAG declares it: side by side where the DAG allows it."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pipeline():
    """bench/pipeline.py as its command line loads it: bench/ first on sys.path (it imports bench/stages.py)."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        spec = importlib.util.spec_from_file_location("pipeline", REPO / "bench" / "pipeline.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "bench"))


def _runner(pipeline, tmp_path, tasks, parallelism=None):
    return pipeline.Run(dict(os.environ), tmp_path / "logs", None, tasks, tmp_path, parallelism)


def _sleep(seconds, code=0):
    return [sys.executable, "-c", f"import time, sys; time.sleep({seconds}); sys.exit({code})"]


@pytest.mark.parametrize("dag_id", ["features_hourly", "train_nightly"])
def test_the_benchmark_reads_the_graph_the_dag_file_declares(pipeline, dag_id):
    import ast

    tree = ast.parse((REPO / "dags" / f"{dag_id}.py").read_text())
    jobs = next(ast.literal_eval(n.value) for n in tree.body
                if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "JOBS" for t in n.targets))
    graph = pipeline.dag_graph(REPO, dag_id)
    assert graph == {task: list(upstream) for task, upstream in jobs.items()}
    if dag_id == "train_nightly":
        assert any(len(upstream) > 1 for upstream in graph.values())  # rank joins two branches


def test_independent_tasks_run_side_by_side_and_a_join_waits_for_both(pipeline, tmp_path):
    graph = {"a": [], "b": [], "c": ["a", "b"]}
    run = _runner(pipeline, tmp_path, list(graph))
    assert run.graph(graph, {"a": _sleep(1.0), "b": _sleep(1.0), "c": _sleep(0.1)})
    r = run.results
    assert abs(r["a"]["at"] - r["b"]["at"]) < 0.5  # started together
    assert r["c"]["at"] >= max(r["a"]["at"] + r["a"]["s"], r["b"]["at"] + r["b"]["s"]) - 0.3
    summary = run.summary(0, "2026-11-14", "test")
    assert summary["total_s"] < summary["stages_sum_s"] - 0.5  # the wall span, not the sum
    assert summary["failed"] is None


def test_parallelism_one_runs_the_tasks_one_after_another(pipeline, tmp_path):
    graph = {"a": [], "b": []}
    run = _runner(pipeline, tmp_path, list(graph), parallelism=1)
    assert run.graph(graph, {"a": _sleep(0.5), "b": _sleep(0.5)})
    first, second = sorted(run.results.values(), key=lambda r: r["at"])
    assert second["at"] >= first["at"] + first["s"] - 0.3


def test_after_a_failure_no_dependent_task_starts(pipeline, tmp_path):
    graph = {"bad": [], "slow": [], "after": ["bad"]}
    run = _runner(pipeline, tmp_path, list(graph))
    assert not run.graph(graph, {"bad": _sleep(0.1, code=3), "slow": _sleep(0.8), "after": _sleep(0.1)})
    assert run.failed == "bad"
    assert run.results["bad"]["code"] == 3
    assert run.results["slow"]["code"] == 0  # a task already running finishes, as under Airflow
    assert "after" not in run.results


def test_connect_names_the_server_in_every_stages_environment(pipeline, tmp_path):
    """--connect: the tasks get VIDREC_SPARK_REMOTE (they attach to the one server); without it they do not."""
    from vidrec.ops.airflow_env import airflow_env

    attached = airflow_env(pipeline.settings_for(tmp_path, 6399, "sc://127.0.0.1:15999"), base={})
    alone = airflow_env(pipeline.settings_for(tmp_path, 6399), base={})
    assert attached["VIDREC_SPARK_REMOTE"] == "sc://127.0.0.1:15999"
    assert not alone.get("VIDREC_SPARK_REMOTE")
    assert pipeline.parse_args(["1000", "--connect"]).connect and not pipeline.parse_args(["1000"]).connect

"""The order of the batch DAGs' tasks, and that every task is `vidrec run <its own task id> --ds <day>`."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow
DAGS = Path(__file__).resolve().parents[2] / "dags"

EXPECTED = {
    "features_hourly": ["build_user_features", "build_video_features", "build_trending", "validate_features",
                        "feast_apply", "materialize"],
    "train_nightly": ["build_training_set", "train_als", "build_index", "build_candidates", "train_ranker", "rank",
                      "evaluate", "publish"],
    "tune_weekly": ["tune_params"],
}


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_batch_dag_is_a_chain_of_registered_jobs(dag_id):
    from vidrec.ops.cli import JOBS

    dag = runpy.run_path(str(DAGS / f"{dag_id}.py"))[dag_id]()
    order = [t.task_id for t in dag.topological_sort()]
    assert order == EXPECTED[dag_id]
    for upstream, downstream in zip(order, order[1:]):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    for task in dag.tasks:
        assert task.task_id in JOBS
        assert task.bash_command.startswith(f"vidrec run {task.task_id} --ds {{{{")

"""The graphs of the batch DAGs' tasks, and that every task is `vidrec run <its own task id> --ds <day>`."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow
DAGS = Path(__file__).resolve().parents[2] / "dags"

EXPECTED = {  # task: the tasks it waits for
    "features_hourly": {
        "build_user_features": set(), "build_video_features": {"build_user_features"},
        "build_trending": {"build_video_features"}, "build_context": {"build_trending"},
        "validate_features": {"build_context"},
        "feast_apply": {"validate_features"}, "materialize": {"feast_apply"}, "publish_hourly": {"materialize"},
    },
    "train_nightly": {
        "build_training_set": set(), "train_ranker": {"build_training_set"},
        "train_als": set(), "build_index": {"train_als"}, "build_candidates": {"build_index"},
        "rank": {"train_ranker", "build_candidates"}, "evaluate": {"train_ranker"}, "publish": {"rank", "evaluate"},
    },
    "tune_weekly": {"tune_params": set()},
    "experiments_daily": {"experiments_report": set()},
}


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_batch_dag_is_a_graph_of_registered_jobs(dag_id):
    from vidrec.ops.cli import JOBS

    dag = runpy.run_path(str(DAGS / f"{dag_id}.py"))[dag_id]()
    assert {t.task_id: t.upstream_task_ids for t in dag.tasks} == EXPECTED[dag_id]
    for task in dag.tasks:
        assert task.task_id in JOBS
        assert task.bash_command.startswith(f"vidrec run {task.task_id} --ds {{{{")


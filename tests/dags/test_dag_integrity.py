"""DAG parse, policy and structure tests (STYLE.md B12), on a real Airflow DagBag.

The DagBag is built once, in a subprocess with the project's Airflow environment (a temporary
AIRFLOW_HOME), and reported as JSON: the pytest process never imports or configures Airflow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from vidrec.ops import airflow_env
from vidrec.ops.cli import build_parser
from vidrec.settings import Settings

pytestmark = pytest.mark.airflow

DAGS = airflow_env.DAGS_FOLDER
DAG_IDS = sorted(p.stem for p in DAGS.glob("*.py"))  # the file name is the DAG id
UNSET_MAX_ACTIVE_RUNS = 987  # the config default, so a DAG that leaves max_active_runs unset shows it
TIME_TIMETABLES = {
    "CronTriggerTimetable", "CronDataIntervalTimetable", "MultipleCronTriggerTimetable",
    "DeltaTriggerTimetable", "DeltaDataIntervalTimetable",
}

REPORT = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])

def task(t):
    return {"operator": type(t).__name__, "downstream": sorted(t.downstream_task_ids), "owner": t.owner,
            "retries": t.retries, "bash_command": getattr(t, "bash_command", None)}

def dag(d):
    return {"fileloc": d.fileloc, "tags": sorted(d.tags), "default_args": d.default_args, "catchup": d.catchup,
            "max_active_runs": d.max_active_runs, "timetable": type(d.timetable).__name__,
            "tasks": {t.task_id: task(t) for t in d.tasks}}

print("@@REPORT@@" + json.dumps({"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
                                "dags": {i: dag(d) for i, d in bag.dags.items()}}, default=str))
"""


@pytest.fixture(scope="session")
def dagbag(tmp_path_factory) -> dict:
    settings = Settings(data_dir=tmp_path_factory.mktemp("dagbag") / "var")
    env = airflow_env.airflow_env(settings, base=_without_airflow_vars())
    env["AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG"] = str(UNSET_MAX_ACTIVE_RUNS)
    done = subprocess.run([sys.executable, "-c", REPORT, str(DAGS)], env=env, cwd=settings.data_dir.parent,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.split("@@REPORT@@", 1)[1])


def _without_airflow_vars() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}


def test_every_dag_file_parses_without_import_errors(dagbag):
    assert dagbag["import_errors"] == {}


def test_each_dag_id_equals_its_file_name(dagbag):
    assert "ingest_hourly" in dagbag["dags"]
    assert {i: Path(d["fileloc"]).stem for i, d in dagbag["dags"].items()} == {i: i for i in DAG_IDS}


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_follows_the_policy(dagbag, dag_id):
    dag = dagbag["dags"][dag_id]
    assert dag["tags"], "every DAG has tags"
    assert dag["default_args"].get("retries", 0) >= 2
    assert dag["default_args"].get("owner") not in (None, "", "airflow"), "default_args names an owner"
    assert all(t["owner"] not in ("", "airflow") for t in dag["tasks"].values()), "every task has a real owner"
    assert dag["catchup"] is False
    assert dag["max_active_runs"] != UNSET_MAX_ACTIVE_RUNS, "max_active_runs is set explicitly"
    assert dag["timetable"] in TIME_TIMETABLES, "partition DAGs are time-scheduled (Airflow 3: no ds otherwise)"


def test_ingest_hourly_is_the_chain_land_validate_ingest_stats(dagbag):
    tasks = dagbag["dags"]["ingest_hourly"]["tasks"]
    assert {i: t["downstream"] for i, t in tasks.items()} == {
        "land": ["validate"], "validate": ["ingest"], "ingest": ["stats"], "stats": [],
    }
    assert [tasks[i]["bash_command"] for i in ("land", "validate", "ingest")] == [
        f"vidrec ingest --step {step} --batch {{{{ ts_nodash }}}}" for step in ("land", "validate", "commit")
    ]


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_task_runs_one_existing_vidrec_subcommand(dagbag, dag_id):
    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for task_id, task in dagbag["dags"][dag_id]["tasks"].items():
        assert task["operator"] == "BashOperator", task_id
        words = shlex.split(task["bash_command"])
        assert words[0] == "vidrec" and words[1] in subcommands, (task_id, task["bash_command"])
        assert not {"&&", "||", ";", "|"} & set(words), f"{task_id}: one task, one command"
        # The whole command line parses, with each Jinja template standing in as one plain value.
        argv = shlex.split(re.sub(r"\{\{.*?\}\}", "TEMPLATE", task["bash_command"]))[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{task_id}: `{task['bash_command']}` is not a valid vidrec command ({exc})")

"""Nightly training and publishing for yesterday's partition (a complete day).

Two branches run side by side; `rank` joins them and `publish` waits for the lists and the gate:

    build_training_set -> train_ranker -> evaluate
    train_als -> build_index -> build_candidates
    rank     waits for train_ranker and build_candidates
    publish  waits for rank and evaluate

The training set rebuilds retrieval for its own label days, so it needs none of the other branch's outputs;
`evaluate` measures the ranker on the training set's held-out day and reads none of rank's lists, so the
gate is known while the lists are still being ranked. Jobs of one run record themselves in the run's
manifest under a lock, in any order. `publish` refuses a
model that failed the evaluation gate: the serving version stays. Each task is one
`vidrec run <job> --ds <day>` command (STYLE.md B6).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag

DAY = "{{ macros.ds_add(ds, -1) }}"
JOBS = {  # task: the tasks it waits for (bench/pipeline.py runs the same graph)
    "build_training_set": [],
    "train_ranker": ["build_training_set"],
    "train_als": [],
    "build_index": ["train_als"],
    "build_candidates": ["build_index"],
    "rank": ["train_ranker", "build_candidates"],
    "evaluate": ["train_ranker"],
    "publish": ["rank", "evaluate"],
}


@dag(
    schedule="0 3 * * *",
    start_date=pendulum.datetime(1995, 1, 1, tz="UTC"),  # as early as VIDREC_MIN_EVENT_TS: backfills of old data run
    catchup=False,
    max_active_runs=1,
    tags=["recs"],
    default_args={"owner": "recs", "retries": 2, "retry_delay": timedelta(minutes=5)},
    doc_md=__doc__,
)
def train_nightly():
    tasks = {job: BashOperator(task_id=job, bash_command=f"vidrec run {job} --ds {DAY}") for job in JOBS}
    for job, upstream in JOBS.items():
        tasks[job].set_upstream([tasks[u] for u in upstream])


train_nightly()

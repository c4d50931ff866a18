"""Nightly training and publishing for yesterday's partition (a complete day).

training set -> ALS -> ScaNN index -> candidates -> XGBoost ranker -> rank and re-rank -> evaluate -> publish.
`publish` refuses a model that failed the evaluation gate: the serving version stays. Each task is one
`vidrec run <job> --ds <day>` command (STYLE.md B6).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import chain, dag

DAY = "{{ macros.ds_add(ds, -1) }}"
JOBS = ["build_training_set", "train_als", "build_index", "build_candidates", "train_ranker", "rank", "evaluate",
        "publish"]


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
    chain(*[BashOperator(task_id=job, bash_command=f"vidrec run {job} --ds {DAY}") for job in JOBS])


train_nightly()

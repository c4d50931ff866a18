"""Weekly tuning of the parameters file the nightly reads, on the lake's own interactions.

`tune_params` fits the two-stage recommender with the current parameters and a few variants around them on
the days before yesterday, scores them on the last days up to yesterday (time protocol, validation carved
from the past), and replaces `<artifact_root>/params/two_stage.json` only when a variant is better by a
margin (models/evaluation/lake_tuning.py). It runs on Sunday at 01:00 UTC, two hours before `train_nightly`,
whose runs then read the new file. Each task is one `vidrec run <job> --ds <day>` command (STYLE.md B6).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import chain, dag

DAY = "{{ macros.ds_add(ds, -1) }}"
JOBS = ["tune_params"]


@dag(
    schedule="0 1 * * 0",
    start_date=pendulum.datetime(1995, 1, 1, tz="UTC"),  # as early as VIDREC_MIN_EVENT_TS, like train_nightly
    catchup=False,
    max_active_runs=1,
    tags=["recs", "tuning"],
    default_args={"owner": "recs", "retries": 2, "retry_delay": timedelta(minutes=10)},
    doc_md=__doc__,
)
def tune_weekly():
    chain(*[BashOperator(task_id=job, bash_command=f"vidrec run {job} --ds {DAY}") for job in JOBS])


tune_weekly()

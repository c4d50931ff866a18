"""Hourly features: interactions -> user/video features and trending lists -> validated -> Feast -> Redis, and
the trending, cold-start and new-release lists published over the served nightly version (publish_hourly).

Thin DAG (STYLE.md B6): each task is one `vidrec run <job> --ds <day>` command. The day is the one the
finished hour belongs to, so the 00:00 run finalizes yesterday's partition. Re-running a day replaces it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag

DAY = "{{ (logical_date - macros.timedelta(hours=1)).strftime('%Y-%m-%d') }}"
JOBS = {  # task: the tasks it waits for (bench/pipeline.py runs the same graph)
    # one after another: each Spark job already uses every core of its executors (side by side on 2 cores, the
    # three took 175 s instead of 158 s one after another, bench/results/pipeline.md)
    "build_user_features": [],
    "build_video_features": ["build_user_features"],
    "build_trending": ["build_video_features"],
    "build_context": ["build_trending"],
    "validate_features": ["build_context"],
    "feast_apply": ["validate_features"],
    "materialize": ["feast_apply"],
    "publish_hourly": ["materialize"],
}


@dag(
    schedule="15 * * * *",
    start_date=pendulum.datetime(1995, 1, 1, tz="UTC"),  # as early as VIDREC_MIN_EVENT_TS: backfills of old data run
    catchup=False,
    max_active_runs=1,
    tags=["features"],
    default_args={"owner": "recs", "retries": 2, "retry_delay": timedelta(minutes=2)},
    doc_md=__doc__,
)
def features_hourly():
    tasks = {job: BashOperator(task_id=job, bash_command=f"vidrec run {job} --ds {DAY}") for job in JOBS}
    for job, upstream in JOBS.items():
        tasks[job].set_upstream([tasks[u] for u in upstream])


features_hourly()

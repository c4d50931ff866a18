"""Weekly upkeep of the lake (vidrec/ops/maintenance.py), Sunday 05:00 UTC, after the nightly and the weekly tuning:

`retention` deletes the days of the day-partitioned tables older than VIDREC_RETENTION_DAYS before the newest events;
`compact` rewrites the small files hourly batches leave into few large ones (delta-rs OPTIMIZE); `vacuum` removes
the files no version younger than VIDREC_LAKE_HISTORY_HOURS needs and cleans the log as far; `clean` removes old
staging batches and the run folders neither the newest runs nor a version in Redis need. Each task prints what it
removed (the task log in the UI).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import chain, dag

STEPS = ["retention", "compact", "vacuum", "clean"]


@dag(
    schedule="0 5 * * 0",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["recs", "maintenance"],
    default_args={"owner": "recs", "retries": 2, "retry_delay": timedelta(minutes=10)},
    doc_md=__doc__,
)
def maintenance():
    chain(*[BashOperator(task_id=step, bash_command=f"vidrec maintenance {step}") for step in STEPS])


maintenance()

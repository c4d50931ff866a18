"""Daily erasure: carry out every queued request to forget a user (`vidrec privacy forget`, or the API's
POST /api/v1/privacy/forget) in every store, and write each one's audit record.

`forget_users` runs `vidrec privacy process` (vidrec/ops/privacy.py): the Delta tables (vacuumed and their log
cleaned to VIDREC_LAKE_HISTORY_HOURS), landing and staging files, the runs' artifacts, the published lists
in Redis and Feast's online store. At 02:30 UTC, between the hourly ingest's runs and before `train_nightly`, so
the nightly never trains on a user forgotten the day before. A request whose user is still in the API's landing
file of the current hour stays queued for the next run; a failed run is retried (every step is idempotent).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag


@dag(
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["recs", "privacy"],
    default_args={"owner": "recs", "retries": 2, "retry_delay": timedelta(minutes=10)},
    doc_md=__doc__,
)
def privacy_daily():
    BashOperator(task_id="forget_users", bash_command="vidrec privacy process")


privacy_daily()

"""Daily experiment reports: every A/B experiment (and canary) that served in the last 14 days, arm against control.

`experiments_report` joins the lake's `served` items (landed hourly from the API's served log) to the events
that name them (rec_id, position), and writes per experiment a Markdown report with a plot per metric
(click-through, watch time per impression, like and not-interested rates, with 95% intervals and tests) under
`<artifact_root>/experiments/<name>/<day>/` (spark_jobs/experiments/report.py). A canary whose guardrail fails
is withdrawn. `vidrec experiments report NAME` prints one. Runs at 02:00 UTC for the day before, once that
day's last hourly ingest is in. Each task is one `vidrec run <job> --ds <day>` command (STYLE.md B6).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import chain, dag

DAY = "{{ macros.ds_add(ds, -1) }}"
JOBS = ["experiments_report"]


@dag(
    schedule="0 2 * * *",
    start_date=pendulum.datetime(1995, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["recs", "experiments"],
    default_args={"owner": "recs", "retries": 2, "retry_delay": timedelta(minutes=10)},
    doc_md=__doc__,
)
def experiments_daily():
    chain(*[BashOperator(task_id=job, bash_command=f"vidrec run {job} --ds {DAY}") for job in JOBS])


experiments_daily()

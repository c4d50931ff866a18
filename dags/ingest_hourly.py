"""Hourly ingest: landing files -> validated batch -> Delta `events` (+ `events_quarantine`).

Thin DAG (STYLE.md B6): it says when and in which order, never how. Each task is one `vidrec`
command; the batch id is the run's logical timestamp, so a rerun of an hour replays the same batch.
Imports: airflow, pendulum and stdlib only. No parse-time I/O.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import chain, dag

BATCH = "--batch {{ ts_nodash }}"

# Task id -> the one command it runs (task ids equal the CLI step, so a failed task names its command).
STEPS = {
    "land": "vidrec ingest --step land " + BATCH,
    "validate": "vidrec ingest --step validate " + BATCH,
    "ingest": "vidrec ingest --step commit " + BATCH,
    "stats": "vidrec lake stats --json",
}

DOC_MD = """
### ingest_hourly

Moves new landing files into the Delta lake, one batch per run. The batch id is the run's
`ts_nodash`, so clearing a run replays exactly the same batch.

1. **land**: `vidrec ingest --step land --batch <ts>` snapshots the new files of the landing
   folder into the batch and moves malformed files aside.
2. **validate**: `vidrec ingest --step validate --batch <ts>` runs Spark + Great Expectations and
   splits the batch into accepted rows and quarantined rows (staged, nothing committed yet).
3. **ingest**: `vidrec ingest --step commit --batch <ts>` commits accepted rows to `events` and
   the rest to `events_quarantine`; prints `{"read", "accepted", "quarantined", "duplicates"}`.
4. **stats**: `vidrec lake stats --json` prints row counts and versions of every lake table.

Rerun a step by hand with the same command; `VIDREC_*` settings come from the environment.
"""


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ingest"],
    default_args={"owner": "data", "retries": 2, "retry_delay": timedelta(minutes=1)},
    doc_md=DOC_MD,
)
def ingest_hourly():
    chain(*[BashOperator(task_id=step, bash_command=command) for step, command in STEPS.items()])


ingest_hourly()

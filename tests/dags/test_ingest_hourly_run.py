"""One real run of ingest_hourly (`airflow dags test`, SQLite metadata in a temp AIRFLOW_HOME) on small data.

Every task is a real `vidrec` command in a real Airflow task; only the resulting lake tables are checked.
"""

from __future__ import annotations

import os
import shutil

import pytest

from vidrec.ops import airflow_env
pytestmark = [pytest.mark.airflow, pytest.mark.e2e]

EVENTS = 10_000
LOGICAL_DATE = "2026-11-08T00:00:00+00:00"  # just after the generated week (2026-11-01 .. 2026-11-07)
EVENT_KINDS = {"events"}  # quarantine `kind` of event rows (catalog rows are "videos", "users")


@pytest.fixture
def hermetic_env(monkeypatch):
    """Airflow configuration comes only from airflow_env(settings), never from the developer's shell."""
    for key in [k for k in os.environ if k.startswith(("AIRFLOW", "VIDREC_"))]:
        monkeypatch.delenv(key)


def table_rows(path, **filters) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(str(path)):
        return 0
    table = DeltaTable(str(path)).to_pyarrow_table()
    for column, allowed in filters.items():
        table = table.filter(pc.is_in(table[column], value_set=pa.array(sorted(allowed))))
    return table.num_rows


def test_one_hourly_run_lands_every_generated_event_in_events_or_quarantine(settings, hermetic_env):
    from vidrec.sources import synthetic_events as sample
    assert shutil.which("vidrec", path=airflow_env.airflow_env(settings)["PATH"]), "install the repo: make setup"
    sample.generate(settings.landing_dir, events=EVENTS, seed=7)

    assert airflow_env.test_dag(settings, "ingest_hourly", LOGICAL_DATE, timeout=900) == 0

    events = table_rows(settings.lake_root / "events")
    quarantined = table_rows(settings.lake_root / "events_quarantine", kind=EVENT_KINDS)
    assert events > 0
    assert events + quarantined == EVENTS

"""Keeping the lake healthy (the weekly ``maintenance`` DAG): retention, compaction, vacuum, staging clean-up.

- ``apply_retention``: the day-partitioned tables (``DAY_TABLES``) lose their days older than
  ``VIDREC_RETENTION_DAYS`` before the newest day of ``events`` (the data's own today, so a replayed or
  historical data set is not emptied by the wall clock); a DELETE on the partition column drops whole files.
- ``compact``: delta-rs OPTIMIZE (bin-packing) rewrites each partition's small files, which hourly batches leave
  behind, into few large ones; readers scan fewer files and the log stays short.
- ``vacuum``: every table expired to ``VIDREC_LAKE_HISTORY_HOURS`` (``spark_jobs.lake_base.expire``): the files
  compaction and retention replaced go once no version younger than that needs them.
- ``clean_staging``: batch folders of ``staging/batches`` older than ``STAGING_DAYS`` (committed ones hold only
  their manifests; others are crashed batches, with staged rows) and leftovers of ``staging/_commits``.

Each returns what it removed; delta-rs works file by file, so no table is loaded into this process.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from spark_jobs.lake_base import BaseLake, expire, retry_commit
from vidrec import dates
from vidrec.settings import Settings
from vidrec.tables import DS, EVENTS, TABLES

log = logging.getLogger("vidrec.maintenance")
DAY_TABLES = tuple(sorted(name for name, t in TABLES.items() if t.partition_by == (DS,)))
STAGING_DAYS = 7


def _tables(settings: Settings, names=None) -> dict[str, Path]:
    lake = BaseLake(settings)
    return {n: lake.path(n) for n in sorted(names or TABLES) if lake.exists(n)}


def files_of(path: Path) -> int:
    """Data files of the table's current version."""
    from deltalake import DeltaTable

    return DeltaTable(str(path)).get_add_actions().num_rows


def apply_retention(settings: Settings) -> dict:
    """{"cutoff": first day kept (None: retention off or no events), table: rows deleted}."""
    from deltalake import DeltaTable

    days = BaseLake(settings).partition_values(EVENTS, DS)
    if not settings.retention_days or not days:
        return {"cutoff": None}
    cutoff = dates.shift_ds(max(days), -settings.retention_days)
    out = {"cutoff": cutoff}
    for name, path in _tables(settings, DAY_TABLES).items():
        out[name] = retry_commit(lambda: int(DeltaTable(str(path)).delete(f"{DS} < '{cutoff}'")["num_deleted_rows"]),
                              f"retention on {name}")
    return out


def compact(settings: Settings) -> dict:
    """{table: {"files_before", "files_after"}} after OPTIMIZE compact of every table."""
    from deltalake import DeltaTable

    out = {}
    for name, path in _tables(settings).items():
        before = files_of(path)
        retry_commit(lambda: DeltaTable(str(path)).optimize.compact(), f"compaction of {name}")
        out[name] = {"files_before": before, "files_after": files_of(path)}
    return out


def vacuum(settings: Settings) -> dict:
    """{table: files removed from disk} after expiring every table to ``lake_history_hours``."""
    return {name: expire(path, settings.lake_history_hours) for name, path in _tables(settings).items()}


def clean_staging(settings: Settings, now: float | None = None) -> dict:
    """{"batches": folders removed, "commit_leftovers": folders removed} older than STAGING_DAYS (a day for
    ``_commits``, which a commit removes itself when it ends)."""
    root, now = Path(settings.staging_dir), now or time.time()
    removed = {"batches": 0, "commit_leftovers": 0}
    for folder, days, counter in ((root / "batches", STAGING_DAYS, "batches"),
                                  (root / "_commits", 1, "commit_leftovers")):
        for batch in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
            if now - batch.stat().st_mtime > days * 86_400:
                shutil.rmtree(batch)
                removed[counter] += 1
    return removed


def file_count(settings: Settings) -> dict:
    """Files on disk under each table's folder (data, log and checkpoints): what the maintenance reduces."""
    return {name: sum(1 for p in path.rglob("*") if p.is_file()) for name, path in _tables(settings).items()}


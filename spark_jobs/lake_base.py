"""What every lake implementation shares: table paths, creation, versions, batch ids, bookkeeping rows.

``spark_jobs.lake`` (the delta-rs bridge, and ``open_lake``) and ``spark_jobs.native_lake`` (delta-spark)
build on ``BaseLake``; nothing else imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from vidrec.settings import Settings
from vidrec.tables import TABLES, Table, arrow_schema

BATCH_KEY = "vidrec.batch"


def table_of(t: Table | str) -> Table:
    return TABLES[t] if isinstance(t, str) else t


class UnsupportedTableProtocol(RuntimeError):
    """The table uses a feature (deletion vectors, column mapping) that a parquet scan would misread."""


class BaseLake:
    def __init__(self, settings: Settings, spark=None):
        self.settings, self.root, self._spark = settings, Path(settings.lake_root), spark

    @property
    def spark(self):
        if self._spark is None:
            from spark_jobs.session import build_spark

            self._spark = build_spark(self.settings)
        return self._spark

    def path(self, table: Table | str) -> Path:
        return self.root / table_of(table).name

    def exists(self, table: Table | str) -> bool:
        return (self.path(table) / "_delta_log").is_dir()

    def empty_frame(self, table: Table | str):
        return self.spark.createDataFrame([], table_of(table).schema)

    def ensure(self, table: Table | str) -> None:
        """Create the table empty (schema and partitioning from vidrec.tables) if it does not exist; add the
        columns it lacks of its declared schema if it does (a lake made before they were declared)."""
        from deltalake import DeltaTable

        t = table_of(table)
        if not self.exists(t):
            self.path(t).mkdir(parents=True, exist_ok=True)
            DeltaTable.create(str(self.path(t)), schema=arrow_schema(t.schema), mode="ignore",
                              partition_by=list(t.partition_by) or None)
            return
        existing = DeltaTable(str(self.path(t)))
        have = set(existing.schema().to_arrow().names)
        added = [f for f in arrow_schema(t.schema) if f.name not in have]
        if added:  # columns declared since the table was made (nullable): added in place, older rows read null
            from deltalake import Field

            existing.alter.add_columns([Field.from_arrow(f) for f in added])

    def version(self, table: Table | str) -> int | None:
        from deltalake import DeltaTable

        return DeltaTable(str(self.path(table))).version() if self.exists(table) else None

    def partition_values(self, table: Table | str, column: str) -> set[str]:
        """The values a partition column has in the table's current snapshot, from the Delta log (no data read)."""
        from deltalake import DeltaTable

        if not self.exists(table):
            return set()
        return {p[column] for p in DeltaTable(str(self.path(table))).partitions() if p.get(column) is not None}

    def committed_batches(self, table: Table | str, limit: int = 100) -> set[str]:
        """Batch ids recorded in the table's recent commits (makes commit steps safe to retry)."""
        from deltalake import DeltaTable

        if not self.exists(table):
            return set()
        return {h[BATCH_KEY] for h in DeltaTable(str(self.path(table))).history(limit) if BATCH_KEY in h}

    def append_rows(self, table: Table | str, rows: list[dict], *, batch_id: str | None = None) -> int:
        """Append a few driver-side rows (bookkeeping such as the ingest log) with delta-rs."""
        import pyarrow as pa
        from deltalake import write_deltalake

        t = table_of(table)
        self.ensure(t)
        if rows:
            data = pa.Table.from_pylist(rows, schema=arrow_schema(t.schema))
            write_deltalake(str(self.path(t)), data, mode="append", partition_by=list(t.partition_by) or None,
                            commit_properties=commit_properties(batch_id))
        return len(rows)


def commit_properties(batch_id: str | None):
    from deltalake import CommitProperties

    return CommitProperties(custom_metadata={BATCH_KEY: batch_id}) if batch_id else None


def expire(path: Path, retention_hours: int) -> int:
    """Vacuum the table at ``path`` to ``retention_hours`` and clean its log as far back: the log retention is set to
    it, VACUUM removes the files no version younger than that needs, a checkpoint is written and the older log
    entries go (their file statistics and operation parameters can hold values of deleted rows). Returns the
    files removed."""
    from deltalake import DeltaTable

    table = DeltaTable(str(path))
    wanted = f"interval {retention_hours} hours"
    if table.metadata().configuration.get("delta.logRetentionDuration") != wanted:
        table.alter.set_table_properties({"delta.logRetentionDuration": wanted})
    removed = table.vacuum(retention_hours=retention_hours, enforce_retention_duration=False, dry_run=False)
    table = DeltaTable(str(path))
    table.create_checkpoint()
    table.cleanup_metadata()
    return len(removed)


COMMIT_ATTEMPTS = 5


def retry_commit(action, what: str):
    """``action()`` (a delta-rs commit), retried when a concurrent commit (an ingest) won the race."""
    import logging

    from deltalake.exceptions import CommitFailedError

    for attempt in range(COMMIT_ATTEMPTS):
        try:
            return action()
        except CommitFailedError:
            if attempt == COMMIT_ATTEMPTS - 1:
                raise
            logging.getLogger("vidrec.lake").info("%s lost a commit race; retrying", what)


def literal(value: str) -> str:
    return str(value).replace("'", "''")


def merge_predicate(t: Table, partitions: Iterable[str] | None) -> str:
    """Key equality, plus the partitions touched as literals so MERGE scans only those files."""
    cond = [f"t.{k} = s.{k}" for k in t.key]
    if t.partition_by and partitions is not None:
        col = t.partition_by[0]
        values = ", ".join(f"'{literal(v)}'" for v in sorted(set(partitions)))
        cond = [f"t.{col} IN ({values})" if values else "FALSE", f"t.{col} = s.{col}"] + cond
    return " AND ".join(cond)

"""The Delta Lake bridge: the only module that knows how tables are stored and read.

Spark cannot load Delta's jars on our machines (Maven is unreachable), so by default tables are
written and read through delta-rs (``deltalake``):

- **read**: Spark reads the parquet files of a table's snapshot (current or a past version) listed by
  delta-rs, after checking that the table's protocol lets a plain parquet reader see it correctly
  (no deletion vectors, no column mapping);
- **write**: Spark stages parquet, then delta-rs commits it (append, or MERGE insert-if-absent) as one
  Delta transaction that carries the batch id in its commit metadata.

Where Spark has the Delta jars (a cluster with delta-spark installed), ``spark_jobs.native_lake.NativeLake``
does the same with ``format("delta")`` and delta-spark's MERGE. ``open_lake`` picks one by
``VIDREC_DELTA_MODE``; both build on ``spark_jobs.lake_base.BaseLake``.
"""
from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path
from typing import Iterable

from spark_jobs.lake_base import (BaseLake, UnsupportedTableProtocol, commit_properties, literal, merge_predicate,
                                  table_of)
from spark_jobs.native_lake import NativeLake, native_delta_available
from vidrec.settings import Settings
from vidrec.tables import TABLES, Table, arrow_schema

__all__ = ["BaseLake", "BridgeLake", "NativeLake", "UnsupportedTableProtocol", "native_delta_available", "open_lake",
           "stats"]
# Reader features a plain parquet scan of the listed files still reads correctly.
_SAFE_READER_FEATURES = {"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"}


class BridgeLake(BaseLake):
    """Delta through delta-rs; Spark reads snapshot file lists and stages parquet for commits."""

    mode = "bridge"

    def _snapshot(self, table: Table, version: int | None):
        from deltalake import DeltaTable

        dt = DeltaTable(str(self.path(table)), version=version)
        p = dt.protocol()
        risky = set(p.reader_features or ()) - _SAFE_READER_FEATURES
        if p.min_reader_version > 1 and risky:
            raise UnsupportedTableProtocol(
                f"{table.name}: reader v{p.min_reader_version} with {sorted(risky)}; a parquet scan would misread it"
            )
        return dt

    def read(self, table: Table | str, *, version: int | None = None, partitions: dict | None = None):
        """The table (a past ``version`` if given) as a Spark DataFrame, optionally pruned to partitions."""
        t = table_of(table)
        if not self.exists(t):
            return self.empty_frame(t)
        dt = self._snapshot(t, version)
        pruning = [(col, "in", sorted(vals)) for col, vals in (partitions or {}).items()] or None
        files = dt.file_uris(file_pruning_predicate=pruning) if pruning else dt.file_uris()
        if not files:
            return self.empty_frame(t)
        return self.spark.read.schema(t.schema).option("basePath", str(self.path(t))).parquet(*files)

    @contextlib.contextmanager
    def _staged(self, table: Table, df):
        """The frame's table columns written by Spark to a private parquet folder, removed afterwards."""
        staging = Path(self.settings.staging_dir) / "_commits" / uuid.uuid4().hex
        df.select(*table.columns).write.mode("overwrite").parquet(str(staging))
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _reader(staging: Path, table: Table):
        import pyarrow.dataset as pds

        if not staging.exists():
            return 0, None
        schema = arrow_schema(table.schema)
        data = pds.dataset(str(staging), format="parquet", schema=schema)
        return data.count_rows(), data.scanner(batch_size=256_000).to_reader()

    def append_staged(self, table: Table | str, staged: Path, *, batch_id: str | None = None) -> int:
        """Commit a folder of parquet files (Spark's output) as one append; returns rows (0: no commit)."""
        from deltalake import write_deltalake

        t = table_of(table)
        self.ensure(t)
        rows, reader = self._reader(staged, t)
        if rows:
            write_deltalake(str(self.path(t)), reader, mode="append", partition_by=list(t.partition_by) or None,
                            commit_properties=commit_properties(batch_id))
        return rows

    def merge_insert_staged(self, table: Table | str, staged: Path, *, batch_id: str | None = None,
                            partitions: Iterable[str] | None = None) -> int:
        """Insert staged rows whose key is not in the table yet (MERGE ... WHEN NOT MATCHED INSERT)."""
        from deltalake import DeltaTable

        t = table_of(table)
        self.ensure(t)
        rows, reader = self._reader(staged, t)
        if not rows:
            return 0
        metrics = (
            DeltaTable(str(self.path(t)))
            .merge(reader, predicate=merge_predicate(t, partitions), source_alias="s", target_alias="t",
                   commit_properties=commit_properties(batch_id))
            .when_not_matched_insert_all()
            .execute()
        )
        return int(metrics["num_target_rows_inserted"])

    def replace_partition(self, table: Table | str, df, ds: str) -> int:
        """Overwrite exactly one ``ds`` partition with the frame's rows (idempotent re-runs of a day)."""
        from deltalake import write_deltalake

        t = table_of(table)
        self.ensure(t)
        with self._staged(t, df) as staging:
            rows, reader = self._reader(staging, t)
            if reader is None:
                return 0
            write_deltalake(str(self.path(t)), reader, mode="overwrite", predicate=f"ds = '{literal(ds)}'",
                            partition_by=list(t.partition_by) or None, commit_properties=commit_properties(f"ds={ds}"))
            return rows

    def append(self, table: Table | str, df, *, batch_id: str | None = None) -> int:
        """Append a Spark DataFrame as one commit; returns rows written (0: nothing committed)."""
        with self._staged(table_of(table), df) as staging:
            return self.append_staged(table, staging, batch_id=batch_id)

    def merge_insert(self, table: Table | str, df, *, batch_id: str | None = None,
                     partitions: Iterable[str] | None = None) -> int:
        with self._staged(table_of(table), df) as staging:
            return self.merge_insert_staged(table, staging, batch_id=batch_id, partitions=partitions)


def open_lake(settings: Settings, spark=None) -> BaseLake:
    """The lake for these settings: delta-rs bridge, or native delta-spark where its jars are present."""
    mode = settings.delta_mode
    if mode == "native" or (mode == "auto" and spark is not None and native_delta_available(spark)):
        return NativeLake(settings, spark)
    return BridgeLake(settings, spark)


def stats(settings: Settings) -> dict:
    """Row count and Delta version of every table, from the Delta log alone (no Spark, no data scan)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    out = {}
    for name in TABLES:
        path = Path(settings.lake_root) / name
        if not (path / "_delta_log").is_dir():
            out[name] = {"rows": 0, "version": None, "path": str(path)}
            continue
        dt = DeltaTable(str(path))
        adds = pa.table(dt.get_add_actions(flatten=True))
        rows = pc.sum(adds["num_records"]).as_py() if adds.num_rows else 0
        out[name] = {"rows": int(rows or 0), "version": dt.version(), "files": adds.num_rows, "path": str(path)}
    return {"lake_root": str(settings.lake_root), "tables": out}

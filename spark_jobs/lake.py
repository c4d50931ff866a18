"""The Delta Lake bridge: the only module that knows how tables are stored and read.

Spark cannot load Delta's jars on our machines (Maven is unreachable), so by default tables are
written and read through delta-rs (``deltalake``):

- **read**: Spark reads the parquet files of a table's snapshot (current or a past version) listed by
  delta-rs, after checking that the table's protocol lets a plain parquet reader see it correctly
  (no deletion vectors, no column mapping);
- **write**: Spark stages parquet, then delta-rs commits it (append, or MERGE insert-if-absent) as one
  Delta transaction that carries the batch id in its commit metadata.

Where Spark has the Delta jars (a cluster with delta-spark installed), ``NativeLake`` does the same with
``format("delta")`` and delta-spark's MERGE. ``open_lake`` picks one by ``VIDREC_DELTA_MODE``.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path
from typing import Iterable

from vidrec.settings import Settings
from vidrec.tables import TABLES, Table, arrow_schema

BATCH_KEY = "vidrec.batch"
# Reader features a plain parquet scan of the listed files still reads correctly.
_SAFE_READER_FEATURES = {"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"}


def _table(t: Table | str) -> Table:
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
        return self.root / _table(table).name

    def exists(self, table: Table | str) -> bool:
        return (self.path(table) / "_delta_log").is_dir()

    def empty_frame(self, table: Table | str):
        return self.spark.createDataFrame([], _table(table).schema)

    def ensure(self, table: Table | str) -> None:
        """Create the table empty (schema and partitioning from vidrec.tables) if it does not exist."""
        from deltalake import DeltaTable

        t = _table(table)
        if not self.exists(t):
            self.path(t).mkdir(parents=True, exist_ok=True)
            DeltaTable.create(str(self.path(t)), schema=arrow_schema(t.schema), mode="ignore",
                              partition_by=list(t.partition_by) or None)

    def version(self, table: Table | str) -> int | None:
        from deltalake import DeltaTable

        return DeltaTable(str(self.path(table))).version() if self.exists(table) else None

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

        t = _table(table)
        self.ensure(t)
        if rows:
            data = pa.Table.from_pylist(rows, schema=arrow_schema(t.schema))
            write_deltalake(str(self.path(t)), data, mode="append", partition_by=list(t.partition_by) or None,
                            commit_properties=_commit(batch_id))
        return len(rows)


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
        t = _table(table)
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

        t = _table(table)
        self.ensure(t)
        rows, reader = self._reader(staged, t)
        if rows:
            write_deltalake(str(self.path(t)), reader, mode="append", partition_by=list(t.partition_by) or None,
                            commit_properties=_commit(batch_id))
        return rows

    def merge_insert_staged(self, table: Table | str, staged: Path, *, batch_id: str | None = None,
                            partitions: Iterable[str] | None = None) -> int:
        """Insert staged rows whose key is not in the table yet (MERGE ... WHEN NOT MATCHED INSERT)."""
        from deltalake import DeltaTable

        t = _table(table)
        self.ensure(t)
        rows, reader = self._reader(staged, t)
        if not rows:
            return 0
        metrics = (
            DeltaTable(str(self.path(t)))
            .merge(reader, predicate=_merge_predicate(t, partitions), source_alias="s", target_alias="t",
                   commit_properties=_commit(batch_id))
            .when_not_matched_insert_all()
            .execute()
        )
        return int(metrics["num_target_rows_inserted"])

    def replace_partition(self, table: Table | str, df, ds: str) -> int:
        """Overwrite exactly one ``ds`` partition with the frame's rows (idempotent re-runs of a day)."""
        from deltalake import write_deltalake

        t = _table(table)
        self.ensure(t)
        with self._staged(t, df) as staging:
            rows, reader = self._reader(staging, t)
            if reader is None:
                return 0
            write_deltalake(str(self.path(t)), reader, mode="overwrite", predicate=f"ds = '{_literal(ds)}'",
                            partition_by=list(t.partition_by) or None, commit_properties=_commit(f"ds={ds}"))
            return rows

    def append(self, table: Table | str, df, *, batch_id: str | None = None) -> int:
        """Append a Spark DataFrame as one commit; returns rows written (0: nothing committed)."""
        with self._staged(_table(table), df) as staging:
            return self.append_staged(table, staging, batch_id=batch_id)

    def merge_insert(self, table: Table | str, df, *, batch_id: str | None = None,
                     partitions: Iterable[str] | None = None) -> int:
        with self._staged(_table(table), df) as staging:
            return self.merge_insert_staged(table, staging, batch_id=batch_id, partitions=partitions)


class NativeLake(BaseLake):
    """Delta through delta-spark, for a Spark that has the io.delta jars (a cluster). Same interface."""

    mode = "native"

    def read(self, table: Table | str, *, version: int | None = None, partitions: dict | None = None):
        from pyspark.sql import functions as F

        t = _table(table)
        if not self.exists(t):
            return self.empty_frame(t)
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        df = reader.load(str(self.path(t)))
        for col, vals in (partitions or {}).items():
            df = df.where(F.col(col).isin(sorted(vals)))
        return df.select(*t.columns)

    def _writer(self, df, batch_id):
        w = df.write.format("delta")
        return w.option("userMetadata", batch_id) if batch_id else w

    def append(self, table: Table | str, df, *, batch_id: str | None = None) -> int:
        t = _table(table)
        rows = df.count()
        if rows:
            self._writer(df.select(*t.columns), batch_id).mode("append").partitionBy(*t.partition_by).save(
                str(self.path(t)))
        return rows

    def replace_partition(self, table: Table | str, df, ds: str) -> int:
        t = _table(table)
        rows = df.count()
        (df.select(*t.columns).write.format("delta").mode("overwrite").option("replaceWhere", f"ds = '{_literal(ds)}'")
         .partitionBy(*t.partition_by).save(str(self.path(t))))
        return rows

    def append_staged(self, table: Table | str, staged: Path, *, batch_id: str | None = None) -> int:
        return self.append(table, self.spark.read.schema(_table(table).schema).parquet(str(staged)), batch_id=batch_id)

    def merge_insert_staged(self, table: Table | str, staged: Path, *, batch_id: str | None = None,
                            partitions: Iterable[str] | None = None) -> int:
        df = self.spark.read.schema(_table(table).schema).parquet(str(staged))
        return self.merge_insert(table, df, batch_id=batch_id, partitions=partitions)

    def merge_insert(self, table: Table | str, df, *, batch_id: str | None = None,
                     partitions: Iterable[str] | None = None) -> int:
        from delta.tables import DeltaTable

        t = _table(table)
        if not self.exists(t):
            return self.append(t, df, batch_id=batch_id)
        metrics = (DeltaTable.forPath(self.spark, str(self.path(t))).alias("t")
                   .merge(df.select(*t.columns).alias("s"), _merge_predicate(t, partitions))
                   .whenNotMatchedInsertAll().execute())
        return int(metrics.first()["num_inserted_rows"]) if metrics is not None else 0


def _commit(batch_id: str | None):
    from deltalake import CommitProperties

    return CommitProperties(custom_metadata={BATCH_KEY: batch_id}) if batch_id else None


def _literal(value: str) -> str:
    return str(value).replace("'", "''")


def _merge_predicate(t: Table, partitions: Iterable[str] | None) -> str:
    """Key equality, plus the partitions touched as literals so MERGE scans only those files."""
    cond = [f"t.{k} = s.{k}" for k in t.key]
    if t.partition_by and partitions is not None:
        col = t.partition_by[0]
        values = ", ".join(f"'{_literal(v)}'" for v in sorted(set(partitions)))
        cond = [f"t.{col} IN ({values})" if values else "FALSE", f"t.{col} = s.{col}"] + cond
    return " AND ".join(cond)


def native_delta_available(spark) -> bool:
    """True when this Spark session has delta-spark's jars and SQL extension loaded."""
    try:
        jvm = spark.sparkContext._jvm
        jvm.java.lang.Class.forName("io.delta.tables.DeltaTable", False,
                                    jvm.java.lang.Thread.currentThread().getContextClassLoader())
    except Exception:
        return False
    return "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions", "")


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

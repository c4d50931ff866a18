"""Delta through delta-spark, for a Spark that has the io.delta jars (a cluster); ``open_lake`` picks it.

Same interface as the delta-rs bridge (``spark_jobs.lake.BridgeLake``). These machines cannot load the
jars (Maven is unreachable), so here it is only chosen with VIDREC_DELTA_MODE=native on a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from spark_jobs.lake_base import BaseLake, literal, merge_predicate, table_of
from vidrec.tables import Table


class NativeLake(BaseLake):
    """Delta through delta-spark, for a Spark that has the io.delta jars (a cluster). Same interface."""

    mode = "native"

    def read(self, table: Table | str, *, version: int | None = None, partitions: dict | None = None):
        from pyspark.sql import functions as F

        t = table_of(table)
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
        t = table_of(table)
        rows = df.count()
        if rows:
            self._writer(df.select(*t.columns), batch_id).mode("append").partitionBy(*t.partition_by).save(
                str(self.path(t)))
        return rows

    def replace_partition(self, table: Table | str, df, ds: str) -> int:
        t = table_of(table)
        rows = df.count()
        (df.select(*t.columns).write.format("delta").mode("overwrite").option("replaceWhere", f"ds = '{literal(ds)}'")
         .partitionBy(*t.partition_by).save(str(self.path(t))))
        return rows

    def append_staged(self, table: Table | str, staged: Path, *, batch_id: str | None = None) -> int:
        df = self.spark.read.schema(table_of(table).schema).parquet(str(staged))
        return self.append(table, df, batch_id=batch_id)

    def merge_insert_staged(self, table: Table | str, staged: Path, *, batch_id: str | None = None,
                            partitions: Iterable[str] | None = None) -> int:
        df = self.spark.read.schema(table_of(table).schema).parquet(str(staged))
        return self.merge_insert(table, df, batch_id=batch_id, partitions=partitions)

    def merge_insert(self, table: Table | str, df, *, batch_id: str | None = None,
                     partitions: Iterable[str] | None = None) -> int:
        from delta.tables import DeltaTable

        t = table_of(table)
        if not self.exists(t):
            return self.append(t, df, batch_id=batch_id)
        metrics = (DeltaTable.forPath(self.spark, str(self.path(t))).alias("t")
                   .merge(df.select(*t.columns).alias("s"), merge_predicate(t, partitions))
                   .whenNotMatchedInsertAll().execute())
        return int(metrics.first()["num_inserted_rows"]) if metrics is not None else 0


def native_delta_available(spark) -> bool:
    """True when this Spark session has delta-spark's jars and SQL extension loaded."""
    try:
        jvm = spark.sparkContext._jvm
        jvm.java.lang.Class.forName("io.delta.tables.DeltaTable", False,
                                    jvm.java.lang.Thread.currentThread().getContextClassLoader())
    except Exception:
        return False
    return "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions", "")

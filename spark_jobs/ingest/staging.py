"""A validated batch on disk: one folder per kind, split by outcome (``<kind>/outcome=<outcome>/``), and
the quarantine rows derived from the rejected ones.

Spark writes each kind once; the counts come from the parquet footers of what was written (no Spark
job, exact even when a task was retried), and later steps read the outcome folders they need.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from spark_jobs.ingest.classify import CORRUPT, OUTCOME, OUTCOMES, REASON, SOURCE, staged_columns
from vidrec.tables import split_ddl

QUARANTINE_DIR = "quarantine"


def outcome_dir(root: Path, outcome: str) -> Path:
    return root / f"{OUTCOME}={outcome}"


def write_outcomes(df, columns: list[str], root: Path) -> dict[str, int]:
    """Stage ``columns`` of every row under ``root``, split by outcome (one Spark job); rows per outcome."""
    # Staged files live for minutes and are read once: no dictionary encoding (a third of Spark's write time).
    (staged_columns(df, columns).write.mode("overwrite").option("parquet.enable.dictionary", "false")
     .partitionBy(OUTCOME).parquet(str(root)))
    return count_outcomes(root)


def count_outcomes(root: Path) -> dict[str, int]:
    """Rows per outcome, from the parquet footers alone."""
    import pyarrow.dataset as pds

    counts = {}
    for outcome in OUTCOMES:
        folder = outcome_dir(root, outcome)
        counts[outcome] = pds.dataset(str(folder), format="parquet").count_rows() if folder.exists() else 0
    return counts


def read_outcome(spark, root: Path, outcome: str, ddl: str):
    """The staged rows of one outcome with the schema ``ddl`` (an empty frame when there are none)."""
    folder = outcome_dir(root, outcome)
    if not folder.exists():
        return spark.createDataFrame([], ddl)
    return spark.read.schema(ddl).parquet(str(folder))


def stage_keys(keys, root: Path) -> None:
    """Write a frame of keys (one Spark job), for read_keys."""
    keys.write.mode("overwrite").parquet(str(root))


def read_keys(spark, root: Path, key: str, most: int):
    """Keys staged by stage_keys: None when there are more than ``most``, else a frame, empty when there are none
    (Spark's optimizer then removes it from the plan: joins with it are decided without reading anything)."""
    import pyarrow.dataset as pds

    keys = pds.dataset(str(root), format="parquet").count_rows() if root.exists() else 0
    if keys > most:
        return None
    if keys:
        return spark.read.schema(f"{key} string").parquet(str(root))
    return spark.createDataFrame([], f"{key} string").limit(0)  # limit 0: known to be empty when planned


def rejected_ddl(fields_ddl: str, *extra: str) -> str:
    """The schema of staged rejected rows: the fields (plus ``extra`` columns) and the bookkeeping columns."""
    return ", ".join([fields_ddl, *extra, f"{CORRUPT} string, {SOURCE} string, {REASON} string"])


def to_quarantine(bad, *, kind: str, key: str, fields_ddl: str, batch_id: str, at: dt.datetime):
    """Rejected rows in the quarantine schema: the raw record (original JSON line or the row as JSON)."""
    from pyspark.sql import functions as F

    cols = [c.split(" ", 1)[0] for c in split_ddl(fields_ddl)]
    raw = F.coalesce(F.col(CORRUPT), F.to_json(F.struct(*cols)))
    at_naive = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (bad.withColumn("raw", raw)
            .select(F.sha2(F.concat_ws("|", F.lit(kind), F.col("raw")), 256).alias("quarantine_id"),
                    F.lit(kind).alias("kind"), F.col(key).alias("record_id"), F.col(REASON).alias("reason"),
                    "raw", F.col(SOURCE).alias("source_file"), F.lit(batch_id).alias("batch_id"),
                    F.lit(at_naive).cast("timestamp").alias("quarantined_at"),
                    F.lit(at_naive.date().isoformat()).alias("ds"))
            .dropDuplicates(["quarantine_id"]))


def stage_quarantine(spark, bdir: Path, kind: str, *, key: str, fields_ddl: str, batch_id: str,
                     at: dt.datetime) -> dict[str, int]:
    """Append the kind's rejected rows to the batch's quarantine folder; returns rows per reason."""
    bad = read_outcome(spark, bdir / kind, "rejected", rejected_ddl(fields_ddl))
    reasons = {r[REASON]: r["count"] for r in bad.groupBy(REASON).count().collect()}
    to_quarantine(bad, kind=kind, key=key, fields_ddl=fields_ddl, batch_id=batch_id, at=at).write.mode(
        "append").parquet(str(bdir / QUARANTINE_DIR))
    return reasons

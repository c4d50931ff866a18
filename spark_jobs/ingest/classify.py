"""What happens to each landed row: pure Spark transforms, no paths and no actions.

Every row of a batch gets exactly one ``outcome``:

- ``rejected``: unparseable, or it breaks a rule (``_reason`` names the first rule broken); quarantined;
- ``duplicate``: a clean row whose key an earlier clean row of the batch has (order: source file, then
  position in it), or whose key is already in the lake;
- ``unfit``: a clean, new row whose derived (silver) row breaks the silver contract; the batch then fails;
- ``accepted``: everything else.

The outcome is computed in the same pass that reads the rows, so one Spark write stages the whole batch
split by outcome, and the counts come from the staged files (read = accepted + rejected + duplicate + unfit).
"""

from __future__ import annotations

from spark_jobs import quality
from vidrec.tables import DS

CORRUPT, SOURCE, ROW, REASON, OUTCOME = "_corrupt", "_source_file", "_row", "_reason", "outcome"
ACCEPTED, DUPLICATE, REJECTED, UNFIT = "accepted", "duplicate", "rejected", "unfit"
OUTCOMES = (ACCEPTED, DUPLICATE, REJECTED, UNFIT)
_GROUP, _NTH, _LAKE_DAYS = "_group", "_nth", "_lake_days"


def read_landed(spark, files: list[dict], ddl: str):
    """Rows of the batch's files with the declared schema; unparseable JSON lines keep their text in _corrupt."""
    from pyspark.sql import functions as F

    frames = []
    by_format = {fmt: [f["path"] for f in files if f["format"] == fmt] for fmt in ("json", "parquet")}
    if by_format["json"]:
        frames.append(spark.read.schema(f"{ddl}, {CORRUPT} string").option("mode", "PERMISSIVE")
                      .option("columnNameOfCorruptRecord", CORRUPT).json(by_format["json"])
                      .withColumn(SOURCE, F.col("_metadata.file_path")))
    if by_format["parquet"]:
        frames.append(spark.read.schema(ddl).parquet(*by_format["parquet"])
                      .withColumn(CORRUPT, F.lit(None).cast("string")).withColumn(SOURCE, F.col("_metadata.file_path")))
    if not frames:
        return spark.createDataFrame([], f"{ddl}, {CORRUPT} string, {SOURCE} string").withColumn(
            ROW, F.monotonically_increasing_id())
    df = frames[0] if len(frames) == 1 else frames[0].unionByName(frames[1])
    return df.withColumn(ROW, F.monotonically_increasing_id())


def classify(df, rules: list[quality.Rule]):
    """Add _reason: malformed_record for unparseable rows, else the first rule broken, else null."""
    from pyspark.sql import functions as F

    return df.withColumn(REASON, F.when(F.col(CORRUPT).isNotNull(), F.lit(quality.MALFORMED))
                         .otherwise(quality.first_failed_rule(rules)))


def with_max_watch(df, max_watch_ratio: float):
    """Add _max_watch_ms = duration_ms x max_watch_ratio (null for an unknown video), the watch_ms rule's bound."""
    from pyspark.sql import functions as F

    return df.withColumn(quality.MAX_WATCH_MS, F.col("duration_ms") * F.lit(max_watch_ratio))


def mark_outcomes(df, key: str, *, partitions: int, existing=None, unfit_rules: list[quality.Rule] | None = None):
    """Add ``outcome`` to a classified frame (see the module docstring).

    One shuffle of the batch (``partitions`` tasks, by key) serves both the in-batch deduplication (a window)
    and the lookup in the lake: ``existing`` holds the lake's (key, ds) pairs, or None; a row is in the lake
    when its key is there with the row's ds. ``unfit_rules``: the silver contract, on the frame's own columns.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # Rows without a key are all rejected; a unique stand-in spreads them out instead of one huge group.
    df = df.withColumn(_GROUP, F.coalesce(F.col(key), F.concat(F.lit("\u0000"), F.col(ROW).cast("string"))))
    df = df.repartition(partitions, _GROUP)
    first_clean = Window.partitionBy(_GROUP).orderBy(F.col(REASON).isNotNull(), SOURCE, ROW)
    df = df.withColumn(_NTH, F.row_number().over(first_clean))
    in_lake = F.lit(False)
    if existing is not None:
        lake = (existing.select(F.col(key).alias(_GROUP), DS).repartition(partitions, _GROUP)
                .groupBy(_GROUP).agg(F.collect_set(DS).alias(_LAKE_DAYS)))
        df = df.join(lake, _GROUP, "left")  # co-partitioned with the window: only the lake side moves
        in_lake = F.coalesce(F.array_contains(F.col(_LAKE_DAYS), F.col(DS)), F.lit(False))
    unfit = quality.first_failed_rule(unfit_rules).isNotNull() if unfit_rules else F.lit(False)
    outcome = (F.when(F.col(REASON).isNotNull(), F.lit(REJECTED))
               .when((F.col(_NTH) > 1) | in_lake, F.lit(DUPLICATE))
               .when(unfit, F.lit(UNFIT))
               .otherwise(F.lit(ACCEPTED)))
    return df.withColumn(OUTCOME, outcome).drop(_GROUP, _NTH, _LAKE_DAYS)


def staged_columns(df, columns: list[str]):
    """The columns to stage, plus ``outcome``: duplicates keep only their outcome (they are counted, not kept);
    the bookkeeping columns (_corrupt, _source_file, _reason) are kept for rejected rows only."""
    from pyspark.sql import functions as F

    outcome = F.col(OUTCOME)
    kept = [F.when(outcome != F.lit(DUPLICATE), F.col(c)).alias(c) for c in columns]
    book = [F.when(outcome == F.lit(REJECTED), F.col(c)).alias(c) for c in (CORRUPT, SOURCE, REASON)]
    return df.select(*kept, *book, outcome)

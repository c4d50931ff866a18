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
from spark_jobs.ingest.pseudonyms import pseudonymized
from vidrec.tables import DS

CORRUPT, SOURCE, ROW, REASON, OUTCOME = "_corrupt", "_source_file", "_row", "_reason", "outcome"
ACCEPTED, DUPLICATE, REJECTED, UNFIT = "accepted", "duplicate", "rejected", "unfit"
OUTCOMES = (ACCEPTED, DUPLICATE, REJECTED, UNFIT)
_GROUP, _NTH, _LAKE_DAYS, _SEEN = "_group", "_nth", "_lake_days", "_seen"


def read_landed(spark, files: list[dict], ddl: str, key: str = ""):
    """Rows of the batch's files with the declared schema; unparseable JSON lines keep their text in _corrupt.
    With ``key`` (``pseudonyms.key_of``), user ids are pseudonymized (``pseudonyms.pseudonymized``)."""
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
    df = pseudonymized(df, key, source=SOURCE, corrupt=CORRUPT)
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


def suspect_keys(rows, key: str, existing=None):
    """The keys that can make a row a duplicate at all: held by more than one row of the batch, or already in
    the lake (``existing``: the lake's rows of the batch's days). Keys only: a narrow shuffle and no sort, so the
    whole batch need not be shuffled when (as usual) few or no rows share a key. A key may be listed twice."""
    from pyspark.sql import functions as F

    keys = rows.select(key).where(F.col(key).isNotNull())
    repeated = keys.groupBy(key).count().where(F.col("count") > 1).select(key)
    return repeated if existing is None else repeated.unionByName(keys.join(existing.select(key), key, "left_semi"))


def mark_outcomes(df, key: str, *, partitions: int, existing=None, unfit_rules: list[quality.Rule] | None = None,
                  suspects=None):
    """Add ``outcome`` to a classified frame (see the module docstring).

    ``existing`` holds the lake's (key, ds) pairs, or None; a row is in the lake when its key is there with the
    row's ds. ``unfit_rules``: the silver contract, on the frame's own columns. ``suspects``: the keys that can be
    duplicates (suspect_keys), few enough to be sent to every task; only their rows go through the shuffle of
    ``_seen``, every other row is decided where it is read (with suspects, the batch is read once for each
    part; with none, Spark drops the second part when it plans). None: every key is a suspect.
    """
    from pyspark.sql import functions as F

    if suspects is None:
        seen = _seen(df, key, partitions, existing)
    else:
        suspects = F.broadcast(suspects)
        lake = existing.join(suspects, key, "left_semi") if existing is not None else None
        seen = (df.join(suspects, key, "left_anti").withColumn(_SEEN, F.lit(False))
                .unionByName(_seen(df.join(suspects, key, "left_semi"), key, partitions, lake)))
    unfit = quality.first_failed_rule(unfit_rules).isNotNull() if unfit_rules else F.lit(False)
    outcome = (F.when(F.col(REASON).isNotNull(), F.lit(REJECTED))
               .when(F.col(_SEEN), F.lit(DUPLICATE))
               .when(unfit, F.lit(UNFIT))
               .otherwise(F.lit(ACCEPTED)))
    return seen.withColumn(OUTCOME, outcome).drop(_SEEN)


def _seen(df, key: str, partitions: int, existing=None):
    """Add ``_seen``: an earlier clean row of the batch has the row's key, or the lake has it on the row's day.

    One shuffle (``partitions`` tasks, by key) serves both the in-batch deduplication (a window) and the lookup
    in the lake (``existing``, or None), which joins co-partitioned with the window: only the lake side moves.
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
        df = df.join(lake, _GROUP, "left")
        in_lake = F.coalesce(F.array_contains(F.col(_LAKE_DAYS), F.col(DS)), F.lit(False))
    return df.withColumn(_SEEN, (F.col(_NTH) > 1) | in_lake).drop(_GROUP, _NTH, _LAKE_DAYS)


def staged_columns(df, columns: list[str]):
    """The columns to stage, plus ``outcome``: duplicates keep only their outcome (they are counted, not kept);
    the bookkeeping columns (_corrupt, _source_file, _reason) are kept for rejected rows only."""
    from pyspark.sql import functions as F

    outcome = F.col(OUTCOME)
    kept = [F.when(outcome != F.lit(DUPLICATE), F.col(c)).alias(c) for c in columns]
    book = [F.when(outcome == F.lit(REJECTED), F.col(c)).alias(c) for c in (CORRUPT, SOURCE, REASON)]
    return df.select(*kept, *book, outcome)

"""The served log (landing ``served/``: one record per feed response, ``serving.served_log``) -> the Delta table
``served``: one row per item, with its 1-based ``position``, so the lake can join what was shown to what users
did with it (events carry ``rec_id`` and ``position``).

A record is classified as a whole, by the same rules as the other kinds (``quality.served_rules``; a broken one
is quarantined with its reason) and deduplicated by ``rec_id`` within the batch and against the lake's rows of
the batch's days (the API's file of the current hour is ingested again once it has grown). Only accepted records
are exploded into items; a response that served nothing adds no row. Pure staging: the commit appends the
staged items (``spark_jobs.ingest.batch``).
"""

from __future__ import annotations

from pathlib import Path

from spark_jobs import quality
from spark_jobs.ingest.classify import ACCEPTED, OUTCOME, REJECTED, classify, mark_outcomes, read_landed
from spark_jobs.ingest.pseudonyms import key_of
from spark_jobs.ingest.staging import write_outcomes
from spark_jobs.lake import BaseLake
from vidrec.tables import DS, SERVED, SERVED_FIELDS

KIND = "served"
STAGED_COLUMNS = [*SERVED.columns, "video_ids", "shown"]  # kept for rejected records (their quarantine row)


def landed(spark, files: list[dict], key: str = ""):
    from pyspark.sql import functions as F

    return read_landed(spark, files, SERVED_FIELDS, key).withColumn(DS, F.date_format("served_at", "yyyy-MM-dd"))


def in_lake(lake: BaseLake, rows):
    """(rec_id, ds) of the responses the lake holds on the batch's days (None when it holds none of them)."""
    from pyspark.sql import functions as F

    lake_days = lake.partition_values(SERVED, DS)
    days = sorted(lake_days & {r[DS] for r in rows.select(DS).distinct().collect()}) if lake_days else []
    if not days:
        return None
    return lake.read(SERVED, partitions={DS: days}).where(F.col("position") == 1).select("rec_id", DS)


def items(rows):
    """Accepted records exploded into one row per served video (``position`` from 1); other records stay one
    row each (rejected ones keep their video ids for the quarantine)."""
    from pyspark.sql import functions as F

    accepted, shown = F.col(OUTCOME) == F.lit(ACCEPTED), F.col("shown")
    served = F.when(shown.isNotNull(), F.slice("video_ids", F.lit(1), F.greatest(shown, F.lit(0)))).otherwise(
        F.col("video_ids"))  # a stored list's ids, of which the first ``shown`` were served
    listed = F.when(accepted, served).otherwise(F.array(F.lit(None).cast("string")))
    exploded = rows.select("*", F.posexplode(listed).alias("_at", "_video"))
    return (exploded.withColumn("position", F.when(accepted, F.col("_at") + 1).cast("int"))
            .withColumn("video_id", F.col("_video"))
            .withColumn("video_ids", F.when(~accepted, F.col("video_ids")))
            .withColumn("shown", F.when(~accepted, shown))
            .drop("_at", "_video"))


def stage(lake: BaseLake, files: list[dict], bdir: Path, partitions: int) -> dict:
    """Classify, deduplicate and stage the batch's served records; rows per outcome (accepted: items)."""
    files = [f for f in files if f["kind"] == KIND]
    if not files:
        return {"items": 0, "quarantined": 0, "duplicates": 0}
    rows = landed(lake.spark, files, key_of(lake.settings))
    rows = mark_outcomes(classify(rows, quality.served_rules()), "rec_id", existing=in_lake(lake, rows),
                         partitions=partitions)
    counts = write_outcomes(items(rows), STAGED_COLUMNS, bdir / KIND)
    return {"items": counts[ACCEPTED], "quarantined": counts[REJECTED], "duplicates": counts["duplicate"]}

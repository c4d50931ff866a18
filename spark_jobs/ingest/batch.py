"""Ingestion: landing files -> validated rows in the lake, rejected rows in quarantine, nothing dropped.

Three steps, each safe to re-run for the same batch (Airflow runs them as separate tasks):

- land (spark_jobs.ingest.landing): snapshot new files into a manifest, move malformed files aside;
- validate: Spark reads the batch, Great Expectations validates it, every row is classified as accepted,
  quarantined (with the first rule it broke) or duplicate (event id seen in the batch or in the lake);
  accepted events, their interactions and quarantined rows are staged as parquet;
- commit: the staged parts are committed to Delta (MERGE for quarantine and catalog; appends for
  interactions and events, guarded by the batch id in the commit metadata), then the files are logged.

Invariant: read = accepted + quarantined + duplicates.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import logging
import shutil
import threading
import time
from pathlib import Path

from spark_jobs import quality

from spark_jobs.ingest import landing
from spark_jobs.ingest.interactions import to_interactions
from spark_jobs.lake import BaseLake, open_lake
from vidrec.settings import Settings
from vidrec.tables import (EVENT_FIELDS, EVENTS, INGEST_FILES, INTERACTIONS, QUARANTINE, USER_FIELDS, USERS,
                           VIDEO_FIELDS, VIDEOS, split_ddl)

log = logging.getLogger("vidrec.ingest")
CORRUPT, SOURCE, ROW, REASON = "_corrupt", "_source_file", "_row", "_reason"
CATALOG = {"videos": (VIDEOS, VIDEO_FIELDS, quality.video_rules), "users": (USERS, USER_FIELDS, quality.user_rules)}


@contextlib.contextmanager
def _phase(name: str):
    started = time.perf_counter()
    yield
    log.info("%s took %.1f s", name, time.perf_counter() - started)


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


def first_per_key(df, key: str):
    """One row per key: the first by (source file, position). Later copies are duplicates."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy(key).orderBy(SOURCE, ROW)
    return df.withColumn("_n", F.row_number().over(w)).where(F.col("_n") == 1).drop("_n")


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


def _rows(path: Path) -> int:
    import pyarrow.dataset as pds

    return pds.dataset(str(path), format="parquet").count_rows() if path.exists() else 0


def _validate_catalog(lake: BaseLake, files: list[dict], kind: str, bdir: Path, batch_id: str, at: dt.datetime):
    """Stage new catalog rows (insert-only by id) and quarantine bad ones; returns counts and the accepted frame."""
    from pyspark.sql import functions as F

    table, ddl, rules_fn = CATALOG[kind]
    files = [f for f in files if f["kind"] == kind]
    if not files:
        return {"read": 0, "quarantined": 0}, lake.spark.createDataFrame([], table.schema)
    df = classify(read_landed(lake.spark, files, ddl), rules_fn()).cache()
    by_reason = {r[REASON]: r["count"] for r in df.groupBy(REASON).count().collect()}
    counts = {"read": sum(by_reason.values()), "quarantined": sum(n for r, n in by_reason.items() if r)}
    first_per_key(df.where(F.col(REASON).isNull()), table.key[0]).select(*table.columns).write.mode(
        "overwrite").parquet(str(bdir / kind))
    if counts["quarantined"]:
        to_quarantine(df.where(F.col(REASON).isNotNull()), kind=kind, key=table.key[0], fields_ddl=ddl,
                      batch_id=batch_id, at=at).write.mode("append").parquet(str(bdir / "quarantine"))
    df.unpersist()
    return counts, lake.spark.read.schema(table.schema).parquet(str(bdir / kind))


def _classified_events(lake: BaseLake, settings: Settings, files: list[dict], new_videos, at: dt.datetime):
    """The batch's events joined with video durations and classified (cached); plus the rules used."""
    from pyspark.sql import functions as F

    cols = ["video_id", "duration_ms"]
    known = lake.read(VIDEOS).select(*cols).unionByName(new_videos.select(*cols))
    rules = quality.event_rules(settings, at)
    events = (read_landed(lake.spark, [f for f in files if f["kind"] == "events"], EVENT_FIELDS)
              .join(known.dropDuplicates(["video_id"]), "video_id", "left")
              .withColumn(quality.MAX_WATCH_MS, F.col("duration_ms") * F.lit(settings.max_watch_ratio))
              .withColumn("ds", F.date_format("ts", "yyyy-MM-dd")))
    return classify(events, rules).cache(), rules


def _stage_new_events(lake: BaseLake, events, bdir: Path) -> list[str]:
    """Stage the first copy of each clean event not already in the lake; returns the days it covers."""
    from pyspark.sql import functions as F

    clean = events.where(F.col(REASON).isNull())
    dates = sorted(r.ds for r in clean.select("ds").distinct().collect())  # one row per day in the batch
    existing = lake.read(EVENTS, partitions={"ds": dates}).select("event_id", "ds")
    # Staged with duration_ms: the events commit reads its own columns from here; interactions derive from it.
    (first_per_key(clean, "event_id").join(existing, ["event_id", "ds"], "left_anti")
     .select(*EVENTS.columns, "duration_ms").write.mode("overwrite").parquet(str(bdir / "events")))
    return dates


def validate(settings: Settings, batch_id: str, lake: BaseLake | None = None) -> dict:
    """Classify every row of the batch and stage the results; writes and returns validated.json."""
    from pyspark.sql import functions as F

    bdir = landing.batch_dir(settings, batch_id)
    if (bdir / "validated.json").exists():
        return json.loads((bdir / "validated.json").read_text())
    manifest = landing.load_manifest(settings, batch_id)
    # Great Expectations takes seconds to import: let that overlap with the Spark work before it is needed.
    threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True).start()
    lake, at = lake or open_lake(settings), dt.datetime.fromisoformat(manifest["landed_at"])
    for part in ("quarantine", "events", "interactions", "videos", "users"):
        shutil.rmtree(bdir / part, ignore_errors=True)
    with _phase("catalog"):
        catalog, staged = {}, {}
        for kind in CATALOG:
            catalog[kind], staged[kind] = _validate_catalog(lake, manifest["files"], kind, bdir, batch_id, at)
    with _phase("classify"):
        events, rules = _classified_events(lake, settings, manifest["files"], staged["videos"], at)
        reasons = {r[REASON]: r["count"] for r in events.groupBy(REASON).count().collect()}  # fills the cache
        read = sum(reasons.values())
        reasons.pop(None, None)
    with _phase("great_expectations(events)"):
        report = quality.run_suite(events.where(F.col(CORRUPT).isNull()), rules, "events_batch", "BOOLEAN_ONLY")
    with _phase("stage"):
        if reasons:
            to_quarantine(events.where(F.col(REASON).isNotNull()), kind="events", key="event_id",
                          fields_ddl=EVENT_FIELDS, batch_id=batch_id, at=at).write.mode("append").parquet(
                str(bdir / "quarantine"))
        dates = _stage_new_events(lake, events, bdir)
        events.unpersist()
        accepted = lake.spark.read.schema(f"{EVENTS.schema}, duration_ms long").parquet(str(bdir / "events"))
        to_interactions(accepted).write.mode("overwrite").parquet(str(bdir / "interactions"))
    with _phase("great_expectations(interactions)"):
        silver = lake.spark.read.schema(INTERACTIONS.schema).parquet(str(bdir / "interactions"))
        gate = quality.validate_or_raise(silver, quality.interaction_rules(settings), "interactions_batch",
                                         "BOOLEAN_ONLY")
    accepted_n, quarantined = _rows(bdir / "events"), sum(reasons.values())
    result = {
        "batch": batch_id, "files": len(manifest["files"]), "files_rejected": len(manifest["rejected"]),
        "read": read, "accepted": accepted_n, "quarantined": quarantined,
        "duplicates": read - accepted_n - quarantined, "reasons": reasons, "catalog": catalog, "dates": dates,
        "expectations": report, "interactions_gate": gate,
    }
    (bdir / "validated.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def commit(settings: Settings, batch_id: str, lake: BaseLake | None = None) -> dict:
    """Commit the staged batch to Delta. Each write is idempotent, so a retried commit changes nothing twice."""
    bdir = landing.batch_dir(settings, batch_id)
    done = bdir / "committed.json"
    if done.exists():
        return json.loads(done.read_text())
    validated_path = bdir / "validated.json"
    if not validated_path.exists():
        raise FileNotFoundError(f"batch {batch_id} is not validated: run `vidrec ingest --step validate` first")
    v = json.loads(validated_path.read_text())
    manifest = landing.load_manifest(settings, batch_id)
    lake = lake or open_lake(settings)
    for table in (EVENTS, INTERACTIONS, QUARANTINE, VIDEOS, USERS, INGEST_FILES):
        lake.ensure(table)
    written = {
        "quarantine": lake.merge_insert_staged(QUARANTINE, bdir / "quarantine", batch_id=batch_id),
        "videos": lake.merge_insert_staged(VIDEOS, bdir / "videos", batch_id=batch_id),
        "users": lake.merge_insert_staged(USERS, bdir / "users", batch_id=batch_id),
    }
    # Accepted rows are new by construction (validate anti-joined them with the lake); the batch id in the
    # commit metadata makes a retried commit skip what it already appended.
    for table in (INTERACTIONS, EVENTS):
        if batch_id not in lake.committed_batches(table):
            written[table.name] = lake.append_staged(table, bdir / table.name, batch_id=batch_id)
    known = landing.ingested_keys(settings)
    log = [r for r in _log_rows(manifest, batch_id) if (r["path"], r["size"], r["mtime"]) not in known]
    if batch_id not in lake.committed_batches(INGEST_FILES):
        lake.append_rows(INGEST_FILES, log, batch_id=batch_id)
    result = {k: v[k] for k in ("batch", "read", "accepted", "quarantined", "duplicates", "files", "files_rejected",
                                "reasons", "catalog")}
    result["written"] = written
    done.write_text(json.dumps(result, indent=1))
    for part in ("events", "interactions", "videos", "users", "quarantine"):
        shutil.rmtree(bdir / part, ignore_errors=True)
    return result


def _log_rows(manifest: dict, batch_id: str) -> list[dict]:
    at = dt.datetime.fromisoformat(manifest["landed_at"])
    ok = [{**f, "status": "ingested", "error": None} for f in manifest["files"]]
    bad = [{**f, "status": "rejected"} for f in manifest["rejected"]]
    return [{"path": f["path"], "size": f["size"], "mtime": f["mtime"], "kind": f["kind"], "batch_id": batch_id,
             "status": f["status"], "error": f["error"], "rows_read": None, "ingested_at": at} for f in ok + bad]


def run_step(settings: Settings, step: str = "all", *, paths: list[Path] | None = None, batch_id: str | None = None,
             force: bool = False) -> dict:
    """One step of a batch, or all three in one process (what `vidrec ingest` does by default)."""
    if step != "all" and not batch_id:
        raise ValueError("--batch is required when running a single step")
    batch_id = batch_id or landing.new_batch_id()
    if step == "land":
        m = landing.land(settings, paths, batch_id, force)
        return {"batch": batch_id, "files": len(m["files"]), "files_rejected": len(m["rejected"]),
                "rejected": [{"path": r["path"], "error": r["error"]} for r in m["rejected"]]}
    if step == "validate":
        return validate(settings, batch_id)
    if step == "commit":
        return commit(settings, batch_id)
    m = landing.land(settings, paths, batch_id, force)
    if not m["files"]:
        return {"batch": batch_id, "read": 0, "accepted": 0, "quarantined": 0, "duplicates": 0, "files": 0,
                "files_rejected": len(m["rejected"]), "note": "no new files"}
    lake = open_lake(settings)
    validate(settings, batch_id, lake)
    return commit(settings, batch_id, lake)

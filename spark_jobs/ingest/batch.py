"""Ingestion: landing files -> validated rows in the lake, rejected rows in quarantine, nothing dropped.

Three steps, each safe to re-run for the same batch (Airflow runs them as separate tasks):

- land (spark_jobs.ingest.landing): snapshot new files into a manifest, move malformed files aside;
- validate: a job over the event ids alone stages the few that can be duplicates (repeated in the batch, or in
  the lake's partitions of the batch's days); then one Spark job gives every row one outcome
  (spark_jobs.ingest.classify), shuffling only the rows of those ids: accepted, rejected (quarantined with
  the first rule it broke), duplicate (event id seen earlier in the batch or already in the lake on the row's
  day) or unfit (breaks the silver contract: the step fails). One write per kind stages the rows split by
  outcome, accepted events together with their interaction columns (spark_jobs.ingest.staging); the counts
  come from the staged files; Great Expectations validates the rows that can fail plus a sample
  (spark_jobs.ingest.expectations);
- commit: the staged parts are committed to Delta (MERGE for quarantine and catalog; appends for
  interactions and events, guarded by the batch id in the commit metadata), then the files are logged.

Invariant: read = accepted + quarantined + duplicates.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from spark_jobs import quality
from spark_jobs.ingest import expectations, gx_process, landing, served
from spark_jobs.ingest.classify import (ACCEPTED, DUPLICATE, REJECTED, UNFIT, classify, mark_outcomes, read_landed,
                                        suspect_keys, with_max_watch)
from spark_jobs.ingest.interactions import with_interaction_columns
from spark_jobs.ingest.pseudonyms import key_of
from spark_jobs.ingest.staging import (QUARANTINE_DIR, outcome_dir, read_outcome, read_keys, stage_keys,
                                      stage_quarantine, write_outcomes)
from spark_jobs.lake import BaseLake, open_lake
from spark_jobs.session import build_spark
from vidrec.settings import Settings
from vidrec.tables import (DS, EVENT_FIELDS, EVENTS, INGEST_FILES, INTERACTIONS, QUARANTINE, SERVED, SERVED_FIELDS, TS,
                           USER_FIELDS, USERS, VIDEO_FIELDS, VIDEOS)

log = logging.getLogger("vidrec.ingest")
CATALOG = {"videos": (VIDEOS, VIDEO_FIELDS, quality.video_rules), "users": (USERS, USER_FIELDS, quality.user_rules)}
KINDS = ("events", *CATALOG, served.KIND)
STAGED_EVENT_COLUMNS = [*EVENTS.columns, "duration_ms", "watch_fraction", "weight"]
BYTES_PER_TASK = 32 << 20  # landed bytes per shuffle task
SUSPECTS = "suspects"  # the staged event ids that can be duplicates
MOST_SUSPECTS = 200_000  # more (a replayed batch): the whole batch is shuffled, not split by suspect keys
LAYOUT = 2  # validated.json's "layout": staged folders split by outcome (1: a folder per table)


@contextlib.contextmanager
def _phase(name: str):
    started = time.perf_counter()
    yield
    log.info("%s took %.1f s", name, time.perf_counter() - started)


def _spark_lake(settings: Settings) -> BaseLake:
    """The lake, its Spark session started first as one for a short job (build_spark's getOrCreate then hands
    the lake that session; an in-process JVM compiles with C1 only)."""
    build_spark(settings, short_lived=True)
    return open_lake(settings)


def _of_kind(files: list[dict], kind: str) -> list[dict]:
    return [f for f in files if f["kind"] == kind]


def shuffle_partitions(settings: Settings, files: list[dict]) -> int:
    """Tasks for the batch's one shuffle: one per BYTES_PER_TASK of landed files, at least 2 (both local cores),
    at most VIDREC_SPARK_SHUFFLE_PARTITIONS (more tasks than the data needs cost CPU, not only time)."""
    landed = sum(f["size"] for f in files)
    return max(2, min(settings.spark_shuffle_partitions, -(-landed // BYTES_PER_TASK)))


def _stage_catalog(lake: BaseLake, files: list[dict], kind: str, bdir: Path) -> dict:
    """Stage one catalog kind split by outcome (new keys are inserted by the commit's MERGE); its counts."""
    table, ddl, rules_fn = CATALOG[kind]
    files = _of_kind(files, kind)
    if not files:
        return {"read": 0, "quarantined": 0}
    rows = mark_outcomes(classify(read_landed(lake.spark, files, ddl, key_of(lake.settings)), rules_fn()), table.key[0],
                         partitions=shuffle_partitions(lake.settings, files))
    counts = write_outcomes(rows, table.columns, bdir / kind)
    return {"read": sum(counts.values()), "quarantined": counts[REJECTED]}


def _lookup_days(lake: BaseLake, files: list[dict]) -> list[str]:
    """The days of the lake's ``events`` that the batch's duplicates can be on: the lake's days (from the Delta
    log) within the batch's first and last day (from the Parquet footers the land step read), or, when a file
    does not tell (JSON lines), that the batch has (a Spark pass over its ts column alone)."""
    from pyspark.sql import functions as F

    lake_days = lake.partition_values(EVENTS, DS)
    known = [f.get("ts_days") for f in files]
    if not lake_days or all(days is not None for days in known):
        bounds = [day for days in known for day in days or ()]
        return sorted(d for d in lake_days if bounds and min(bounds) <= d <= max(bounds))
    events = _landed_events(lake, files).where(F.col(TS).isNotNull())
    return sorted(lake_days & {r.ds for r in events.select(DS).distinct().collect()})


def _landed_events(lake: BaseLake, files: list[dict]):
    from pyspark.sql import functions as F

    landed = read_landed(lake.spark, files, EVENT_FIELDS, key_of(lake.settings))
    return landed.withColumn("ds", F.date_format(TS, "yyyy-MM-dd"))


def _existing_events(lake: BaseLake, dates: list[str]):
    return lake.read(EVENTS, partitions={"ds": dates}).select("event_id", "ds")


def _stage_suspects(lake: BaseLake, files: list[dict], bdir: Path) -> list[str]:
    """Stage the event ids that can be duplicates (classify.suspect_keys) in a job over the keys alone; returns
    the lake days they were looked up in."""
    files = _of_kind(files, "events")
    dates = _lookup_days(lake, files)
    stage_keys(suspect_keys(_landed_events(lake, files), "event_id", _existing_events(lake, dates)), bdir / SUSPECTS)
    return dates


def _stage_catalog_and_suspects(lake: BaseLake, files: list[dict], bdir: Path) -> tuple[dict, list[str]]:
    """Both catalog kinds staged, and the event ids that can be duplicates with the lake days to look them up in:
    independent Spark jobs, submitted side by side (the gaps between one's jobs, planning and round trips, are
    the others' work time)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        days = pool.submit(_stage_suspects, lake, files, bdir)
        users = pool.submit(_stage_catalog, lake, files, "users", bdir)
        catalog = {"videos": _stage_catalog(lake, files, "videos", bdir), "users": users.result()}
        return catalog, days.result()


def _stage_events(lake: BaseLake, settings: Settings, files: list[dict], rules: list[quality.Rule], bdir: Path,
                  dates: list[str]) -> dict[str, int]:
    """Classify, deduplicate (in the batch, and against the lake's ``dates``) and stage the batch's events in
    one write; rows per outcome. Only the rows of the staged suspect keys are shuffled (unless they are many)."""
    files = _of_kind(files, "events")
    cols = ["video_id", "duration_ms"]
    known = lake.read(VIDEOS).select(*cols).unionByName(
        read_outcome(lake.spark, bdir / "videos", ACCEPTED, VIDEOS.schema).select(*cols))
    events = _landed_events(lake, files).join(known.dropDuplicates(["video_id"]), "video_id", "left")
    rows = with_interaction_columns(classify(with_max_watch(events, settings.max_watch_ratio), rules))
    suspects = read_keys(lake.spark, bdir / SUSPECTS, "event_id", most=MOST_SUSPECTS)
    rows = mark_outcomes(rows, "event_id", existing=_existing_events(lake, dates), suspects=suspects,
                         partitions=shuffle_partitions(settings, files),
                         unfit_rules=quality.interaction_rules(settings))
    return write_outcomes(rows, STAGED_EVENT_COLUMNS, bdir / "events")


def _stage_quarantine(lake: BaseLake, bdir: Path, rejected: dict, batch_id: str, at: dt.datetime) -> dict:
    """Quarantine rows of every kind that has rejected rows; the events' rows per reason."""
    kinds = {"events": (EVENT_FIELDS, "event_id"), **{k: (c[1], c[0].key[0]) for k, c in CATALOG.items()},
             served.KIND: (SERVED_FIELDS, "rec_id")}
    reasons = {kind: stage_quarantine(lake.spark, bdir, kind, key=key, fields_ddl=fields, batch_id=batch_id, at=at)
               for kind, (fields, key) in kinds.items() if rejected.get(kind)}
    return reasons.get("events", {})


def validate(settings: Settings, batch_id: str, lake: BaseLake | None = None) -> dict:
    """Classify every row of the batch and stage the results; writes and returns validated.json."""
    bdir = landing.batch_dir(settings, batch_id)
    if (bdir / "validated.json").exists():
        return json.loads((bdir / "validated.json").read_text())
    manifest = landing.load_manifest(settings, batch_id)
    gx_process.start(settings.gx_socket)  # the GX server, or a helper that imports GX while Spark works
    lake, at = lake or _spark_lake(settings), dt.datetime.fromisoformat(manifest["landed_at"])
    for part in (QUARANTINE_DIR, SUSPECTS, *KINDS, "interactions"):
        shutil.rmtree(bdir / part, ignore_errors=True)
    files, rules = manifest["files"], quality.event_rules(settings, at)
    with _phase("catalog and suspect keys"):
        catalog, dates = _stage_catalog_and_suspects(lake, files, bdir)
    with _phase("events"):
        counts = _stage_events(lake, settings, files, rules, bdir, dates)
    with _phase("served"):
        served_counts = served.stage(lake, files, bdir, shuffle_partitions(settings, files))
    with _phase("quarantine"):
        rejected = {"events": counts[REJECTED], **{k: c["quarantined"] for k, c in catalog.items()},
                    served.KIND: served_counts["quarantined"]}
        reasons = _stage_quarantine(lake, bdir, rejected, batch_id, at)
    with _phase("great_expectations"):
        report = expectations.check_events(lake.spark, bdir / "events", rules, settings.max_watch_ratio,
                                           counts[REJECTED])
        gate = expectations.check_interactions(lake.spark, bdir / "events", quality.interaction_rules(settings),
                                               counts[UNFIT])
        served_report = (expectations.check_served(lake.spark, bdir / served.KIND, served_counts["quarantined"])
                         if _of_kind(files, served.KIND) else None)
    result = {
        "batch": batch_id, "files": len(manifest["files"]), "files_rejected": len(manifest["rejected"]),
        "read": sum(counts.values()), "accepted": counts[ACCEPTED], "quarantined": counts[REJECTED],
        "duplicates": counts[DUPLICATE], "reasons": reasons, "catalog": catalog, "served": served_counts,
        "dates": dates,
        "expectations": report, "served_expectations": served_report, "interactions_gate": gate, "layout": LAYOUT,
    }
    (bdir / "validated.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def _staged(bdir: Path, layout: int) -> dict:
    """The staged folder each table is committed from."""
    if layout < LAYOUT:  # validated by the code before the outcome split
        return {t: bdir / n for t, n in ((QUARANTINE, "quarantine"), (VIDEOS, "videos"), (USERS, "users"),
                                          (INTERACTIONS, "interactions"), (EVENTS, "events"))}
    return {QUARANTINE: bdir / QUARANTINE_DIR, VIDEOS: outcome_dir(bdir / "videos", ACCEPTED),
            USERS: outcome_dir(bdir / "users", ACCEPTED), INTERACTIONS: outcome_dir(bdir / "events", ACCEPTED),
            EVENTS: outcome_dir(bdir / "events", ACCEPTED), SERVED: outcome_dir(bdir / served.KIND, ACCEPTED)}


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
    for table in (EVENTS, INTERACTIONS, QUARANTINE, VIDEOS, USERS, INGEST_FILES, SERVED):
        lake.ensure(table)
    # The five tables are independent commits: the two large appends overlap (delta-rs releases the GIL).
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {table.name: pool.submit(_commit_staged, lake, table, staged, batch_id)
                   for table, staged in _staged(bdir, v.get("layout", 1)).items()}
    written = {name: f.result() for name, f in futures.items() if f.result() is not None}
    known = landing.ingested_keys(settings)
    log = [r for r in _log_rows(manifest, batch_id) if (r["path"], r["size"], r["mtime"]) not in known]
    if batch_id not in lake.committed_batches(INGEST_FILES):
        lake.append_rows(INGEST_FILES, log, batch_id=batch_id)
    result = {k: v.get(k) for k in ("batch", "read", "accepted", "quarantined", "duplicates", "files",
                                    "files_rejected", "reasons", "catalog", "served")}
    result["written"] = written
    done.write_text(json.dumps(result, indent=1))
    for part in (QUARANTINE_DIR, SUSPECTS, *KINDS, "interactions"):
        shutil.rmtree(bdir / part, ignore_errors=True)
    return result


def _commit_staged(lake: BaseLake, table, staged: Path, batch_id: str) -> int | None:
    """MERGE (insert new keys) for quarantine and the catalog; an append for events, interactions and served, or None
    when a retried commit finds the batch already appended."""
    if table not in (EVENTS, INTERACTIONS, SERVED):
        return lake.merge_insert_staged(table, staged, batch_id=batch_id)
    # Accepted rows are new by construction (validate looked their ids up in the lake); the batch id in the
    # commit metadata makes a retried commit skip what it already appended.
    if batch_id in lake.committed_batches(table):
        return None
    return lake.append_staged(table, staged, batch_id=batch_id)


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
    gx_process.start(settings.gx_socket)  # before Spark starts: a helper's GX import overlaps the JVM's start
    lake = _spark_lake(settings)
    validate(settings, batch_id, lake)
    with _phase("commit"):
        return commit(settings, batch_id, lake)

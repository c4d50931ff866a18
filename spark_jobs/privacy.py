"""Forgetting users in what the data stages wrote: the Delta tables, the landing folder and staging.

- **Tables** (``forget_in_tables``): every table of ``vidrec.tables.TABLES`` with a ``user_id`` column loses
  the users' rows (delta-rs DELETE, which rewrites the files holding them; no deletion vectors), and the
  quarantine loses the rows whose raw record names them (``vidrec.privacy.Matcher``). Then each table is
  expired to ``lake_history_hours`` (``spark_jobs.lake_base.expire``: VACUUM, checkpoint, log clean-up; the
  old log entries' file statistics can hold an id, and the DELETE's own predicate does). With 0 nothing of
  the users is left on disk once this returns; with the default (a week) the old versions keep them until a
  run a week later, while time travel still reaches back that far.
- **Landing** (``forget_in_landing``): every file under the landing folder (rejected ones too) is rewritten
  without the users' records. A file already ingested gets its new (path, size, mtime) in ``ingest_files``,
  so the ingest does not read it again. The API's file of the current hour is still being appended to: it
  is left alone and counted as ``deferred`` (the request stays queued until a later run finds none).
- **Staging** (``forget_in_staging``): Parquet files of batches staged but not committed.

delta-rs does the work file by file (DataFusion), so the lake is never loaded into this process.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

from spark_jobs.ingest.landing import ingested_keys
from spark_jobs.lake_base import BaseLake, expire, literal, retry_commit
from vidrec.privacy import Matcher, purge_lines, purge_parquet, purge_raw
from vidrec.settings import Settings
from vidrec.tables import INGEST_FILES, LANDING_FORMATS, QUARANTINE, TABLES, USER_ID

log = logging.getLogger("vidrec.privacy")
LIVE_FILE = re.compile(r"^api-(\d{8}-\d{2})-\d+\.jsonl$")  # serving.event_log / served_log: one per process, hour
# the JSON-lines landing files, and the .error.txt beside a rejected file
TEXT_SUFFIXES = {suffix for suffix, fmt in LANDING_FORMATS.items() if fmt == "json"} | {".txt"}


def _delete(path: Path, predicate: str) -> int:
    """DELETE ``predicate`` from the table at ``path``; the rows deleted."""
    from deltalake import DeltaTable

    return retry_commit(lambda: int(DeltaTable(str(path)).delete(predicate)["num_deleted_rows"]),
                        f"DELETE on {path.name}")


def _quarantined(path: Path, matcher: Matcher) -> list[str]:
    """quarantine_id of the quarantine rows whose raw record (or record_id) names a user, read in batches."""
    from deltalake import DeltaTable

    ids = []
    dataset = DeltaTable(str(path)).to_pyarrow_dataset()
    for batch in dataset.to_batches(columns=["quarantine_id", "record_id", "raw"]):
        for qid, record, raw in zip(*(batch.column(c).to_pylist() for c in ("quarantine_id", "record_id", "raw"))):
            if record in matcher.users or matcher.names(raw or ""):
                ids.append(qid)
    return ids


def forget_in_tables(settings: Settings, users: list[str]) -> dict:
    """{table: rows deleted} for every table holding users, each then expired (``expire``); plus
    ``files_vacuumed``."""
    from deltalake import DeltaTable

    lake, matcher, out, vacuumed = BaseLake(settings), Matcher(users), {}, 0
    in_list = ", ".join(f"'{literal(u)}'" for u in sorted(matcher.users))
    for name in sorted(TABLES):
        path = lake.path(name)
        if not lake.exists(name):
            continue
        if name == QUARANTINE.name:
            ids = _quarantined(path, matcher)
            predicate = "quarantine_id IN ({})".format(", ".join(f"'{literal(i)}'" for i in ids)) if ids else None
        elif USER_ID in DeltaTable(str(path)).schema().to_arrow().names:
            predicate = f"{USER_ID} IN ({in_list})" if in_list else None
        else:
            continue
        out[name] = _delete(path, predicate) if predicate else 0
        vacuumed += expire(path, settings.lake_history_hours)
    return {**out, "files_vacuumed": vacuumed}


def _live(path: Path, now: dt.datetime) -> bool:
    """The API's landing file of the current UTC hour (still appended to)."""
    match = LIVE_FILE.match(path.name)
    return bool(match) and match.group(1) == now.astimezone(dt.timezone.utc).strftime("%Y%m%d-%H")


def _purge_file(path: Path, matcher: Matcher) -> int:
    """The records of ``path`` naming a user removed: Parquet rows, or lines of a JSON-lines or text file (a file of
    any other kind is never read by the ingest and is left as it is)."""
    if path.suffix == ".parquet":
        return purge_parquet(path, matcher.users)
    return purge_lines(path, matcher) if path.suffix in TEXT_SUFFIXES else 0


def forget_in_landing(settings: Settings, users: list[str], now: dt.datetime | None = None) -> dict:
    """{"files": rewritten, "records": removed, "deferred": live files that name a user} of the landing folder."""
    matcher, now = Matcher(users), now or dt.datetime.now(dt.timezone.utc)
    root = Path(settings.landing_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")) if root.is_dir() else []
    seen, rewritten, records, deferred, log_rows = None, 0, 0, 0, []
    for path in files:
        if _live(path, now):
            deferred += _mentions(path, matcher)
            continue
        before = path.stat()
        removed = _purge_file(path, matcher)
        if not removed:
            continue
        rewritten, records = rewritten + 1, records + removed
        seen = ingested_keys(settings) if seen is None else seen
        if (str(path), before.st_size, before.st_mtime) in seen and path.exists():
            after = path.stat()
            log_rows.append({"path": str(path), "size": after.st_size, "mtime": after.st_mtime, "kind": None,
                             "batch_id": None, "status": "ingested", "error": "rewritten by vidrec privacy",
                             "rows_read": None, "ingested_at": now})
    BaseLake(settings).append_rows(INGEST_FILES, log_rows)
    return {"files": rewritten, "records": records, "deferred": deferred}


def _mentions(path: Path, matcher: Matcher) -> int:
    with open(path, "rb") as fh:
        return int(any(matcher.names(line.decode("utf-8", "replace")) for line in fh))


def live_users(settings: Settings, users: list[str], now: dt.datetime | None = None) -> set[str]:
    """Those of ``users`` named in a landing file the API is still writing (``forget_in_landing`` defers it)."""
    now, root, found = now or dt.datetime.now(dt.timezone.utc), Path(settings.landing_dir), set()
    for path in (p for p in root.rglob("api-*.jsonl") if _live(p, now)) if root.is_dir() else []:
        found |= {u for u in users if u not in found and _mentions(path, Matcher([u]))}
    return found


def forget_in_staging(settings: Settings, users: list[str]) -> dict:
    """{"files": rewritten, "rows": removed} of the Parquet files under staging (batches not yet committed)."""
    root, matcher = Path(settings.staging_dir), Matcher(users)
    rewritten = rows = 0
    for path in sorted(root.rglob("*.parquet")) if root.is_dir() else []:
        removed = purge_parquet(path, matcher.users)
        removed += purge_raw(path, matcher) if path.exists() else 0
        rewritten, rows = rewritten + bool(removed), rows + removed
    return {"files": rewritten, "rows": rows}

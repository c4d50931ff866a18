"""Requests to forget a user, and the audit of those done. Stdlib only: the API queues requests too.

A request is one JSON file ``<privacy_dir>/requests/<request_id>.json`` (request_id, user_id, requested_by,
requested_at), written atomically; it is the only place the user's id stays until ``vidrec privacy process``
(``vidrec.ops.privacy``) has removed the user from every store, then ``finish`` appends the audit record to
``<privacy_dir>/audit.jsonl`` and deletes the request. The audit names the user only by ``subject``: the
HMAC-SHA256 of the id under ``VIDREC_PSEUDONYM_KEY`` (none without a key), so it holds no clear identifier,
and whoever holds the key can still answer "was this user forgotten, when, and what was removed?".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import uuid
from pathlib import Path

from vidrec.settings import Settings

MAX_USER_ID = 256
PSEUDONYM_PREFIX = "p_"


class PrivacyError(ValueError):
    """A request that cannot be queued (the message says why)."""


def pseudonym(key: str, user_id: str) -> str:
    """The id that stands for ``user_id`` when pseudonymization is on: ``p_`` and the first 32 hex digits (128
    bits) of HMAC-SHA256(key, id). ``spark_jobs.ingest.pseudonyms`` computes the same in Spark."""
    return PSEUDONYM_PREFIX + hmac.new(key.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()[:32]


def lake_id(settings: Settings, user_id: str) -> str:
    """The id the lake, the models and the lists know ``user_id`` by (itself unless pseudonymization is on)."""
    return pseudonym(settings.pseudonym_key, user_id) if settings.pseudonymize else user_id


def subject(settings: Settings, user_id: str) -> str | None:
    """The keyed hash that names ``user_id`` in the audit (None when no key is set); a domain of its own, so the
    audit does not give away the user's pseudonym."""
    if not settings.pseudonym_key:
        return None
    return hmac.new(settings.pseudonym_key.encode(), f"audit:{user_id}".encode(), hashlib.sha256).hexdigest()


def requests_dir(settings: Settings) -> Path:
    return Path(settings.privacy_dir) / "requests"


def audit_path(settings: Settings) -> Path:
    return Path(settings.privacy_dir) / "audit.jsonl"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def queue(settings: Settings, user_id: str, requested_by: str) -> dict:
    """Queue a request to forget ``user_id``; returns it (without the id, which only the request file keeps)."""
    if not isinstance(user_id, str) or not user_id or len(user_id) > MAX_USER_ID:
        raise PrivacyError(f"user_id must be a non-empty string of at most {MAX_USER_ID} characters")
    request = {"request_id": uuid.uuid4().hex, "user_id": user_id, "requested_by": str(requested_by),
               "requested_at": _now()}
    folder = requests_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{request['request_id']}.json"
    tmp = folder / f".{path.name}.tmp"
    tmp.write_text(json.dumps(request))
    os.replace(tmp, path)
    return {k: v for k, v in request.items() if k != "user_id"}


def pending(settings: Settings) -> list[dict]:
    """The queued requests, oldest first."""
    folder = requests_dir(settings)
    found = [json.loads(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []
    return sorted(found, key=lambda r: (r["requested_at"], r["request_id"]))


def added(a: dict, b: dict) -> dict:
    """Two nested count reports added up (numbers summed, other values from ``b``)."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict):
            out[key] = added(a.get(key) or {}, value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and key in a and key != "requests_in_run":
            out[key] = a[key] + value
        else:
            out[key] = value
    return out


def defer(settings: Settings, request: dict, removed: dict) -> None:
    """Keep a request queued for the next run, with what this run removed added to its ``removed`` so far."""
    request = {**request, "removed": added(request.get("removed") or {}, removed), "runs": request.get("runs", 0) + 1}
    path = requests_dir(settings) / f"{request['request_id']}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(request))
    os.replace(tmp, path)


def finish(settings: Settings, request: dict, removed: dict) -> dict:
    """Append the audit record of a request carried out (``removed``: what each store removed in this run, added
    to what earlier runs that deferred it removed) and delete the request file; returns the record."""
    record = {"request_id": request["request_id"], "subject": subject(settings, request["user_id"]),
              "requested_by": request["requested_by"], "requested_at": request["requested_at"],
              "completed_at": _now(), "runs": request.get("runs", 0) + 1,
              "removed": added(request.get("removed") or {}, removed)}
    path = audit_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    (requests_dir(settings) / f"{request['request_id']}.json").unlink(missing_ok=True)
    return record


def audit(settings: Settings) -> list[dict]:
    """Every audit record, oldest first."""
    path = audit_path(settings)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


# ------------------------------------------------------------------------------------ finding a user in files

class Matcher:
    """Whether a record names one of ``users``: a JSON object by its ``user_id`` field (a text line that is
    not a JSON object: by the id appearing as a whole token). One regular expression finds the candidates, so
    a line without any of the ids costs one search."""

    def __init__(self, users):
        import re

        self.users = {str(u) for u in users}
        alternatives = "|".join(re.escape(u) for u in sorted(self.users, key=len, reverse=True))
        self._token = re.compile(rf"(?<![\w.@-])(?:{alternatives})(?![\w.@-])") if self.users else None

    def mentions(self, text: str) -> bool:
        return self._token is not None and self._token.search(text) is not None

    def names(self, line: str) -> bool:
        """True when the JSON object ``line`` has one of the users as ``user_id`` (not JSON: any mention)."""
        if not self.mentions(line):
            return False
        try:
            record = json.loads(line)
        except ValueError:
            return True
        if isinstance(record, dict):
            return str(record.get("user_id")) in self.users
        return True


def purge_lines(path: Path, matcher: Matcher) -> int:
    """Rewrite the text file ``path`` without the lines that name a user (atomically; untouched when none
    does); returns the lines removed. An emptied file is deleted."""
    removed, path = 0, Path(path)
    with open(path, "rb") as fh:
        if not any(matcher.mentions(line.decode("utf-8", "replace")) for line in fh):
            return 0
    tmp = path.with_name(f".{path.name}.forget")
    kept = 0
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        for line in src:
            if matcher.names(line.decode("utf-8", "replace")):
                removed += 1
            else:
                dst.write(line)
                kept += bool(line.strip())
    _replace(tmp, path, kept)
    return removed


def _replace(tmp: Path, path: Path, kept: int) -> None:
    """``tmp`` becomes ``path`` (deleted instead when it kept nothing); a Hadoop checksum beside it goes too."""
    if kept:
        os.replace(tmp, path)
    else:
        tmp.unlink()
        path.unlink()
    path.with_name(f".{path.name}.crc").unlink(missing_ok=True)


def purge_parquet(path: Path, users, column: str = "user_id") -> int:
    """Rewrite the Parquet file ``path`` without the rows whose ``column`` is one of ``users``, one row group
    at a time (atomically; untouched when it has no such rows or no such column); returns the rows removed.
    An emptied file is deleted."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path, values = Path(path), pa.array(sorted({str(u) for u in users}), pa.string())
    source = pq.ParquetFile(path)
    if column not in source.schema_arrow.names:
        return 0
    def named(col):
        return pc.fill_null(pc.is_in(col.cast(pa.string()), value_set=values), False)

    hits = sum(pc.sum(named(batch.column(0))).as_py() or 0 for batch in source.iter_batches(columns=[column]))
    if not hits:
        return 0
    tmp = path.with_name(f".{path.name}.forget")
    kept = 0
    with pq.ParquetWriter(tmp, source.schema_arrow) as writer:
        for group in range(source.num_row_groups):
            rows = source.read_row_group(group)
            rows = rows.filter(pc.invert(named(rows[column])))
            kept += rows.num_rows
            writer.write_table(rows)
    _replace(tmp, path, kept)
    return int(hits)


def purge_raw(path: Path, matcher: Matcher, column: str = "raw") -> int:
    """Rewrite the Parquet file ``path`` (a staged quarantine part: small) without the rows whose raw record in
    ``column`` names a user (``Matcher.names``); returns the rows removed. An emptied file is deleted."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if column not in pq.ParquetFile(path).schema_arrow.names:
        return 0
    table = pq.read_table(path)
    keep = [not matcher.names(raw or "") for raw in table.column(column).to_pylist()]
    if all(keep):
        return 0
    tmp = path.with_name(f".{path.name}.forget")
    pq.write_table(table.filter(pa.array(keep)), tmp)
    _replace(tmp, path, sum(keep))
    return keep.count(False)

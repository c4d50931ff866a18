"""The land step: snapshot new landing files into a batch manifest; move malformed files aside.

No Spark here: only file listing and cheap checks (a parquet footer, the first line of a JSON file).
A batch's manifest is written once, so re-running a step of the same batch sees the same files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from pathlib import Path

from vidrec.settings import Settings
from vidrec.tables import (EVENT_FIELDS, INGEST_FILES, LANDING_FORMATS, LANDING_KINDS, SERVED_FIELDS, TS, USER_FIELDS,
                           VIDEO_FIELDS, arrow_schema)

REJECTED_DIR = "_rejected"
FIELDS = {"events": EVENT_FIELDS, "videos": VIDEO_FIELDS, "users": USER_FIELDS, "served": SERVED_FIELDS}


def new_batch_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def batch_dir(settings: Settings, batch_id: str) -> Path:
    return Path(settings.staging_dir) / "batches" / batch_id


def kind_of(path: Path) -> str:
    """videos | users | events, from the nearest parent folder (or file name) that names one; else events."""
    for part in [path.stem, *[p.name for p in path.parents]][:4]:
        for kind in LANDING_KINDS:
            if part.startswith(kind):
                return kind
    return "events"


def discover(paths: list[Path]) -> list[Path]:
    """Landing files under ``paths``: known suffixes, not hidden, not temp, not already moved aside."""
    found = []
    for root in paths:
        root = Path(root).absolute()
        if root.is_file():
            found.append(root)
            continue
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).parts
            if (p.is_file() and p.suffix.lower() in LANDING_FORMATS and REJECTED_DIR not in rel
                    and not any(part.startswith((".", "_")) for part in rel)):
                found.append(p)
    return found


def check_file(path: Path, kind: str) -> str | None:
    """Why the file cannot be read as a whole (None when it looks readable). Row problems are not checked here."""
    fmt = LANDING_FORMATS.get(path.suffix.lower())
    if fmt is None:
        return f"unsupported file type {path.suffix!r}; expected one of {sorted(LANDING_FORMATS)}"
    try:
        return _check_parquet(path, kind) if fmt == "parquet" else _check_json(path)
    except Exception as exc:  # any failure to open the file is the reason it is moved aside
        return f"unreadable {fmt} file: {type(exc).__name__}: {exc}"


def _check_parquet(path: Path, kind: str) -> str | None:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    pq.ParquetFile(path).metadata  # footer must parse (a truncated file fails here)
    expected = arrow_schema(FIELDS[kind])
    wrong = [f"{f.name}: {schema.field(f.name).type} (expected {f.type})" for f in expected
             if f.name in schema.names and not _compatible(schema.field(f.name).type, f.type)]
    return f"incompatible column types: {'; '.join(wrong)}" if wrong else None


def ts_days(path: Path) -> list[str] | None:
    """[first, last] UTC day of a Parquet file's ``ts`` values, from its row-group statistics (no data read);
    [] when it has no timestamps, None when the statistics do not tell (then Spark finds the days)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    if TS not in meta.schema.names or meta.schema.column(meta.schema.names.index(TS)).physical_type != "INT64":
        return None
    col, lows, highs = meta.schema.names.index(TS), [], []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(col).statistics
        if stats is not None and stats.has_null_count and stats.null_count == meta.row_group(i).num_rows:
            continue
        if stats is None or not stats.has_min_max:
            return None
        lows.append(stats.min)
        highs.append(stats.max)
    day = lambda t: (t.astimezone(dt.timezone.utc) if t.tzinfo else t).date().isoformat()  # noqa: E731
    return [day(min(lows)), day(max(highs))] if lows else []


def _compatible(actual, expected) -> bool:
    import pyarrow as pa

    groups = [pa.types.is_string, pa.types.is_large_string, pa.types.is_integer, pa.types.is_timestamp,
              pa.types.is_floating, pa.types.is_list, pa.types.is_large_list]
    if pa.types.is_string(expected) or pa.types.is_large_string(expected):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual) or pa.types.is_null(actual)
    return any(g(actual) and g(expected) for g in groups) or pa.types.is_null(actual)


def _check_json(path: Path) -> str | None:
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    return f"not JSON lines: first record does not parse ({exc})"
                return None if isinstance(obj, dict) else "not JSON lines: first record is not an object"
    return None  # an empty file is fine: zero rows


def move_aside(path: Path, error: str) -> Path:
    """Move a malformed file into ``_rejected/`` beside it, with ``<name>.error.txt`` saying why."""
    dest_dir = path.parent / REJECTED_DIR
    dest_dir.mkdir(exist_ok=True)
    dest = dest_dir / path.name
    if dest.exists():
        dest = dest_dir / f"{path.stem}-{uuid.uuid4().hex[:6]}{path.suffix}"
    shutil.move(str(path), dest)
    dest.with_name(dest.name + ".error.txt").write_text(error + "\n")
    return dest


def ingested_keys(settings: Settings) -> set[tuple[str, int, float]]:
    """(path, size, mtime) of every file already ingested: the memory that makes hourly runs incremental."""
    from deltalake import DeltaTable

    path = Path(settings.lake_root) / INGEST_FILES.name
    if not (path / "_delta_log").is_dir():
        return set()
    t = DeltaTable(str(path)).to_pyarrow_table(columns=["path", "size", "mtime", "status"]).to_pylist()
    return {(r["path"], r["size"], r["mtime"]) for r in t if r["status"] == "ingested"}


def land(settings: Settings, paths: list[Path] | None, batch_id: str, force: bool = False) -> dict:
    """Write the batch manifest: new readable files, and the malformed ones (moved aside, with errors)."""
    manifest_path = batch_dir(settings, batch_id) / "manifest.json"
    if manifest_path.exists():
        return json.loads(manifest_path.read_text())
    seen = set() if force else ingested_keys(settings)
    files, rejected = [], []
    for p in discover(paths or [settings.landing_dir]):
        st = p.stat()
        key = (str(p), st.st_size, st.st_mtime)
        if key in seen:
            continue
        kind = kind_of(p)
        error = check_file(p, kind)
        entry = {"path": str(p), "size": st.st_size, "mtime": st.st_mtime, "kind": kind,
                 "format": LANDING_FORMATS.get(p.suffix.lower())}
        if not error and kind == "events" and entry["format"] == "parquet":
            entry["ts_days"] = ts_days(p)
        if error:
            rejected.append({**entry, "moved_to": str(move_aside(p, error)), "error": error})
        else:
            files.append(entry)
    manifest = {"batch_id": batch_id, "landed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                "files": files, "rejected": rejected}
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, manifest_path)
    return manifest


def load_manifest(settings: Settings, batch_id: str) -> dict:
    path = batch_dir(settings, batch_id) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"batch {batch_id} has no manifest at {path}: run `vidrec ingest --step land` first")
    return json.loads(path.read_text())

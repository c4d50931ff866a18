"""Lake reads through delta-rs (no Spark in models/) and the run's artifact folder.

The only module of ``models`` that knows table paths and file formats. A job reads through one
``LakeSnapshot``: the first read of a table pins its Delta version, later reads of the same table use
that version, and ``versions`` goes into the run manifest. Tables partitioned by ``ds`` are pruned to
``ds_range`` before any file is opened.

Artifact layout: ``<artifact_root>/runs/<ds>/`` (``run_path``; ``run_dir`` creates it); every writer here is atomic
(temporary name in the same folder, then rename), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from vidrec import dates
from vidrec.settings import Settings
from vidrec.tables import DS, TABLES, arrow_schema

DEFAULT_LOOKBACK_DAYS = 60
DEFAULT_EXCLUSION_DAYS = 365  # how far back "already watched / not interested" reaches


def lookback_days(settings: Settings, default: int = DEFAULT_LOOKBACK_DAYS) -> int:
    """Training window length: ``default`` days, and never fewer than ``active_days`` (every user who gets a
    feed must have the history that made them active inside the window)."""
    return max(default, settings.active_days)


class LakeSnapshot:
    """Reads lake tables at versions pinned on first use; ``versions`` says which were read."""

    def __init__(self, settings: Settings):
        self.root = Path(settings.lake_root)
        self.versions: dict[str, int | None] = {}

    def exists(self, name: str) -> bool:
        return (self.root / name / "_delta_log").is_dir()

    def read(self, name: str, columns: list[str] | None = None, ds_range: tuple[str, str] | None = None,
             filters: list[tuple] | None = None) -> pd.DataFrame:
        """Rows of table ``name`` (only ``columns``; only ``ds`` in ``ds_range``, both ends included; only
        rows matching every ``(column, op, value)`` of ``filters``).

        A table that does not exist yet reads as an empty frame with the declared columns and types.
        """
        from deltalake import DeltaTable

        table = TABLES[name]
        if not self.exists(name):
            self.versions.setdefault(name, None)
            return _empty(name, columns)
        dt = DeltaTable(str(self.root / name), version=self.versions.get(name))
        self.versions.setdefault(name, dt.version())
        parts = list(filters or [])
        if ds_range is not None and DS in table.partition_by:
            parts += [(DS, ">=", ds_range[0]), (DS, "<=", ds_range[1])]
        return dt.to_pandas(filters=parts or None, columns=columns)


def _empty(name: str, columns: list[str] | None) -> pd.DataFrame:
    schema = arrow_schema(TABLES[name].schema)
    frame = schema.empty_table().to_pandas()
    return frame[columns] if columns else frame


def read_table(settings: Settings, name: str, columns: list[str] | None = None,
               ds_range: tuple[str, str] | None = None) -> pd.DataFrame:
    """One table read at its current version (see ``LakeSnapshot.read``)."""
    return LakeSnapshot(settings).read(name, columns, ds_range)


# ------------------------------------------------------------------ artifacts


def run_path(settings: Settings, ds: str) -> Path:
    """``<artifact_root>/runs/<ds>``, the one place that names a run's folder (not created; readers such as
    ``manifest.read_manifest`` and ``models.publish`` use it). ValueError for anything that is not a date,
    before it becomes a path."""
    dates.parse_ds(ds)
    return Path(settings.artifact_root) / "runs" / ds


def run_dir(settings: Settings, ds: str) -> Path:
    """``run_path``, created (for writers). A rerun of a day overwrites its own artifacts."""
    path = run_path(settings, ds)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tmp(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    tmp = _tmp(path)
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path


def write_parquet_parts(frames, path: Path) -> int:
    """Write an iterable of frames (or Arrow tables) with the same columns as one parquet file, a row group
    (or more) per frame, so only one frame is in memory at a time; atomic like ``write_parquet``. Returns the rows.
    The first frame sets the schema; a column that is all null there is typed string (the object columns
    of ids and names are the only ones that can be all null in one frame)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp, writer, rows = _tmp(path), None, 0
    try:
        for frame in frames:
            table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema])
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table.cast(writer.schema))
            rows += table.num_rows
        if writer is None:
            raise ValueError(f"no frames to write to {path}")
        writer.close()
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return rows



def join_parts(paths: list[Path], path: Path, key: str, count: str, each=None) -> dict:
    """The parquet ``paths`` (parts of one result, each holding whole ``key``s) as one file in their order,
    through Arrow only (``write_parquet_parts``): {"rows", "keys": distinct ``key`` values, "counts": rows per
    value of ``count``, most first}. ``each(table)`` sees every part on the way."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    keys, counts = 0, {}

    def tables():
        nonlocal keys
        for part in paths:
            table = pq.read_table(part)
            keys += pc.count_distinct(table[key]).as_py()
            for c in pc.value_counts(table[count]).to_pylist():
                counts[c["values"]] = counts.get(c["values"], 0) + c["counts"]
            if each is not None:
                each(table)
            yield table

    rows = write_parquet_parts(tables(), path)
    return {"rows": rows, "keys": keys, "counts": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}


def whole_keys(batches, key: str):
    """Arrow tables of consecutive ``batches`` (record batches of a file whose ``key`` rows are together) that
    end where a key's rows end: each batch's last key waits for the next batch."""
    import pyarrow as pa
    import pyarrow.compute as pc

    carry = None
    for batch in batches:
        table = pa.Table.from_batches([batch])
        table = pa.concat_tables([carry, table]) if carry is not None else table
        if not table.num_rows:
            continue
        keys = table[key].combine_chunks().cast(pa.string())  # (dictionary-encoded keys compare as strings)
        other = np.flatnonzero(~pc.fill_null(pc.equal(keys, keys[-1]), False).to_numpy(zero_copy_only=False))
        cut = other[-1] + 1 if len(other) else 0
        if cut:
            yield table.slice(0, cut)
        carry = table.slice(cut)
    if carry is not None and carry.num_rows:
        yield carry


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=columns)


def write_json(obj, path: Path) -> Path:
    tmp = _tmp(path)
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
    return path


def read_json(path: Path):
    return json.loads(Path(path).read_text())

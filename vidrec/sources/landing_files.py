"""Landing files, written the one way every source writes them: Arrow tables with a ``vidrec.tables`` schema,
as parquet or JSON lines, each file under a temporary name in its folder and then renamed into place.

Stdlib-only at import time (pyarrow is imported by the functions that use it).
"""

from __future__ import annotations

import os
from pathlib import Path

from vidrec.tables import arrow_schema


def arrow_table(columns: dict, ddl: str):
    """An Arrow table with the schema of ``ddl`` (a ``vidrec.tables`` field list), each column cast to its type."""
    import pyarrow as pa

    schema = arrow_schema(ddl)
    return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in schema], schema=schema)


def prefixed_ids(prefix: str, numbers):
    """``prefix + str(n)`` for each number, as an Arrow string array (vectorized)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def write_parquet(table, path: Path) -> Path:
    """Write ``table`` to ``path`` atomically (temporary name in the same folder, then rename)."""
    import pyarrow.parquet as pq

    plain = [c for c in ("event_id", "session_id", "title") if c in table.column_names]
    dictionary = [c for c in table.column_names if c not in plain]
    return _atomic(path, lambda tmp: pq.write_table(table, tmp, use_dictionary=dictionary))


def write_jsonl(table, path: Path) -> Path:
    """Write ``table`` as JSON lines, timestamps as ISO-8601 UTC strings with milliseconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            ms = pc.cast(table.column(i), pa.timestamp("ms", tz="UTC"), safe=False)
            table = table.set_column(i, field.name, pc.strftime(ms, format="%Y-%m-%dT%H:%M:%SZ"))
    frame = table.to_pandas()
    return _atomic(path, lambda tmp: frame.to_json(tmp, orient="records", lines=True, force_ascii=False))


def _atomic(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path

"""How lists and meta hashes are stored: JSON rows in ITEM_FIELDS order, meta fields as strings. Stdlib only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Mapping

from vidrec.recstore.keys import ITEM_FIELDS


def encode_rows(rows: Iterable[Iterable]) -> str:
    """Rows (ITEM_FIELDS order) -> the stored JSON value."""
    return json.dumps([list(r) for r in rows], separators=(",", ":"), ensure_ascii=False)


def encode_items(items: Iterable[Mapping]) -> str:
    """Item dicts -> the stored JSON value (missing fields are null)."""
    return encode_rows([[it.get(f) for f in ITEM_FIELDS] for it in items])


def decode_rows(raw: bytes | str | None) -> list[list] | None:
    return None if raw is None else json.loads(raw)


def row_to_item(row: list) -> dict:
    return dict(zip(ITEM_FIELDS, row))


@dataclass(frozen=True)
class Found:
    """One stored list as read: the version it belongs to and its rows."""

    version: str
    rows: list


def decode_meta(raw: Mapping) -> dict:
    """A meta hash as read from Redis (bytes) -> str values, JSON dicts/lists parsed, counters as int."""
    meta = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()}
    for k, v in meta.items():  # publish stores dicts and lists as JSON
        if v[:1] in ("{", "["):
            try:
                meta[k] = json.loads(v)
            except ValueError:
                pass
    for k in ("keys", "pinned"):
        if k in meta:
            meta[k] = int(meta[k])
    return meta


def encode_meta(fields: Mapping) -> dict[str, str]:
    """Meta fields -> the stored hash: dicts and lists as JSON, everything else as str."""
    return {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in fields.items()}

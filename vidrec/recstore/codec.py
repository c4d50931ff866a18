"""How lists, catalog rows and meta hashes are stored. Stdlib and orjson.

A list value is *packed*: ``b"\\x01"`` + zlib of

  header     4 x uint32 LE: items n, byte length of strings, byte length of video_ids, flags
             (1: some scores are null; 2: some are whole numbers, read back as ints, as the JSON text
             ``1`` was; 4: some videos are not in the version's catalog: index 0)
  strings    JSON array: the list's distinct reasons and sources, first appearance first
  video_ids  JSON array, best first
  indexes    n x uint32 LE: each video's position (1-based) in the version's catalog, 0 = not in it
  scores     n x int64 LE: score x 10^6 (scores are published rounded to 6 decimals: exact); null = -2^63
  codes      2n x uint16 LE: per item the position of its reason and of its source in ``strings``

The catalog's display fields are not in the list: a reader joins them from the version's ``video:``
rows (``[video_id, title, creator_id, category, duration_ms]``, then ``thumbnail_url, url`` when the catalog
has them; plain JSON), which the API holds in
memory per version, by index (``vidrec.recstore.catalog``), so a request touches only the rows it
serves. A value starting with ``[`` is the earlier layout (JSON rows in ITEM_FIELDS order, display
fields inline) and still decodes, so versions published before the packed layout can be served and
rolled back to.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Iterable, Mapping

import orjson

from vidrec.recstore.keys import CATALOG_FIELDS, ITEM_FIELDS, LINK_FIELDS, VIDEO_FIELDS

PACKED = b"\x01"
HEADER = struct.Struct("<4I")
SCORE_SCALE = 10**6
NULL_SCORE = -(2**63)
FLAG_NULL_SCORES, FLAG_WHOLE_SCORES, FLAG_UNKNOWN_VIDEOS = 1, 2, 4
ZLIB_LEVEL = 1  # 10M-event home lists: 2,158 B and 99 us per list, against 2,059 B and 174 us at level 6
NO_FIELDS = (None,) * (len(CATALOG_FIELDS) - 1)  # display fields of a video the version's catalog does not have
_JSON = {"separators": (",", ":"), "ensure_ascii": False}
_SWAP = sys.byteorder == "big"
if (array("I").itemsize, array("q").itemsize, array("H").itemsize) != (4, 8, 2):
    raise ImportError("vidrec.recstore.codec needs 4-byte 'I' arrays")


def pack(body: bytes) -> bytes:
    """The stored value of a list laid out as header + strings + video_ids + indexes + scores + codes."""
    return PACKED + zlib.compress(body, ZLIB_LEVEL)


def scaled_score(score) -> int:
    return NULL_SCORE if score is None or not math.isfinite(score) else round(score * SCORE_SCALE)


def score_flags(scaled: Iterable[int]) -> int:
    flags = 0
    for s in scaled:
        flags |= FLAG_NULL_SCORES if s == NULL_SCORE else FLAG_WHOLE_SCORES if s % SCORE_SCALE == 0 else 0
    return flags


def encode_items(items: Iterable[Mapping], catalog_index: Mapping[str, int] | None = None) -> bytes:
    """Item dicts (ITEM_FIELDS; missing fields are null) -> the packed value; ``catalog_index``: video id ->
    its position (1-based) in the version's catalog (a video without one gets null display fields).
    Display fields are not stored; scores keep 6 decimals."""
    strings: dict = {}
    ids, indexes, scores, codes = [], array("I"), array("q"), array("H")
    for it in items:
        ids.append(it["video_id"])
        indexes.append((catalog_index or {}).get(it["video_id"], 0))
        scores.append(scaled_score(it.get("score")))
        codes.extend((strings.setdefault(it.get("reason"), len(strings)),
                      strings.setdefault(it.get("source"), len(strings))))
    texts = [json.dumps(x, **_JSON).encode() for x in (list(strings), ids)]
    flags = score_flags(scores) | (FLAG_UNKNOWN_VIDEOS if 0 in indexes else 0)
    if _SWAP:
        for numbers in (indexes, scores, codes):
            numbers.byteswap()
    return pack(HEADER.pack(len(ids), len(texts[0]), len(texts[1]), flags) + b"".join(texts)
                + indexes.tobytes() + scores.tobytes() + codes.tobytes())


def encode_rows(rows: Iterable[Iterable], catalog_index: Mapping[str, int] | None = None) -> bytes:
    """Rows in ITEM_FIELDS order -> the packed value (display fields dropped, see ``encode_items``)."""
    return encode_items((dict(zip(ITEM_FIELDS, r)) for r in rows), catalog_index)


def encode_video(video: Mapping) -> str:
    """A catalog row (CATALOG_FIELDS) -> the stored JSON value of ``video:<video_id>`` (without the links when
    it has none)."""
    fields = CATALOG_FIELDS if any(video.get(f) is not None for f in LINK_FIELDS) else VIDEO_FIELDS
    return json.dumps([video.get(f) for f in fields], **_JSON)


def decode_value(raw: bytes | str | None) -> Packed | list | None:
    """A stored value -> Packed (a packed list), or the parsed JSON (a catalog row, or a list in the
    earlier layout: rows in ITEM_FIELDS order)."""
    if raw is None:
        return None
    if raw[:1] != PACKED:
        return json.loads(raw)
    body = memoryview(zlib.decompress(raw[1:]))
    n, len_strings, len_ids, flags = HEADER.unpack_from(body)
    at = HEADER.size + len_strings + len_ids
    indexes, scores, codes = array("I"), array("q"), array("H")
    indexes.frombytes(body[at:at + 4 * n])
    scores.frombytes(body[at + 4 * n:at + 12 * n])
    codes.frombytes(body[at + 12 * n:])
    if _SWAP:
        for numbers in (indexes, scores, codes):
            numbers.byteswap()
    strings = orjson.loads(body[HEADER.size:HEADER.size + len_strings])
    return Packed(strings, body[at - len_ids:at], indexes, scores, codes, flags)


class Packed:
    """A decoded packed list. Per item, its catalog index, and (``tail``) its score, reason and source, made
    when asked for; the video ids are parsed when first needed (a served request needs none of them)."""

    __slots__ = ("strings", "_ids_json", "_ids", "indexes", "_scores", "_codes", "flags")

    def __init__(self, strings: list, ids_json, indexes: array, scores: array, codes: array, flags: int):
        self.strings, self._ids_json, self._ids = strings, ids_json, None
        self.indexes, self._scores, self._codes, self.flags = indexes, scores, codes, flags

    def __len__(self) -> int:
        return len(self.indexes)

    @property
    def ids_json(self) -> bytes:
        """The JSON array of the list's video ids, as stored (nothing decoded)."""
        return bytes(self._ids_json)

    @property
    def video_ids(self) -> list:
        if self._ids is None:
            self._ids = json.loads(bytes(self._ids_json))
        return self._ids

    def tail(self, i: int) -> tuple:
        s, strings, codes = self._scores[i], self.strings, self._codes
        score = _score(s) if self.flags & (FLAG_NULL_SCORES | FLAG_WHOLE_SCORES) else s / SCORE_SCALE
        return score, strings[codes[2 * i]], strings[codes[2 * i + 1]]

    def reordered(self, order: list[int]) -> "Packed":
        """The same items in ``order`` (positions of this list)."""
        ids, pairs = self.video_ids, memoryview(self._codes).cast("B").cast("I")  # an item's (reason, source)
        codes = array("H")
        codes.frombytes(array("I", [pairs[i] for i in order]).tobytes())
        out = Packed(self.strings, orjson.dumps([ids[i] for i in order]), array("I", [self.indexes[i] for i in order]),
                     array("q", [self._scores[i] for i in order]), codes, self.flags)
        out._ids = [ids[i] for i in order]
        return out

    @property
    def scores(self) -> list:
        if self.flags & (FLAG_NULL_SCORES | FLAG_WHOLE_SCORES):
            return [_score(s) for s in self._scores]
        return [s / SCORE_SCALE for s in self._scores]


def _score(scaled: int) -> float | int | None:
    if scaled == NULL_SCORE:
        return None
    return scaled // SCORE_SCALE if scaled % SCORE_SCALE == 0 else scaled / SCORE_SCALE


class Rows(Sequence):
    """A packed list joined with the version's catalog rows (a list by catalog index, holding at least every
    index of this list): rows in ITEM_FIELDS order, each a list, built when read. A feed reads ``count``
    (20) of a home list's 150 items, so most are never built. ``rendered``: the version's cache of rendered
    display fields by catalog index (``VersionCatalog.rendered``), for the API's renderer; None elsewhere."""

    __slots__ = ("packed", "catalog", "rendered")

    def __init__(self, packed: Packed, catalog: list, rendered: dict | None = None):
        self.packed, self.catalog, self.rendered = packed, catalog, rendered

    def __len__(self) -> int:
        return len(self.packed)

    def head(self, i: int) -> tuple:
        """Item i's display fields (CATALOG_FIELDS), without building its row."""
        index = self.packed.indexes[i]
        return self.catalog[index] if index else (self.packed.video_ids[i], *NO_FIELDS)

    def row(self, i: int) -> list:
        head = self.head(i)
        links = head[5:]
        return [*head[:5], *self.packed.tail(i), *(links if any(v is not None for v in links) else ())]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.row(k) for k in range(*i.indices(len(self)))]
        return self.row(i + len(self) if i < 0 else i)

    def __iter__(self):
        return map(self.row, range(len(self)))

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"Rows({list(self)!r})"


def catalog_row(video_id: str, row: list | None) -> tuple:
    """A decoded ``video:`` row (None when the version has no such video) -> its CATALOG_FIELDS (links None
    when it has none), the display fields of every item of that video."""
    return (video_id, *NO_FIELDS) if not row else (*row[:len(CATALOG_FIELDS)], *NO_FIELDS)[:len(CATALOG_FIELDS)]


def join(packed: Packed, rows_by_id: Mapping[str, tuple]) -> Rows:
    """Packed items + catalog rows by video id (a video missing gets null display fields) -> Rows."""
    catalog = [None] * (max(packed.indexes, default=0) + 1)
    for index, video_id in zip(packed.indexes, packed.video_ids):
        catalog[index] = rows_by_id.get(video_id) or (video_id, *NO_FIELDS)
    return Rows(packed, catalog)


def decode_rows(raw: bytes | str | None, rows_by_id: Mapping[str, tuple] | None = None) -> list | None:
    """A stored value -> rows as lists (packed lists joined with ``rows_by_id``, see ``join``), or a catalog
    row as stored."""
    value = decode_value(raw)
    return list(join(value, rows_by_id or {})) if isinstance(value, Packed) else value


def row_to_item(row: list) -> dict:
    """A list row -> the item as served: display fields, the links the row has (not null), score, reason, source."""
    item = dict(zip(VIDEO_FIELDS, row))
    item.update((f, v) for f, v in zip(LINK_FIELDS, row[len(ITEM_FIELDS):]) if v is not None)
    item.update(zip(ITEM_FIELDS[5:], row[5:len(ITEM_FIELDS)]))
    return item


@dataclass(frozen=True)
class Found:
    """One stored list as read: the version it belongs to and its rows (a list, or ``Rows``)."""

    version: str
    rows: Sequence


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

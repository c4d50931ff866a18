"""Lists laid out as packed-list bodies (``vidrec.recstore.codec``) with Arrow kernels: no per-row Python.

``encode_part`` turns rows of whole lists (key, rank, video_id, score, reason[, source]) into one body per
key; ``grouped_parts`` (and ``models.io.whole_keys`` for a grouped file) cut a list file into such parts of about ``PART_ROWS`` rows, so
publishing holds one part at a time, whatever the number of lists; ``encode_lists`` encodes a whole table.
``catalog_rows`` turns the catalog into the JSON rows of the ``video:`` keys. ``models.publish`` writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vidrec.recstore import codec
from vidrec.tables import DURATION_MS, REASON, VIDEO_ID

CATALOG_COLUMNS = [VIDEO_ID, "title", "creator_id", "category", DURATION_MS]
LINK_COLUMNS = ["thumbnail_url", "url"]  # optional: a catalog without them publishes rows without links
PART_ROWS = 1_000_000  # items encoded at a time (about 150 MB of work memory)


@dataclass
class Encoded:
    """One collection ready to publish: entity ids and their values (packed-list bodies or JSON rows), aligned."""

    keys: pa.Array
    values: pa.Array
    items: int
    dropped_unknown: int


def json_strings(arr, suffix: str = "") -> pa.Array:
    """JSON text of each value (+ suffix); each distinct value is encoded once (dictionary trick)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    enc = pc.dictionary_encode(arr.cast(pa.string()))
    words = pa.array([json.dumps(v, ensure_ascii=False) + suffix for v in enc.dictionary.to_pylist()], pa.string())
    return pc.fill_null(words.take(enc.indices), "null" + suffix)


def number_strings(arr, digits: int | None = None, suffix: str = "") -> pa.Array:
    """JSON numbers as text (+ suffix); null, NaN and infinities become null."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if pa.types.is_floating(arr.type):
        arr = pc.if_else(pc.is_finite(arr), pc.round(arr, digits) if digits is not None else arr, None)
    text = pc.fill_null(arr.cast(pa.string()), "null")
    return pc.binary_join_element_wise(text, suffix, "") if suffix else text


def catalog_rows(catalog: pa.Table) -> pa.Array:
    """'["v1","title","c1","category",123000]' per video (then ',"thumbnail url","url"' for a video with either
    link): the stored value of its ``video:`` key (``vidrec.recstore.codec``)."""
    parts = [json_strings(catalog[c]) for c in CATALOG_COLUMNS[:4]] + [number_strings(catalog[DURATION_MS])]
    row = pc.binary_join_element_wise(*parts, ",")
    if any(c in catalog.column_names for c in LINK_COLUMNS):
        links = [catalog[c] if c in catalog.column_names else pa.nulls(catalog.num_rows, pa.string())
                 for c in LINK_COLUMNS]
        row = pc.if_else(pc.or_(pc.is_valid(links[0]), pc.is_valid(links[1])),
                         pc.binary_join_element_wise(row, *map(json_strings, links), ","), row)
    return pc.binary_join_element_wise("[", row, "]", "")


def per_list(words: pa.Array, starts: np.ndarray, n: int) -> pa.Array:
    """'[w,w,...]' per list: the JSON array of words[starts[i]:starts[i + 1]] (the last list ends at n)."""
    offsets = pa.array(np.append(starts, n).astype(np.int64))
    joined = pc.binary_join(pa.LargeListArray.from_arrays(offsets, words), ",")
    return pc.binary_join_element_wise("[", joined, "]", "").cast(pa.large_binary())


def per_list_bytes(values: np.ndarray, starts: np.ndarray) -> pa.Array:
    """The little-endian bytes of values[starts[i]:starts[i + 1]] per list, without copying."""
    width = values.dtype.itemsize
    offsets = np.append(starts, len(values)).astype(np.int64) * width
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(starts), [
        None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(values).view(np.uint8))])


def string_tables(list_codes: np.ndarray, reasons, sources) -> tuple[pa.Array, np.ndarray]:
    """Each list's JSON array of its distinct reasons and sources (first appearance first) and per item
    two uint16 indexes into it (reason, source). Vectorized: one dictionary encoding of the strings, one of
    the (list, string) pairs, in item order."""
    n = len(list_codes)
    strings = pa.concat_arrays([_as_strings(reasons), _as_strings(sources)])
    enc = pc.dictionary_encode(strings, null_encoding="encode")
    words = pa.array([json.dumps(v, ensure_ascii=False) for v in enc.dictionary.to_pylist()], pa.string())
    string_codes, n_words = enc.indices.to_numpy(), len(words)
    interleaved = np.empty(2 * n, np.int64)  # item i: its reason at 2i, its source at 2i + 1
    interleaved[0::2], interleaved[1::2] = string_codes[:n], string_codes[n:]
    pairs = pc.dictionary_encode(pa.array(np.repeat(list_codes.astype(np.int64), 2) * n_words + interleaved))
    unique = pairs.dictionary.to_numpy()  # in order of first appearance, so grouped by list
    unique_list = unique // n_words
    local = (np.arange(len(unique)) - np.searchsorted(unique_list, unique_list))[pairs.indices.to_numpy()]
    if len(local) and local.max() >= 2**16:
        raise ValueError("a list has more than 65536 distinct reasons and sources")
    starts = np.concatenate([[0], np.flatnonzero(np.diff(unique_list)) + 1])
    return per_list(words.take(pa.array(unique % n_words)), starts, len(unique)), local.astype("<u2")


def _as_strings(arr) -> pa.Array:
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return arr.cast(pa.string())


def scaled_scores(scores) -> np.ndarray:
    """Scores rounded to 6 decimals, as int64 x 10^6 (exact: ``codec.SCORE_SCALE``); NaN and null ->
    ``codec.NULL_SCORE``."""
    rounded = pc.round(_as_floats(scores), 6).to_numpy(zero_copy_only=False).astype(np.float64)
    finite = np.isfinite(rounded)
    out = np.full(len(rounded), codec.NULL_SCORE, "<i8")
    out[finite] = np.rint(rounded[finite] * codec.SCORE_SCALE)
    return out


def flags_of(scores: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per list, ``codec.FLAG_NULL_SCORES`` if a score is null, ``codec.FLAG_WHOLE_SCORES`` if one is whole."""
    null = scores == codec.NULL_SCORE
    whole = (scores % codec.SCORE_SCALE == 0) & ~null
    return ((np.add.reduceat(null, starts) > 0) * codec.FLAG_NULL_SCORES
            | (np.add.reduceat(whole, starts) > 0) * codec.FLAG_WHOLE_SCORES)


def _as_floats(arr) -> pa.Array:
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return arr.cast(pa.float64()) if not pa.types.is_floating(arr.type) else arr


def list_order(list_codes: np.ndarray, rank, score) -> np.ndarray | None:
    """The row order that puts each list's items together, by rank, then score descending (NaN last);
    None when the rows are in such an order already (rank writes them so: no sort of ~20M rows)."""
    rank, score = (_as_floats(c).to_numpy(zero_copy_only=False) for c in (rank, score))
    same_list = list_codes[1:] == list_codes[:-1]
    rank_up = rank[1:] > rank[:-1]
    tie = (rank[1:] == rank[:-1]) & ~(score[1:] > score[:-1])
    if np.all(list_codes[1:] >= list_codes[:-1]) and np.all(~same_list | rank_up | tie):
        return None
    return np.lexsort((-score, rank, list_codes))


def encode_lists(items: pa.Table, key: str, catalog: pa.Table, default_source: str | None,
                 part_rows: int = PART_ROWS) -> Encoded:
    """items(key, rank, video_id, score, reason[, source]) -> per key the body of its packed list
    (``vidrec.recstore.codec``: header, strings, video_ids, indexes, scores, codes), items ordered by rank.

    The display fields are not in the lists (the ``video:`` rows hold them); an item's index is its video's
    row in ``catalog`` (``build_catalog``), 1-based. Items whose video is not in the catalog are dropped
    (they could not be displayed). Whole lists of about ``part_rows`` items are encoded at a time
    (``grouped_parts``), so the work memory stays the same at any number of lists.
    """
    parts = [encode_part(part, key, catalog, default_source) for part in grouped_parts(items, key, part_rows)]
    return Encoded(pa.chunked_array([p.keys for p in parts], pa.string()),
                   pa.chunked_array([p.values for p in parts], pa.large_binary()),
                   sum(p.items for p in parts), sum(p.dropped_unknown for p in parts))


def _first_seen_codes(keys) -> np.ndarray:
    """Each row's key as a code counted in order of first appearance."""
    return pc.dictionary_encode(_as_strings(keys)).indices.to_numpy()


def _apart(codes: np.ndarray) -> bool:
    """Whether some key's rows are apart: a smaller first-seen code comes back later."""
    return bool(np.any(codes[1:] < codes[:-1]))


def is_grouped(keys) -> bool:
    """Whether each key's rows are next to each other."""
    return not _apart(_first_seen_codes(keys))


def grouped_parts(items: pa.Table, key: str, rows: int):
    """Slices of ``items`` of about ``rows`` rows that never split a key's rows (put together first if they
    are apart)."""
    codes = _first_seen_codes(items[key])
    if _apart(codes):
        order = np.argsort(codes, kind="stable")
        items, codes = items.take(order), codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    at = np.searchsorted(starts, np.arange(0, len(codes), max(rows, 1)))  # the first list start from each target
    cuts = np.unique(starts[at[at < len(starts)]])
    for a, b in zip(cuts, np.append(cuts[1:], len(codes))):
        yield items.slice(a, b - a)


def encode_part(items: pa.Table, key: str, catalog: pa.Table, default_source: str | None) -> Encoded:
    if "source" not in items.column_names:
        items = items.append_column("source", pa.array([default_source] * items.num_rows, pa.string()))
    items = items.select([key, "rank", VIDEO_ID, "score", REASON, "source"])
    position = pc.index_in(_as_strings(items[VIDEO_ID]), value_set=_as_strings(catalog[VIDEO_ID]))
    known = items.append_column("_index", position)
    if position.null_count:
        known = known.filter(pc.is_valid(position))
    ids, n = _as_strings(known[key]), known.num_rows
    if n == 0:
        return Encoded(pa.array([], pa.string()), pa.array([], pa.large_binary()), 0, items.num_rows)
    list_codes = pc.dictionary_encode(ids).indices.to_numpy()
    order = list_order(list_codes, known["rank"], known["score"])
    if order is not None:
        known, ids, list_codes = known.take(order), ids.take(order), list_codes[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(list_codes)) + 1])
    tables, codes = string_tables(list_codes, known[REASON], known["source"])
    video_ids, scores = per_list(json_strings(known[VIDEO_ID]), starts, n), scaled_scores(known["score"])
    header = np.stack([np.diff(np.append(starts, n)), pc.binary_length(tables).to_numpy(),
                       pc.binary_length(video_ids).to_numpy(),
                       flags_of(scores, starts)], axis=1)
    indexes = known["_index"].to_numpy().astype("<u4") + 1  # position in the catalog, 1-based
    values = pc.binary_join_element_wise(
        per_list_bytes(header.astype("<u4").ravel(), np.arange(len(starts)) * 4), tables, video_ids,
        per_list_bytes(indexes, starts), per_list_bytes(scores, starts), per_list_bytes(codes, starts * 2),
        pa.scalar(b"", pa.large_binary()))
    return Encoded(ids.take(pa.array(starts)), values, n, items.num_rows - n)

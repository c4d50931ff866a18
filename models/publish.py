"""Publish a nightly run's lists to Redis (``vidrec run publish --ds D``), behind the evaluation gate.

Reads ``<artifact_root>/runs/<ds>/lists/{home,related,trending,coldstart}.parquet`` and ``manifest.json``,
drops items whose video is not in the catalog (lake table ``videos``), lays out one packed list per key
with Arrow kernels (no per-row Python but the zlib call; format: ``vidrec.recstore.codec``), writes the
catalog's display fields once per video (``video:`` rows, which the API joins from memory), and hands
the values to ``RecoStore.publish`` in pipelined batches.
The version is ``<ds>-<params_digest[:8]>`` (``-rN`` appended when that version exists already).
A manifest whose gate failed is refused: nothing is written and the serving version stays.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models import io, workers
from models import manifest as run_manifest
from vidrec.recstore import codec
from vidrec.recstore.keys import COLDSTART, HOME, RELATED, TRENDING, VIDEO
from vidrec.recstore.writer import RecoStore
from vidrec.settings import Settings
from vidrec.tables import DURATION_MS, GLOBAL_REGION, REASON, VIDEO_ID, VIDEOS

log = logging.getLogger(__name__)

CATALOG_COLUMNS = [VIDEO_ID, "title", "creator_id", "category", DURATION_MS]
# collection -> (file, key column, default source when the file has no "source" column)
LISTS = {
    HOME: ("home.parquet", "user_id", None),
    RELATED: ("related.parquet", VIDEO_ID, None),
    TRENDING: ("trending.parquet", "region", "trending"),
    COLDSTART: ("coldstart.parquet", "region", "coldstart"),
}
RELATED_ID = "related_id"  # related.parquet names the recommended video related_id (video_id is the seed)


class PublishRefused(RuntimeError):
    """The run must not be served (failed gate, missing lists); the active version is untouched."""


@dataclass
class Encoded:
    """One collection ready to publish: entity ids and their values (packed-list bodies or JSON rows), aligned."""

    keys: pa.Array
    values: pa.Array
    items: int
    dropped_unknown: int


def read_manifest(settings: Settings, ds: str) -> dict:
    """The run's manifest (``models.manifest.read_manifest``); PublishRefused when the run has none."""
    found = run_manifest.read_manifest(settings, ds)
    if not found:
        path = io.run_path(settings, ds) / run_manifest.FILE
        raise PublishRefused(f"no manifest at {path}: the run for {ds} did not finish")
    return found


def check_gate(manifest: dict) -> None:
    """Raise PublishRefused when the manifest's evaluation gate failed (and log its numbers)."""
    gate = manifest.get("gate")
    if gate is None:
        raise PublishRefused("the run has no evaluation gate result: run `vidrec run evaluate` first")
    if not gate.get("passed", False):
        log.error("evaluation gate failed, not publishing: %s", json.dumps(gate, default=str))
        raise PublishRefused(f"evaluation gate failed: {json.dumps(gate, default=str)}")


def read_catalog(settings: Settings) -> pa.Table:
    from deltalake import DeltaTable

    t = DeltaTable(str(Path(settings.lake_root) / VIDEOS.name)).to_pyarrow_table(columns=CATALOG_COLUMNS)
    return build_catalog(t)


def build_catalog(videos: pa.Table) -> pa.Table:
    """videos(video_id, title, creator_id, category, duration_ms) -> (video_id, row), one row per video."""
    videos = videos.filter(pc.is_valid(videos[VIDEO_ID]))
    if pc.count_distinct(videos[VIDEO_ID]).as_py() != videos.num_rows:  # keep each id's last row
        last = videos.append_column("_i", pa.array(np.arange(videos.num_rows))).group_by(VIDEO_ID).aggregate(
            [("_i", "max")])
        videos = videos.take(np.sort(last["_i_max"].to_numpy()))
    return pa.table({VIDEO_ID: videos[VIDEO_ID], "row": catalog_rows(videos)})


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
    """'["v1","title","c1","category",123000]' per video: the stored value of its ``video:`` key."""
    parts = [json_strings(catalog[c]) for c in CATALOG_COLUMNS[:4]] + [number_strings(catalog[DURATION_MS], suffix="]")]
    return pc.binary_join_element_wise(pc.binary_join_element_wise("[", parts[0], ""), *parts[1:], ",")


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


def encode_lists(items: pa.Table, key: str, catalog: pa.Table, default_source: str | None) -> Encoded:
    """items(key, rank, video_id, score, reason[, source]) -> per key the body of its packed list
    (``vidrec.recstore.codec``: header, strings, video_ids, indexes, scores, codes), items ordered by rank.

    The display fields are not in the lists (the ``video:`` rows hold them); an item's index is its video's
    row in ``catalog`` (``build_catalog``), 1-based. Items whose video is not in the catalog are dropped
    (they could not be displayed).
    """
    if "source" not in items.column_names:
        items = items.append_column("source", pa.array([default_source] * items.num_rows, pa.string()))
    items = items.select([key, "rank", VIDEO_ID, "score", REASON, "source"])
    position = pc.index_in(_as_strings(items[VIDEO_ID]), value_set=_as_strings(catalog[VIDEO_ID]))
    known = items.append_column("_index", position).filter(pc.is_valid(position))
    known = known.sort_by([(key, "ascending"), ("rank", "ascending"), ("score", "descending")])
    ids, n = _as_strings(known[key]), known.num_rows
    if n == 0:
        return Encoded(pa.array([], pa.string()), pa.array([], pa.large_binary()), 0, items.num_rows)
    list_codes = pc.dictionary_encode(ids).indices.to_numpy()
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


def iter_entries(collection: str, enc: Encoded, chunk: int = 1000, threads: int = 1):
    """(collection, entity_id, value) tuples, materializing ``chunk`` values at a time; lists are packed
    (zlib, ``codec.pack``), ``video:`` rows stay JSON text. With ``threads`` > 1, chunks are packed ahead
    in that many threads (zlib releases the GIL) while the caller writes the previous ones."""
    pack = codec.pack if collection != VIDEO else (lambda text: text)

    def entries(start: int) -> list:
        keys = enc.keys.slice(start, chunk).to_pylist()
        return [(collection, k, pack(v)) for k, v in zip(keys, enc.values.slice(start, chunk).to_pylist())]

    for rows in _ahead(entries, range(0, len(enc.keys), chunk), threads):
        yield from rows


def _ahead(func, items, threads: int):
    """``map(func, items)`` in order, computed up to ``2 * threads`` items ahead in ``threads`` threads."""
    if threads <= 1:
        yield from map(func, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(func, item))
            if len(pending) > 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def read_lists(settings: Settings, ds: str) -> dict[str, pa.Table]:
    folder = io.run_path(settings, ds) / "lists"
    tables = {}
    for collection, (name, key, _) in LISTS.items():
        path = folder / name
        if not path.exists():
            raise PublishRefused(f"missing list file {path}")
        t = pq.read_table(path)
        if collection == RELATED:  # seed video_id -> key column, related_id -> the item's video_id
            t = t.rename_columns(["_seed" if c == VIDEO_ID else VIDEO_ID if c == RELATED_ID else c
                                  for c in t.column_names])
        tables[collection] = t
    return tables


def choose_version(store: RecoStore, ds: str, digest: str | None) -> str:
    base = f"{ds}-{digest[:8]}" if digest else f"{ds}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}"
    version, n = base, 1
    while store.meta(version):
        n += 1
        version = f"{base}-r{n}"
    return version


def run(settings: Settings, ds: str, store: RecoStore | None = None) -> dict:
    """Publish the lists of run ``ds`` as a new version and make it the served one."""
    manifest = read_manifest(settings, ds)
    check_gate(manifest)
    catalog = read_catalog(settings)
    encoded = {}
    for collection, table in read_lists(settings, ds).items():
        _, key, source = LISTS[collection]
        encoded[collection] = encode_lists(table, "_seed" if collection == RELATED else key,
                                           catalog, source)
    if not len(encoded[COLDSTART].keys) or GLOBAL_REGION not in encoded[TRENDING].keys.to_pylist():
        raise PublishRefused("the run has no cold-start lists or no global trending list: nothing to fall back on")
    videos = Encoded(catalog[VIDEO_ID].combine_chunks(), catalog["row"].combine_chunks(), catalog.num_rows, 0)
    store = store or RecoStore.from_url(settings.redis_url, ttl_s=settings.publish_ttl_s)
    version = choose_version(store, ds, manifest.get("params_digest"))
    threads = workers.worker_count(settings)
    entries = (e for c, enc in [*encoded.items(), (VIDEO, videos)] for e in iter_entries(c, enc, threads=threads))
    meta = {"ds": ds, "params_digest": manifest.get("params_digest"), "metrics": manifest.get("metrics"),
            "gate": manifest.get("gate"), "run_dir": str(io.run_path(settings, ds)),
            "items": {c: e.items for c, e in encoded.items()},
            "dropped_unknown_videos": {c: e.dropped_unknown for c, e in encoded.items()}}
    result = store.publish(version, entries, meta)
    log.info("published %s: %s keys in %.1f s (replaced %s)", version, result["keys"], result["seconds"],
             result["replaced"])
    return {**result, "items": meta["items"], "dropped_unknown_videos": meta["dropped_unknown_videos"]}

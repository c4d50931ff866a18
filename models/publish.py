"""Publish a nightly run's lists to Redis (``vidrec run publish --ds D``), behind the evaluation gate.

Reads ``<artifact_root>/runs/<ds>/lists/{home,related,trending,coldstart}.parquet`` and ``manifest.json``,
joins the catalog's display fields (lake table ``videos``), encodes one JSON value per list with Arrow
kernels (no per-row Python), and hands the values to ``RecoStore.publish`` in pipelined batches.
The version is ``<ds>-<params_digest[:8]>`` (``-rN`` appended when that version exists already).
A manifest whose gate failed is refused: nothing is written and the serving version stays.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models import io
from models import manifest as run_manifest
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
    """One collection ready to publish: entity ids and their JSON values, aligned."""

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
    """videos(video_id, title, creator_id, category, duration_ms) -> (video_id, frag), one row per video."""
    videos = videos.filter(pc.is_valid(videos[VIDEO_ID]))
    if pc.count_distinct(videos[VIDEO_ID]).as_py() != videos.num_rows:  # keep each id's last row
        last = videos.append_column("_i", pa.array(np.arange(videos.num_rows))).group_by(VIDEO_ID).aggregate(
            [("_i", "max")])
        videos = videos.take(np.sort(last["_i_max"].to_numpy()))
    return pa.table({VIDEO_ID: videos[VIDEO_ID], "frag": catalog_fragments(videos)})


def json_strings(arr, suffix: str = "") -> pa.Array:
    """JSON text of each value (+ suffix); each distinct value is encoded once (dictionary trick)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    enc = pc.dictionary_encode(arr.cast(pa.string()))
    words = pa.array([json.dumps(v, ensure_ascii=False) + suffix for v in enc.dictionary.to_pylist()], pa.string())
    return pc.fill_null(words.take(enc.indices), "null" + suffix)


def number_strings(arr, digits: int | None = None) -> pa.Array:
    """JSON numbers as text; null, NaN and infinities become null."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if pa.types.is_floating(arr.type):
        arr = pc.if_else(pc.is_finite(arr), pc.round(arr, digits) if digits is not None else arr, None)
    return pc.fill_null(arr.cast(pa.string()), "null")


def catalog_fragments(catalog: pa.Table) -> pa.Array:
    """'["v1","title","c1","category",123000' per video: the first five fields of a stored row."""
    parts = [json_strings(catalog[c]) for c in CATALOG_COLUMNS[:4]] + [number_strings(catalog[DURATION_MS])]
    return pc.binary_join_element_wise(pc.binary_join_element_wise("[", parts[0], ""), *parts[1:], ",")


def encode_lists(items: pa.Table, key: str, catalog: pa.Table, default_source: str | None) -> Encoded:
    """items(key, rank, video_id, score, reason[, source]) -> one JSON array per key, ordered by rank.

    Items whose video is not in the catalog are dropped (they could not be displayed).
    """
    if "source" not in items.column_names:
        items = items.append_column("source", pa.array([default_source] * items.num_rows, pa.string()))
    items = items.select([key, "rank", VIDEO_ID, "score", REASON, "source"])
    joined = items.join(catalog, keys=VIDEO_ID, join_type="inner", use_threads=False)
    joined = joined.sort_by([(key, "ascending"), ("rank", "ascending"), ("score", "descending")])
    rows = pc.binary_join_element_wise(joined["frag"].combine_chunks(), number_strings(joined["score"], 6),
                                       json_strings(joined[REASON]), json_strings(joined["source"], "]"), ",")
    ids = joined[key].combine_chunks().cast(pa.string())
    if len(ids) == 0:
        return Encoded(pa.array([], pa.string()), pa.array([], pa.string()), 0, items.num_rows)
    codes = pc.dictionary_encode(ids).indices.to_numpy()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1])
    offsets = pa.array(np.append(starts, len(ids)).astype(np.int32))
    lists = pc.binary_join(pa.ListArray.from_arrays(offsets, rows), ",")
    values = pc.binary_join_element_wise("[", lists, "]", "")
    return Encoded(ids.take(pa.array(starts)), values, len(ids), items.num_rows - len(ids))


def iter_entries(collection: str, enc: Encoded, chunk: int = 1000):
    """(collection, entity_id, value) tuples, materializing ``chunk`` Python strings at a time."""
    for start in range(0, len(enc.keys), chunk):
        keys = enc.keys.slice(start, chunk).to_pylist()
        values = enc.values.slice(start, chunk).to_pylist()
        yield from ((collection, k, v) for k, v in zip(keys, values))


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
    videos = Encoded(catalog[VIDEO_ID].combine_chunks(),
                     pc.binary_join_element_wise(catalog["frag"].combine_chunks(), "]", ""), catalog.num_rows, 0)
    store = store or RecoStore.from_url(settings.redis_url, ttl_s=settings.publish_ttl_s)
    version = choose_version(store, ds, manifest.get("params_digest"))
    entries = (e for c, enc in [*encoded.items(), (VIDEO, videos)] for e in iter_entries(c, enc))
    meta = {"ds": ds, "params_digest": manifest.get("params_digest"), "metrics": manifest.get("metrics"),
            "gate": manifest.get("gate"), "run_dir": str(io.run_path(settings, ds)),
            "items": {c: e.items for c, e in encoded.items()},
            "dropped_unknown_videos": {c: e.dropped_unknown for c, e in encoded.items()}}
    result = store.publish(version, entries, meta)
    log.info("published %s: %s keys in %.1f s (replaced %s)", version, result["keys"], result["seconds"],
             result["replaced"])
    return {**result, "items": meta["items"], "dropped_unknown_videos": meta["dropped_unknown_videos"]}

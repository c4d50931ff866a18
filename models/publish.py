"""Publish a nightly run's lists to Redis (``vidrec run publish --ds D``), behind the evaluation gate.

Reads ``<artifact_root>/runs/<ds>/lists/{home,related,trending,coldstart}.parquet`` and ``manifest.json``,
drops items whose video is not in the catalog (lake table ``videos``), lays out one packed list per key
(``models.packing``; format: ``vidrec.recstore.codec``), packs them with zlib in threads, writes the
catalog's display fields once per video (``video:`` rows, which the API joins from memory), and hands
the values to ``RecoStore.publish`` in pipelined batches.
The version is ``<ds>-<params_digest[:8]>`` (``-rN`` appended when that version exists already).
A manifest whose gate failed is refused: nothing is written and the serving version stays.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models import io, workers
from models import manifest as run_manifest
from models import packing
from models.packing import CATALOG_COLUMNS, LINK_COLUMNS, Encoded, catalog_rows
from vidrec.recstore import codec
from vidrec.recstore.keys import CATEGORY, COLDSTART, FRESH, HOME, RELATED, TRENDING, VIDEO
from vidrec.recstore.writer import RecoStore
from vidrec.settings import Settings
from vidrec.tables import GLOBAL_REGION, VIDEO_ID, VIDEOS

log = logging.getLogger(__name__)

# collection -> (file, key column, default source when the file has no "source" column)
LISTS = {
    HOME: ("home.parquet", "user_id", None),
    RELATED: ("related.parquet", VIDEO_ID, None),
    TRENDING: ("trending.parquet", "region", "trending"),
    COLDSTART: ("coldstart.parquet", "region", "coldstart"),
    CATEGORY: ("category.parquet", "genre", "popular"),
    FRESH: ("fresh.parquet", "region", "fresh"),
}
OPTIONAL = {CATEGORY, FRESH}  # runs made before these surfaces have none: published without them
RELATED_ID = "related_id"  # related.parquet names the recommended video related_id (video_id is the seed)
SEED = "_seed"  # the seed video_id of a related list, renamed so that video_id names its items


class PublishRefused(RuntimeError):
    """The run must not be served (failed gate, missing lists); the active version is untouched."""


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

    table = DeltaTable(str(Path(settings.lake_root) / VIDEOS.name))
    have = set(table.schema().to_arrow().names)  # a lake made before the links were declared has none
    return build_catalog(table.to_pyarrow_table(columns=CATALOG_COLUMNS + [c for c in LINK_COLUMNS if c in have]))


def build_catalog(videos: pa.Table) -> pa.Table:
    """videos(video_id, title, creator_id, category, duration_ms[, thumbnail_url, url]) -> (video_id, row), one
    row per video."""
    videos = videos.filter(pc.is_valid(videos[VIDEO_ID]))
    if pc.count_distinct(videos[VIDEO_ID]).as_py() != videos.num_rows:  # keep each id's last row
        last = videos.append_column("_i", pa.array(np.arange(videos.num_rows))).group_by(VIDEO_ID).aggregate(
            [("_i", "max")])
        videos = videos.take(np.sort(last["_i_max"].to_numpy()))
    return pa.table({VIDEO_ID: videos[VIDEO_ID], "row": catalog_rows(videos)})


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


def list_parts(settings: Settings, ds: str) -> dict:
    """Per collection, its list file's rows as tables of whole lists (about ``packing.PART_ROWS`` rows each),
    read lazily; the columns as ``encode_part`` reads them. PublishRefused when a file is missing."""
    folder = io.run_path(settings, ds) / "lists"
    paths = {collection: folder / name for collection, (name, _, _) in LISTS.items()}
    for collection, path in paths.items():
        if not path.exists() and collection not in OPTIONAL:
            raise PublishRefused(f"missing list file {path}")
    return {collection: _file_parts(path, collection) if path.exists() else iter(())
            for collection, path in paths.items()}


def _file_parts(path: Path, collection: str):
    """Batches of the file, cut between lists, when each key's rows are together (rank writes them so);
    otherwise the whole file, its rows put together by key first."""
    file, key = pq.ParquetFile(path), LISTS[collection][1]
    if packing.is_grouped(file.read(columns=[key])[key]):
        tables = io.whole_keys(file.iter_batches(batch_size=packing.PART_ROWS), key)
    else:
        tables = packing.grouped_parts(file.read(), key, packing.PART_ROWS)
    for table in tables:
        if collection == RELATED:  # seed video_id -> key column, related_id -> the item's video_id
            table = table.rename_columns([SEED if c == VIDEO_ID else VIDEO_ID if c == RELATED_ID else c
                                          for c in table.column_names])
        yield table


def choose_version(store: RecoStore, ds: str, digest: str | None) -> str:
    return unused_version(store, f"{ds}-{digest[:8]}" if digest else
                          f"{ds}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}")


def unused_version(store: RecoStore, name: str) -> str:
    """``name``, or ``name-rN`` with the first N from 2 that no version has."""
    version, n = name, 1
    while store.meta(version):
        n += 1
        version = f"{name}-r{n}"
    return version


def encoded_parts(collection: str, tables, catalog: pa.Table, totals: dict, key: str | None = None,
                  source: str | None = None):
    """(collection, Encoded) per table of whole lists (``packing.encode_part`` against ``catalog``), counting
    the items and the dropped unknown videos into ``totals[collection]``; ``key`` and the default ``source``
    are ``LISTS``' unless given."""
    if key is None:
        _, key, source = LISTS[collection]
    for table in tables:
        enc = packing.encode_part(table, SEED if collection == RELATED else key, catalog, source)
        totals[collection]["items"] += enc.items
        totals[collection]["dropped"] += enc.dropped_unknown
        yield collection, enc


def check_fallbacks(trending: list, coldstart: list) -> None:
    """PublishRefused unless there is a cold-start list and a global trending list (what every feed falls
    back on); both as lists of (collection, Encoded)."""
    if (not any(len(e.keys) for _, e in coldstart)
            or GLOBAL_REGION not in [k for _, e in trending for k in e.keys.to_pylist()]):
        raise PublishRefused("the run has no cold-start lists or no global trending list: nothing to fall back on")


def catalog_entries(catalog: pa.Table):
    """The ``video:`` rows of ``catalog``, as (collection, Encoded)."""
    return VIDEO, Encoded(catalog[VIDEO_ID].combine_chunks(), catalog["row"].combine_chunks(), catalog.num_rows, 0)


def store_entries(stream, threads: int):
    """(collection, entity_id, value) entries of a stream of (collection, Encoded), packed in ``threads``."""
    return (e for c, enc in stream for e in iter_entries(c, enc, threads=threads))


def published_by() -> dict:
    """Who publishes: the Airflow DAG, run, logical date and task when a DAG does, else the command line."""
    env = {k: os.environ.get(f"AIRFLOW_CTX_{k.upper()}") for k in ("dag_id", "dag_run_id", "logical_date", "task_id")}
    return env if env["dag_run_id"] else {"cli": True}


def run(settings: Settings, ds: str, store: RecoStore | None = None, canary: float | None = None) -> dict:
    """Publish the lists of run ``ds`` as a new version and make it the served one (``canary``: a share of users
    gets it, beside the served one: ``RecoStore.publish``)."""
    manifest = read_manifest(settings, ds)
    check_gate(manifest)
    catalog, parts = read_catalog(settings), list_parts(settings, ds)
    totals = {c: {"items": 0, "dropped": 0} for c in LISTS}

    def encoded(collection: str):
        return encoded_parts(collection, parts[collection], catalog, totals)

    trending, coldstart = list(encoded(TRENDING)), list(encoded(COLDSTART))  # small: checked before writing
    check_fallbacks(trending, coldstart)
    store = store or RecoStore.from_url(settings.redis_url, ttl_s=settings.publish_ttl_s)
    version = choose_version(store, ds, manifest.get("params_digest"))
    stream = itertools.chain(encoded(HOME), encoded(RELATED), trending, coldstart, encoded(CATEGORY),
                             encoded(FRESH), [catalog_entries(catalog)])

    def meta() -> dict:  # once every entry is written, so the counts are complete
        return {"ds": ds, "params_digest": manifest.get("params_digest"), "metrics": manifest.get("metrics"),
                "gate": manifest.get("gate"), "context": manifest.get("context"),  # vidrec.context's model
                "run_dir": str(io.run_path(settings, ds)),
                "published_by": published_by(), "items": {c: t["items"] for c, t in totals.items()},
                "dropped_unknown_videos": {c: t["dropped"] for c, t in totals.items()}}

    result = store.publish(version, store_entries(stream, workers.worker_count(settings)), meta, canary=canary)
    log.info("published %s: %s keys in %.1f s (replaced %s)", version, result["keys"], result["seconds"],
             result["replaced"])
    written = meta()
    return {**result, "items": written["items"], "dropped_unknown_videos": written["dropped_unknown_videos"]}

"""The hourly layer (``vidrec run publish_hourly --ds D``): trending, cold-start and new-release lists rebuilt
from the lake every hour, and home lists for the users who first appeared since the nightly run (folded into its
ALS space, ``models.ranking.new_users``), published over the served nightly version.

features_hourly runs it after the day's trending table is rebuilt and validated. The lists are those of the
nightly's ``rank`` (``models.ranking.rank.hourly_lists``, the same functions) over the last
``max(popular_days, fresh_days, trending_days)`` days. They are published as a layer
(``vidrec.recstore.keys``): a version of their own whose meta names the nightly version they lay over
(``base``), with the ``video:`` rows of their own videos only, flipped in like any version, so a rollback
returns the previous lists and the personal lists stay the nightly's. The version is
``<ds>-hourly-<HHMMSS>`` (UTC, when published; ``-rN`` appended when taken). Nothing is published when no nightly version is served yet,
and a nightly published while the layer is written wins: the layer is refused before its flip.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from models import io, packing, workers
from models.publish import (LISTS, PublishRefused, catalog_entries, check_fallbacks, encoded_parts, published_by,
                            read_catalog, store_entries, unused_version)
from models.ranking.new_users import new_user_lists
from models.ranking.rank import RankParams, hourly_lists
from models.ranking.rerank import RerankParams
from models.retrieval.history import load_history
from models.retrieval.params import CandidateParams
from vidrec.recstore.keys import COLDSTART, FOLDED, FRESH, TRENDING, layer_of
from vidrec.recstore.writer import RecoStore
from vidrec.settings import Settings
from vidrec.tables import USER_ID, VIDEO_ID

log = logging.getLogger(__name__)
OWN = (TRENDING, COLDSTART, FRESH, FOLDED)
KEYS = {FOLDED: (USER_ID, "als")}  # the key column and default source of the lists publish.LISTS does not name


def build(settings: Settings, ds: str, base: dict) -> dict[str, pa.Table]:
    """The layer's lists as of the end of ``ds``, by collection, over the nightly version whose meta is ``base``."""
    cparams = CandidateParams.from_settings(settings)
    days = max(cparams.popular_days, cparams.fresh_days, cparams.trending_days)
    snap = io.LakeSnapshot(settings)
    hist = load_history(snap, ds, lookback_days=days, active_days=settings.active_days)
    rp = RerankParams.from_settings(settings, spare=RankParams().spare)
    frames = hourly_lists(settings, snap, hist, rp, cparams)
    if base.get("run_dir") and ds > base["ds"]:
        frames[FOLDED] = new_user_lists(hist, Path(base["run_dir"]), base["ds"], rp)
    return {c: pa.Table.from_pandas(frames[c], preserve_index=False) for c in OWN if len(frames.get(c, ()))}


def key_of(collection: str) -> str:
    return KEYS[collection][0] if collection in KEYS else LISTS[collection][1]


def served_base(store: RecoStore) -> str | None:
    """The nightly version being served (the active one, or the base of the active layer); None if none."""
    active = store.active_version()
    if active is None:
        return None
    layer = layer_of(store.meta(active))
    return layer[0] if layer else active


def run(settings: Settings, ds: str, store: RecoStore | None = None) -> dict:
    """Publish the hourly layer for ``ds`` over the served nightly version; returns the publish's counts."""
    store = store or RecoStore.from_url(settings.redis_url, ttl_s=settings.publish_ttl_s)
    base = served_base(store)
    if base is None:
        log.warning("publish_hourly %s: no version is served yet, nothing to lay the hourly lists over", ds)
        return {"ds": ds, "skipped": "no version is served yet: the nightly publishes first"}
    lists = build(settings, ds, store.meta(base))
    catalog = read_catalog(settings)
    used = pa.concat_arrays([t[VIDEO_ID].combine_chunks().cast(pa.string()) for t in lists.values()])
    catalog = catalog.filter(pc.is_in(catalog[VIDEO_ID], value_set=pc.unique(used)))  # the layer's own videos
    totals = {c: {"items": 0, "dropped": 0} for c in OWN}
    encoded = {c: list(encoded_parts(c, packing.grouped_parts(t, key_of(c), packing.PART_ROWS), catalog, totals,
                                     *KEYS.get(c, ())))
               for c, t in lists.items()}
    check_fallbacks(encoded.get(TRENDING, []), encoded.get(COLDSTART, []))

    def meta() -> dict:  # after the entries are written: a nightly published meanwhile wins
        if served_base(store) != base:
            raise PublishRefused(f"a new nightly version was published while the hourly lists over {base} "
                                 "were written: they are not served")
        return {"ds": ds, "kind": "hourly", "base": base, "own": list(OWN), "published_by": published_by(),
                "items": {c: t["items"] for c, t in totals.items()}}

    version = unused_version(store, f"{ds}-hourly-{dt.datetime.now(dt.timezone.utc):%H%M%S}")
    stream = itertools.chain(*encoded.values(), [catalog_entries(catalog)])
    result = store.publish(version, store_entries(stream, workers.worker_count(settings)), meta)
    log.info("published the hourly layer %s over %s: %s keys in %.1f s", version, base, result["keys"],
             result["seconds"])
    return {**result, "base": base, "items": {c: t["items"] for c, t in totals.items()}}

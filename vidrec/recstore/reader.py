"""The API's reader (redis.asyncio): the active version and one GET per list; failures become StoreUnavailable.

Lists are stored packed, without the catalog's display fields (``vidrec.recstore.codec``); the reader joins
them from its per-version in-memory catalog (``vidrec.recstore.catalog``), so a request is still one GET.
Only videos it has not met yet in that version cost one more round trip (one pipelined GET of them all).
Key scheme: ``vidrec.recstore.keys``. stdlib only at import; ``redis`` is imported when a reader is built.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict

from vidrec.recstore.catalog import CatalogCache
from vidrec.recstore.codec import Found, Packed, Rows, catalog_row, decode_meta, decode_value
from vidrec.recstore.keys import KEY_ACTIVE, KEY_CANARY, VIDEO, StoreUnavailable, layer_of, list_key, meta_key, read_from
from vidrec.recstore.resp import RespClient, RespError


VIDEOS_HELD = 65_536
LISTS_HELD = 4_096
LAYERS_HELD = 64


class AsyncRecoStore:
    """Reader for the API (redis.asyncio): a cached active-version pointer and one GET per list.

    Short socket timeouts, one immediate retry, and a brief circuit breaker after a failure, so a dead
    Redis costs a request almost nothing; every Redis failure surfaces as StoreUnavailable. ``stats``
    counts the catalog's extra round trips (``catalog_fetches``) and the videos they brought.
    """

    def __init__(self, client, *, pointer_ttl_s: float = 2.0, breaker_s: float = 0.5,
                 catalog: CatalogCache | None = None, fast: RespClient | None = None, timeout_s: float = 0.25):
        import redis

        self.r, self.pointer_ttl_s, self.breaker_s = client, pointer_ttl_s, breaker_s
        self.fast, self.timeout_s = fast, timeout_s  # the hot path's GETs (vidrec.recstore.resp), if given
        self.catalog = catalog or CatalogCache()
        self.stats: Counter = Counter()
        self._errors = (redis.RedisError, OSError, RespError)  # OSError: TimeoutError, ConnectionError too
        self._version: str | None = None
        self.canary: tuple[str, float] | None = None  # (version, share) of the canary, read with the pointer
        self._absent: dict[str, float] = {}  # the version last found unpublished -> when to ask again
        self._version_until = 0.0
        self._down_until = 0.0
        self._videos: OrderedDict = OrderedDict()  # (version, video_id) -> row, from ``video``: first in, first out
        self._layers: OrderedDict = OrderedDict()  # version -> keys.layer_of its meta (read once: immutable)
        self._lists: OrderedDict = OrderedDict()  # (version, collection, id) -> Found or None, for ``held`` reads

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 0.25, **kwargs) -> "AsyncRecoStore":
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                         retry=Retry(NoBackoff(), 1))
        return cls(client, fast=RespClient(url, connect_timeout_s=timeout_s), timeout_s=timeout_s, **kwargs)

    async def _call(self, fn, *args):
        if time.monotonic() < self._down_until:
            raise StoreUnavailable("redis marked down (recent failure)")
        try:
            return await fn(*args)
        except self._errors as exc:
            self._down_until = time.monotonic() + self.breaker_s
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def _fast(self, command: str, key: str):
        async with asyncio.timeout(self.timeout_s):
            return await self.fast.call(command, key)

    async def _one(self, command: str, key: str):
        """One single-key command (GET, EXISTS): through the pipelined connection when there is one, else
        redis-py."""
        if self.fast is not None:
            return await self._call(self._fast, command, key)
        return await self._call(getattr(self.r, command.lower()), key)

    async def _get(self, key: str):
        return await self._one("GET", key)

    async def active_version(self) -> str | None:
        """The served version, re-read at most every ``pointer_ttl_s`` seconds, with the canary (a version met
        for the first time costs one more read: whether it is a layer, ``vidrec.recstore.keys``)."""
        if time.monotonic() >= self._version_until:
            raw, canary = await self._get(KEY_ACTIVE), decode_value(await self._get(KEY_CANARY))
            version = raw.decode() if raw else None
            if version is not None:
                await self.learn(version)
            self.canary = None
            if isinstance(canary, dict) and canary.get("version") and await self.learn(canary["version"]):
                self.canary = (canary["version"], float(canary.get("share", 0.0)))
            self._version, self._version_until = version, time.monotonic() + self.pointer_ttl_s
        return self._version

    async def learn(self, version: str) -> bool:
        """Whether ``version`` is published (its meta exists); its layout is read once, when first met."""
        if version not in self._layers:
            if self._absent.get(version, 0.0) > time.monotonic():
                return False
            meta = await self.meta(version)
            if not meta:  # asked again after pointer_ttl_s, not on every request
                self._absent = {version: time.monotonic() + self.pointer_ttl_s}
                return False
            self._layers[version] = layer_of(meta)
            if len(self._layers) > LAYERS_HELD:
                self._layers.popitem(last=False)
        return True

    def read_from(self, version: str, collection: str) -> str:
        """The version whose key holds ``collection`` when ``version`` is served (its base, for a layer's
        collections it does not own)."""
        return read_from(version, collection, self._layers.get(version))

    async def get_list(self, collection: str, entity_id: str, version: str | None = None) -> Found | None:
        version = version or await self.active_version()
        if version is None:
            return None
        version = self.read_from(version, collection)
        raw = await self._get(list_key(version, collection, entity_id))
        value = decode_value(raw)
        if isinstance(value, Packed):
            value = await self._join(version, value)
        return None if value is None else Found(version, value)

    def holds(self, collection: str, entity_id: str, version: str) -> bool:
        """Whether ``held_list`` (or, for VIDEO, ``video``) answers from memory, with no round trip."""
        if collection == VIDEO:
            return (self.read_from(version, VIDEO), entity_id) in self._videos
        return (version, collection, entity_id) in self._lists

    async def held_list(self, collection: str, entity_id: str, version: str) -> Found | None:
        """``get_list``, kept in memory (the last LISTS_HELD read this way; versions never change): for the
        lists many requests read again, such as the related lists the home feed's reaction blends in."""
        key = (version, collection, entity_id)
        found = self._lists.get(key, self)
        if found is self:
            found = self._lists[key] = await self.get_list(collection, entity_id, version)
            if len(self._lists) > LISTS_HELD:
                self._lists.popitem(last=False)
        return found

    async def _join(self, version: str, packed: Packed) -> Rows:
        """The list's rows, with the display fields from memory; videos not met yet in this version are
        fetched first, all in one round trip."""
        catalog = self.catalog.of(version)
        missing = catalog.missing(packed.indexes)
        if not missing:
            return Rows(packed, catalog.rows, catalog.rendered)
        wanted = {packed.indexes[i]: packed.video_ids[i] for i in missing}  # catalog position -> video id
        async with self.r.pipeline(transaction=False) as pipe:
            for video_id in wanted.values():
                pipe.get(list_key(version, VIDEO, video_id))
            raws = await self._call(pipe.execute)
        self.stats["catalog_fetches"] += 1
        self.stats["catalog_videos_fetched"] += len(wanted)
        rows = {index: catalog_row(v, decode_value(raw)) for (index, v), raw in zip(wanted.items(), raws)}
        joined = catalog.add(rows, keep=packed.indexes)
        return Rows(packed, joined, catalog.rendered)

    async def exists(self, collection: str, entity_id: str, version: str) -> bool:
        """Whether ``version`` has that list (one EXISTS)."""
        return bool(await self._one("EXISTS", list_key(self.read_from(version, collection), collection, entity_id)))

    async def video(self, video_id: str, version: str | None = None) -> tuple | None:
        """A video's catalog row (VIDEO_FIELDS) in the active version; None when it has none or nothing is
        published (one GET, then from memory: versions never change)."""
        version = version or await self.active_version()
        if version is None:
            return None
        version = self.read_from(version, VIDEO)
        known = self._videos.get((version, video_id), self)
        if known is not self:
            return known
        row = decode_value(await self._get(list_key(version, VIDEO, video_id)))
        self._videos[(version, video_id)] = found = tuple(row[:5]) if row else None
        if len(self._videos) > VIDEOS_HELD:
            self._videos.popitem(last=False)
        return found

    async def meta(self, version: str) -> dict:
        return decode_meta(await self._call(self.r.hgetall, meta_key(version)))

    async def ping(self) -> bool:
        return bool(await self._call(self.r.ping))

    async def aclose(self) -> None:
        if self.fast is not None:
            await self.fast.aclose()
        await self.r.aclose()

"""The API's reader (redis.asyncio): the active version and one GET per list; failures become StoreUnavailable.

Key scheme: ``vidrec.recstore.keys``. stdlib only at import; ``redis`` is imported when a reader is built.
"""

from __future__ import annotations

import time

from vidrec.recstore.codec import Found, decode_meta, decode_rows
from vidrec.recstore.keys import KEY_ACTIVE, StoreUnavailable, list_key, meta_key


class AsyncRecoStore:
    """Reader for the API (redis.asyncio): a cached active-version pointer and one GET per list.

    Short socket timeouts, one immediate retry, and a brief circuit breaker after a failure, so a dead
    Redis costs a request almost nothing; every Redis failure surfaces as StoreUnavailable.
    """

    def __init__(self, client, *, pointer_ttl_s: float = 2.0, breaker_s: float = 0.5):
        import redis

        self.r, self.pointer_ttl_s, self.breaker_s = client, pointer_ttl_s, breaker_s
        self._errors = (redis.RedisError, OSError)
        self._version: str | None = None
        self._version_until = 0.0
        self._down_until = 0.0

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 0.25, **kwargs) -> "AsyncRecoStore":
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                         retry=Retry(NoBackoff(), 1))
        return cls(client, **kwargs)

    async def _call(self, fn, *args):
        if time.monotonic() < self._down_until:
            raise StoreUnavailable("redis marked down (recent failure)")
        try:
            return await fn(*args)
        except self._errors as exc:
            self._down_until = time.monotonic() + self.breaker_s
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def active_version(self) -> str | None:
        """The served version, re-read at most every ``pointer_ttl_s`` seconds."""
        if time.monotonic() >= self._version_until:
            raw = await self._call(self.r.get, KEY_ACTIVE)
            self._version = raw.decode() if raw else None
            self._version_until = time.monotonic() + self.pointer_ttl_s
        return self._version

    async def get_list(self, collection: str, entity_id: str, version: str | None = None) -> Found | None:
        version = version or await self.active_version()
        if version is None:
            return None
        raw = await self._call(self.r.get, list_key(version, collection, entity_id))
        return None if raw is None else Found(version, decode_rows(raw))

    async def meta(self, version: str) -> dict:
        return decode_meta(await self._call(self.r.hgetall, meta_key(version)))

    async def ping(self) -> bool:
        return bool(await self._call(self.r.ping))

    async def aclose(self) -> None:
        await self.r.aclose()

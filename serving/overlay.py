"""The real-time overlay: what a user just did, applied on top of the precomputed lists.

State lives in Feast's online store, feature view ``user_realtime`` (entity ``user``, join key ``user_id``), one
Array(String) feature per field of ``serving.state.UserState`` (what each event type changes). The event intake
writes it through the push source ``user_realtime_push``; feed
requests read it, time-boxed by the caller, straight from the Redis hash Feast keeps for the user
(``RedisStateReader``: one HMGET, Feast's own key encoding and protos). Policy: **fail open**. When the read is
slow or fails, the list is served without the overlay (``"overlay": false`` in the response); when Feast is not
set up at all, the overlay is disabled and every response says so. There is no second, Redis-native copy.

This is the only serving module that opens Feast (through ``vidrec.feast_config.open_store``, the same
configuration the batch jobs use) and imports pandas, which Feast's push needs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import weakref
from collections.abc import Sequence
from dataclasses import astuple
from typing import Protocol

from serving.state import EMPTY, FEATURES, UserState, updated_state
from vidrec.feast_config import online_key, open_store
from vidrec.recstore.codec import Rows
from vidrec.recstore.keys import IX_CREATOR, IX_VIDEO
from vidrec.recstore.resp import RespClient
from vidrec.settings import Settings

log = logging.getLogger(__name__)

FEATURE_VIEW = "user_realtime"
PUSH_SOURCE = "user_realtime_push"
TIMESTAMP_FIELD = "event_ts"


def visible(rows: Sequence, state: UserState, count: int, exclude: str | None = None) -> list[int]:
    """Positions of the first ``count`` rows whose video and creator the user has not hidden and whose video is
    not ``exclude`` (spares refill the gaps). Reads each row's display fields only (``Rows.head``)."""
    videos, creators = state.hidden(exclude)
    if not videos and not creators:
        return list(range(min(count, len(rows))))
    head = rows.head if isinstance(rows, Rows) else rows.__getitem__
    out = []
    for i in range(len(rows)):
        fields = head(i)
        if fields[IX_VIDEO] not in videos and fields[IX_CREATOR] not in creators:
            out.append(i)
            if len(out) == count:
                break
    return out


class Overlay(Protocol):
    enabled: bool

    async def user_state(self, user_id: str) -> UserState: ...

    async def record(self, event: dict, creator_id: str | None) -> bool: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class DisabledOverlay:
    """No real-time state (Feast not set up): lists are served as published."""

    enabled = False

    def __init__(self, reason: str = "disabled"):
        self.reason = reason

    async def user_state(self, user_id: str) -> UserState:
        return EMPTY

    async def record(self, event: dict, creator_id: str | None) -> bool:
        return False

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class FeastOverlay:
    """The overlay on a Feast ``FeatureStore`` (or anything with its async online read and push)."""

    enabled = True

    def __init__(self, store, *, feature_view: str = FEATURE_VIEW, push_source: str = PUSH_SOURCE,
                 timestamp_field: str = TIMESTAMP_FIELD, redis_url: str | None = None):
        self.store, self.push_source, self.timestamp_field = store, push_source, timestamp_field
        self.redis_url, self._reader = redis_url, None
        self.feature_view, self.refs = feature_view, [f"{feature_view}:{f}" for f in FEATURES]
        self._locks: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    async def start(self) -> None:
        """Open Feast's clients and pay its lazy set-up (registry, connection) before the first request; with a
        ``redis_url``, read the view's Redis hashes directly (``RedisStateReader``)."""
        await self.store.initialize()
        if self.redis_url:
            self._reader = RedisStateReader(self.store, self.redis_url, self.feature_view)
        await self.user_state("__warm_up__")

    async def aclose(self) -> None:
        if self._reader is not None:
            await self._reader.aclose()
        await self.store.close()

    async def user_state(self, user_id: str) -> UserState:
        if self._reader is not None:
            return await self._reader.user_state(user_id)
        row = (await self.store.get_online_features_async(features=self.refs, entity_rows=[{"user_id": user_id}])
               ).to_dict()
        return UserState(*(tuple(row[f][0] or ()) for f in FEATURES))

    async def record(self, event: dict, creator_id: str | None) -> bool:
        """Read-modify-push the user's state. Serialized per user within this process; across processes the
        last push wins (a lost update only means one video is not hidden until the next event)."""
        if updated_state(EMPTY, event, creator_id) is None:
            return False
        user_id = event["user_id"]
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            state = updated_state(await self.user_state(user_id), event, creator_id)
            await self.store.push_async(self.push_source, self._frame(user_id, state))
        return True

    def _frame(self, user_id: str, state: UserState):
        import pandas as pd

        values = dict(zip(FEATURES, (list(v) for v in astuple(state))))
        return pd.DataFrame({"user_id": [user_id], **{f: [v] for f, v in values.items()},
                             self.timestamp_field: [pd.Timestamp(dt.datetime.now(dt.timezone.utc))]})


@functools.lru_cache(maxsize=16384)  # the same bytes decode alike: empty lists, and a user's unchanged ones
def _strings(raw: bytes) -> tuple:
    """A Feast ``Value`` holding a string list, as stored -> its strings."""
    from feast.protos.feast.types.Value_pb2 import Value

    return tuple(Value.FromString(raw).string_list_val.val)


class RedisStateReader:
    """The request path's read of ``user_realtime``: one HMGET of the hash Feast's Redis online store keeps for
    the user (key, field names and values encoded by Feast's own helpers and protos), which answers what Feast's
    online read answers (it applies no TTL online either). Feast stays the writer (the push source) and the owner
    of the layout; this only skips its generic read path (feature resolution, response building), which cost
    more than the rest of a request."""

    def __init__(self, store, redis_url: str, feature_view: str):
        from feast.infra.online_stores.helpers import _mmh3

        config = store.config
        self.project, self.version = config.project, config.entity_key_serialization_version
        self.fields = [_mmh3(f"{feature_view}:{f}") for f in FEATURES] + [f"_ts:{feature_view}".encode()]
        self.r = RespClient(redis_url)  # the pipelined connection of the request path

    def key(self, user_id: str) -> bytes:
        return online_key(self.project, self.version, user_id)

    async def user_state(self, user_id: str) -> UserState:
        return self.decode(await self.r.call("HMGET", self.key(user_id), *self.fields))

    @staticmethod
    def decode(reply: list) -> UserState:
        """The HMGET of ``fields`` -> the state (EMPTY when Feast never wrote the user)."""
        *values, written = reply
        if written is None:
            return EMPTY
        return UserState(*(_strings(v) if v else () for v in values))

    async def aclose(self) -> None:
        await self.r.aclose()


def open_feature_store(settings: Settings):
    """The project's FeatureStore (``vidrec.feast_config.open_store``), checked to serve ``user_realtime``;
    raises when Feast is not set up."""
    store = open_store(settings)
    store.get_feature_view(FEATURE_VIEW)  # raises when the view was never applied
    return store


def build_overlay(settings: Settings) -> Overlay:
    """A FeastOverlay when the feature store is set up, else a DisabledOverlay (logged once)."""
    try:
        return FeastOverlay(open_feature_store(settings), redis_url=settings.redis_url)
    except Exception as exc:  # any reason Feast cannot be opened means: serve without the overlay
        log.warning("real-time overlay disabled: %s: %s", type(exc).__name__, exc)
        return DisabledOverlay(f"{type(exc).__name__}: {exc}")

"""The synchronous store for the batch side and the CLI: publish a version, roll back, status (and plain reads).

Lifecycle: a version's keys are written with TTL ``ttl_s`` (a crashed publish cleans itself up), then its
meta hash, then ``{vidrec}:active`` flips to it atomically. The active and the previous version are then
*pinned* (PERSIST), so they never expire however long publishing stalls; a version that drops out of that
pair gets its TTL back (EXPIRE ttl_s), so readers holding a cached pointer still find it for a while.
Readers never see half a version: the pointer moves only after every key of the version exists.
Key scheme: ``vidrec.recstore.keys``. stdlib only at import; ``redis`` is imported when a store is built.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Callable, Iterable, Mapping

from vidrec.recstore.codec import Found, Packed, catalog_row, decode_meta, decode_value, encode_meta, join
from vidrec.recstore.keys import (COLLECTIONS, DEFAULT_TTL_S, KEY_ACTIVE, KEY_CANARY, KEY_VERSIONS, LOCK_TTL_S, MAX_HISTORY,
                                  VIDEO, StoreError, check_version, layer_of, list_key, meta_key, read_from,
                                  version_prefix)

# KEYS: active, versions. ARGV: new version, history length. Returns the version it replaced.
_FLIP = """
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('LREM', KEYS[2], 0, ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
return old
"""
# KEYS: active, versions. ARGV: expected active, target. Compare-and-set, then drop the withdrawn version.
_ROLLBACK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('active version changed') end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('LREM', KEYS[2], 0, ARGV[1])
redis.call('LREM', KEYS[2], 0, ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[2])
return ARGV[2]
"""


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class RecoStore:
    """Synchronous store for the batch side and the CLI: publish, rollback, status (and plain reads)."""

    def __init__(self, client, *, ttl_s: int = DEFAULT_TTL_S, batch_size: int = 1000):
        self.r, self.ttl_s, self.batch_size = client, int(ttl_s), int(batch_size)
        self._flip = client.register_script(_FLIP)
        self._rollback = client.register_script(_ROLLBACK)

    @classmethod
    def from_url(cls, url: str, **kwargs) -> "RecoStore":
        import redis

        return cls(redis.Redis.from_url(url), **kwargs)

    # -- writing -------------------------------------------------------------------------------------
    def publish(self, version: str, entries: Iterable[tuple[str, str, str | bytes]],
                meta: Mapping | Callable[[], Mapping] | None = None, *, canary: float | None = None) -> dict:
        """Write (collection, entity_id, value) entries as ``version``, then make it the active one (with
        ``canary``, a share in (0, 1): serve it to that share of users beside the active one instead). Values are
        stored as given (``vidrec.recstore.codec``: packed lists, JSON ``video:`` rows). ``meta`` (or what it
        returns when it is a function, called once every entry is written) is stored in the version's meta.

        Pipelined: one round trip per ``batch_size`` keys. Versions are immutable: publishing an existing
        one raises StoreError. Returns counts, the replaced version and the timing.
        """
        started = time.perf_counter()
        check_version(version)
        if canary is not None and not (0 < canary < 1 and self.active_version()):
            raise StoreError(f"a canary needs a share in (0, 1) (got {canary}) and an active version beside it")
        if self.r.exists(meta_key(version)):
            raise StoreError(f"version {version} exists already; versions are immutable")
        self._take_lock(version)
        try:
            keys, counts = self._write_entries(version, entries)
            meta = meta() if callable(meta) else meta  # may refuse: the version is then never served
        except BaseException:
            self.r.delete(version_prefix(version) + "lock")  # "pending" stays: the next attempt cleans up
            raise
        fields = {**{k: v for k, v in (meta or {}).items() if v is not None}, "version": version,
                  "created_at": (meta or {}).get("created_at") or _now_iso(), "keys": len(keys) + 1,
                  "counts": counts, "pinned": 0}
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(meta_key(version), mapping=encode_meta(fields))
        pipe.expire(meta_key(version), self.ttl_s)
        pipe.execute()
        if canary is None:
            old = self._flip(keys=[KEY_ACTIVE, KEY_VERSIONS], args=[version, MAX_HISTORY])
            old = old.decode() if old else None
        else:
            old = self.stop_canary("replaced by a new canary")["canary_stopped"]
            self.r.set(KEY_CANARY, json.dumps({"version": version, "share": canary, "started_at": _now_iso()}))
        self._pin_keys(version, [*keys, meta_key(version)], pin=True, verify=False)
        self._settle_pins()
        self.r.delete(version_prefix(version) + "pending", version_prefix(version) + "lock")
        return {"version": version, "replaced": old, "keys": len(keys) + 1, "counts": counts,
                "seconds": round(time.perf_counter() - started, 3)}

    def _take_lock(self, version: str) -> None:
        prefix = version_prefix(version)
        if not self.r.set(prefix + "lock", uuid.uuid4().hex, nx=True, ex=LOCK_TTL_S):
            raise StoreError(f"a publish of {version} is under way (or crashed less than {LOCK_TTL_S} s ago)")
        if not self.r.set(prefix + "pending", _now_iso(), nx=True, ex=self.ttl_s):
            self._delete_leftovers(version)  # an earlier attempt crashed: its keys must not mix into this one
            self.r.set(prefix + "pending", _now_iso(), ex=self.ttl_s)

    def _write_entries(self, version: str, entries) -> tuple[list[str], dict]:
        keys, seen, counts = [], set(), {}
        pipe = self.r.pipeline(transaction=False)
        for collection, entity_id, value in entries:
            if collection not in COLLECTIONS:
                raise ValueError(f"unknown collection {collection!r}; expected one of {COLLECTIONS}")
            key = list_key(version, collection, entity_id)
            if key in seen:  # the meta's key count must equal the keys that exist
                raise ValueError(f"{collection} {entity_id!r} is listed twice")
            seen.add(key)
            pipe.set(key, value, ex=self.ttl_s)
            keys.append(key)
            counts[collection] = counts.get(collection, 0) + 1
            if len(pipe) >= self.batch_size:
                pipe.expire(version_prefix(version) + "lock", LOCK_TTL_S)
                pipe.execute()
        if len(pipe):
            pipe.execute()
        return keys, counts

    def _delete_leftovers(self, version: str) -> None:
        pipe = self.r.pipeline(transaction=False)
        for key in self.r.scan_iter(match=version_prefix(version) + "*", count=1000):
            if not key.endswith((b":lock", b":pending")):
                pipe.delete(key)
            if len(pipe) >= self.batch_size:
                pipe.execute()
        pipe.execute()

    def _pin_keys(self, version: str, keys: Iterable, *, pin: bool, verify: bool = True) -> int:
        """PERSIST (pin) or EXPIRE ttl_s (unpin) every key of a version; returns how many keys exist
        (with ``verify=False``, pinning trusts that all keys exist: the version was just written)."""
        pipe, found = self.r.pipeline(transaction=False), 0
        check = pin and verify

        def flush() -> int:
            answers = pipe.execute()  # check: (PERSIST, EXISTS) pairs, as PERSIST says 0 for a missing key too
            return sum(answers[1::2]) if check else len(answers) if pin else sum(map(bool, answers))

        for key in keys:
            if pin:
                pipe.persist(key)
                if check:
                    pipe.exists(key)
            else:
                pipe.expire(key, self.ttl_s)
            if len(pipe) >= self.batch_size:
                found += flush()
        if len(pipe):
            found += flush()
        self.r.hset(meta_key(version), "pinned", int(pin))
        return found

    def _version_keys(self, version: str):
        return (k for k in self.r.scan_iter(match=version_prefix(version) + "*", count=1000)
                if not k.endswith((b":lock", b":pending")))

    def canary(self) -> dict | None:
        """The canary (version, share, started_at), if one is on."""
        raw = self.r.get(KEY_CANARY)
        return json.loads(raw) if raw else None

    def promote(self) -> dict:
        """Make the canary the active version for everyone (the flip of a publish); the canary key goes."""
        canary = self.canary()
        if canary is None:
            raise StoreError("no canary to promote: `vidrec publish --canary PCT` starts one")
        if not self._pin_if_complete(canary["version"]):
            self.stop_canary("expired before its promotion")
            raise StoreError(f"canary {canary['version']} is no longer complete; it was withdrawn")
        old = self._flip(keys=[KEY_ACTIVE, KEY_VERSIONS], args=[canary["version"], MAX_HISTORY])
        self.r.delete(KEY_CANARY)
        self._settle_pins()
        return {"promoted": canary["version"], "replaced": old.decode() if old else None, **self.status()}

    def stop_canary(self, reason: str) -> dict:
        """Return the canary's users to the active version; the canary version expires by TTL."""
        canary = self.canary()
        if canary is None:
            return {"canary_stopped": None}
        self.r.delete(KEY_CANARY)
        self.r.hset(meta_key(canary["version"]), mapping={"withdrawn_at": _now_iso(), "withdrawn_why": reason})
        self._pin_keys(canary["version"], self._version_keys(canary["version"]), pin=False)  # expires by TTL
        return {"canary_stopped": canary["version"], "reason": reason}

    def _settle_pins(self) -> None:
        """Pin the active and the previous version and the canary (and the bases they lay over); unpin every
        other version that is still pinned."""
        history = [v.decode() for v in self.r.lrange(KEY_VERSIONS, 0, -1)]
        canary = self.canary()
        kept = [canary["version"]] if canary else []
        for version in history[:2]:
            if self.r.hget(meta_key(version), "pinned") == b"1" or self._pin_if_complete(version):
                kept.append(version)
                layer = layer_of(self.meta(version))
                kept += [layer[0]] if layer else []
            else:
                self.r.lrem(KEY_VERSIONS, 0, version)  # (partly) expired: no longer a rollback target
        for version in history[2:]:
            if version not in kept and self.r.hget(meta_key(version), "pinned") == b"1":
                self._pin_keys(version, self._version_keys(version), pin=False)

    def rollback(self) -> dict:
        """Serve the version that was active before the current one; the current one gets its TTL back. While a
        canary is on, rollback withdraws the canary instead (its users return to the active version).

        The target is checked complete (every key of its meta count exists, pinned) before the flip; an
        expired or partly expired one leaves the history and the next older one is tried.
        """
        if self.canary() is not None:
            return {**self.stop_canary("rolled back"), **self.status()}
        active = self.active_version()
        if active is None:
            raise StoreError("nothing is published: no version to roll back from")
        history = [v.decode() for v in self.r.lrange(KEY_VERSIONS, 0, -1)]
        for target in (v for v in history if v != active):
            if self._pin_if_complete(target):
                break
            self.r.lrem(KEY_VERSIONS, 0, target)
        else:
            raise StoreError(f"no complete earlier version left to roll back to (active {active}, history {history})")
        import redis

        try:
            self._rollback(keys=[KEY_ACTIVE, KEY_VERSIONS], args=[active, target])
        except redis.ResponseError as exc:
            raise StoreError(f"rollback aborted: {exc}") from exc
        self.r.hset(meta_key(active), "withdrawn_at", _now_iso())
        self._pin_keys(active, self._version_keys(active), pin=False)  # off the stack: expires by TTL
        self._settle_pins()
        return {"active": target, "withdrawn": active, **self.status()}

    def _pin_if_complete(self, version: str) -> bool:
        """Pin a version (and the base it lays over) if all their keys still exist; else let what is left of
        it expire. True if pinned."""
        meta = self.meta(version)
        if not meta:
            return False
        layer = layer_of(meta)
        if (self._pin_keys(version, self._version_keys(version), pin=True) >= meta.get("keys", 0)
                and (layer is None or self._pin_if_complete(layer[0]))):
            return True
        self._pin_keys(version, self._version_keys(version), pin=False)
        return False

    # -- reading -------------------------------------------------------------------------------------
    def active_version(self) -> str | None:
        v = self.r.get(KEY_ACTIVE)
        return v.decode() if v else None

    def meta(self, version: str) -> dict:
        return decode_meta(self.r.hgetall(meta_key(version)))

    def get_list(self, collection: str, entity_id: str, version: str | None = None) -> Found | None:
        """A list as rows in ITEM_FIELDS order (display fields joined from the version's ``video:`` rows,
        one more round trip: this reader keeps no catalog in memory), or a ``video:`` row as stored."""
        version = version or self.active_version()
        if version is not None:
            version = read_from(version, collection, layer_of(self.meta(version)))
        value = decode_value(self.r.get(list_key(version, collection, entity_id)) if version else None)
        if isinstance(value, Packed):
            ids = list(dict.fromkeys(value.video_ids))
            pipe = self.r.pipeline(transaction=False)
            for v in ids:
                pipe.get(list_key(version, VIDEO, v))
            value = list(join(value, {v: catalog_row(v, decode_value(raw)) for v, raw in zip(ids, pipe.execute())}))
        return None if value is None else Found(version, value)

    def status(self) -> dict:
        active = self.active_version()
        versions = []
        for v in (x.decode() for x in self.r.lrange(KEY_VERSIONS, 0, -1)):
            m = self.meta(v)
            versions.append({"version": v, "exists": bool(m), "ttl_s": self.r.ttl(meta_key(v)),
                             **{k: m.get(k) for k in ("created_at", "ds", "params_digest", "base", "keys",
                                                      "pinned", "withdrawn_at") if m.get(k) is not None}})
        return {"active": active, "meta": self.meta(active) if active else None, "versions": versions,
                "canary": self.canary()}

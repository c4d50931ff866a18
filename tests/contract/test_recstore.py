"""The RecoStore contract against a real redis-server: publish, flip, rollback, TTLs, meta, atomicity, pipelining."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis

from vidrec.recstore import codec, keys
from vidrec.recstore.keys import HOME, TRENDING, StoreError
from vidrec.recstore.reader import AsyncRecoStore
from vidrec.recstore.writer import RecoStore

pytestmark = pytest.mark.redis
TTL = 1000
DB = 6  # of the session's redis-server (tests/contract/conftest.py)


def entries(tag: str, users: int = 3):
    """Lists whose every item names the version they were published in (reason = tag)."""
    for i in range(users):
        yield HOME, f"u{i}", codec.encode_items([{"video_id": f"v{j}", "reason": tag} for j in range(3)])
    yield TRENDING, "global", codec.encode_items([{"video_id": "t1", "reason": tag, "source": "trending"}])


def ttl_of(url: str, version: str) -> int:
    return redis.Redis.from_url(url).ttl(keys.list_key(version, HOME, "u0"))


def test_publish_flips_the_active_version_and_records_meta(store):
    assert store.active_version() is None
    first = store.publish("v1", entries("v1"), {"ds": "2026-11-01", "params_digest": "abc", "metrics": {"ndcg": 0.3}})
    assert first["replaced"] is None and first["counts"] == {HOME: 3, TRENDING: 1} and first["keys"] == 5
    assert store.publish("v2", entries("v2"))["replaced"] == "v1"
    assert store.active_version() == "v2"
    assert store.get_list(HOME, "u1") == codec.Found("v2", [["v0", None, None, None, None, None, "v2", None],
                                                               ["v1", None, None, None, None, None, "v2", None],
                                                               ["v2", None, None, None, None, None, "v2", None]])
    assert store.get_list(HOME, "u1", version="v1").rows[0][keys.ITEM_FIELDS.index("reason")] == "v1"
    meta = store.meta("v1")
    assert meta["ds"] == "2026-11-01" and meta["params_digest"] == "abc" and meta["metrics"] == {"ndcg": 0.3}
    assert meta["keys"] == 5 and meta["counts"] == {HOME: 3, TRENDING: 1} and meta["created_at"]
    status = store.status()
    assert status["active"] == "v2" and [v["version"] for v in status["versions"]] == ["v2", "v1"]


def test_active_and_previous_never_expire_older_versions_do(store, url):
    for v in ("v1", "v2", "v3"):
        store.publish(v, entries(v))
    assert ttl_of(url, "v3") == -1 and ttl_of(url, "v2") == -1  # pinned: PERSIST
    assert 0 < ttl_of(url, "v1") <= TTL
    assert 0 < redis.Redis.from_url(url).ttl(keys.meta_key("v1")) <= TTL


def test_rollback_serves_the_previous_version_and_lets_the_withdrawn_one_expire(store, url):
    for v in ("v1", "v2", "v3"):
        store.publish(v, entries(v))
    result = store.rollback()
    assert result["active"] == "v2" and result["withdrawn"] == "v3"
    assert store.active_version() == "v2" and store.get_list(HOME, "u0").version == "v2"
    assert 0 < ttl_of(url, "v3") <= TTL and store.meta("v3")["withdrawn_at"]
    assert ttl_of(url, "v1") == -1  # v1 is the previous version again: pinned
    assert store.rollback()["active"] == "v1"
    with pytest.raises(StoreError, match="no complete earlier version"):
        store.rollback()
    assert store.active_version() == "v1"


def test_rollback_refuses_when_the_previous_version_expired(store, url):
    store.publish("v1", entries("v1"))
    store.publish("v2", entries("v2"))
    r = redis.Redis.from_url(url)
    r.delete(*r.keys("vidrec:v:v1:*"))  # as if its TTL had run out
    with pytest.raises(StoreError):
        store.rollback()
    assert store.active_version() == "v2"


def test_rollback_skips_a_partly_expired_version(store, url):
    for v in ("v1", "v2", "v3"):
        store.publish(v, entries(v))
    redis.Redis.from_url(url).delete(keys.list_key("v2", HOME, "u1"))  # one key of v2 expired
    assert store.rollback()["active"] == "v1"
    assert store.get_list(HOME, "u1").version == "v1" and ttl_of(url, "v1") == -1
    assert [v["version"] for v in store.status()["versions"]] == ["v1"]


def test_versions_are_immutable_and_names_are_checked(store):
    store.publish("v1", entries("v1"))
    with pytest.raises(StoreError, match="immutable"):
        store.publish("v1", entries("again"))
    for bad in ("", "a:b", "{tag}", "a b"):
        with pytest.raises(ValueError):
            store.publish(bad, entries("x"))
    with pytest.raises(ValueError, match="listed twice"):
        store.publish("v2", [(HOME, "u1", "[]"), (HOME, "u1", "[]")])


def test_a_crashed_publish_leaves_nothing_behind_for_its_retry(store):
    def crashing():
        yield from entries("attempt1", users=5)
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.publish("v1", crashing())
    assert store.active_version() is None
    store.publish("v1", entries("attempt2", users=2))
    assert store.get_list(HOME, "u4", version="v1") is None  # only in the crashed attempt
    assert store.get_list(HOME, "u1").rows[0][6] == "attempt2"


def test_control_keys_share_one_cluster_slot_and_data_keys_are_untagged():
    from redis.crc import key_slot

    assert key_slot(keys.KEY_ACTIVE.encode()) == key_slot(keys.KEY_VERSIONS.encode())
    assert "{" not in keys.list_key("v1", HOME, "u1") and "{" not in keys.meta_key("v1")


def test_publish_is_pipelined_not_one_round_trip_per_key(url):
    """5000 keys: counted at the socket (every packed send is one round trip) and in INFO commandstats."""
    sends = []

    class CountingConnection(redis.Connection):
        def send_packed_command(self, command, check_health=True):
            sends.append(1)
            return super().send_packed_command(command, check_health)

    client = redis.Redis(connection_pool=redis.ConnectionPool.from_url(url, connection_class=CountingConnection))
    client.config_resetstat()
    sends.clear()
    RecoStore(client, ttl_s=TTL, batch_size=1000).publish("big", entries("big", users=5000))
    stats = client.info("commandstats")
    # 6 write batches + 6 PERSIST batches + ~10 single commands (lock, meta, flip, history...): O(keys / batch)
    assert len(sends) <= 25, len(sends)
    assert stats["cmdstat_set"]["calls"] == 5001 + 3  # the lists; lock and pending markers; the flip (in Lua)
    assert stats["cmdstat_persist"]["calls"] == 5002  # the lists and the meta hash, pinned once
    assert stats["cmdstat_get"]["calls"] == 2  # the flip reads the old pointer, the pins the canary; no key-by-key reads


def test_readers_never_see_a_half_published_or_mixed_version(store, url):
    store.publish("v1", entries("v1", users=2000))
    reader, seen, bad, reads, stop = RecoStore.from_url(url), set(), [], [0], threading.Event()

    def hammer():  # no pointer cache: every read resolves the active version afresh, then GETs its list
        while not stop.is_set():
            found = reader.get_list(HOME, f"u{reads[0] % 2000}")
            reads[0] += 1
            if found is None or {row[6] for row in found.rows} != {found.version}:
                bad.append(found)
            else:
                seen.add(found.version)

    def wait_reads(n: int) -> None:
        target = reads[0] + n
        while reads[0] < target and thread.is_alive():
            stop.wait(0.001)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        wait_reads(50)
        for v in ("v2", "v3"):
            store.publish(v, entries(v, users=2000))
        store.rollback()
        wait_reads(50)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert bad == [] and reads[0] > 100
    assert {"v1", "v2"} <= seen <= {"v1", "v2", "v3"}


def test_async_reader_caches_the_pointer_and_reports_a_dead_redis(store, url):
    store.publish("v1", entries("v1"))

    async def scenario():
        reader = AsyncRecoStore.from_url(url, pointer_ttl_s=60)
        found = await reader.get_list(HOME, "u0")
        store.publish("v2", entries("v2"))
        cached = await reader.get_list(HOME, "u0")  # pointer cached: still v1, and v1 is still complete
        await reader.aclose()
        dead = AsyncRecoStore.from_url("redis://127.0.0.1:1/0")
        with pytest.raises(keys.StoreUnavailable):
            await dead.get_list(HOME, "u0")
        await dead.aclose()
        return found.version, cached.version

    assert asyncio.run(scenario()) == ("v1", "v1")

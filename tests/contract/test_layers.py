"""Layers (the hourly lists over a nightly version) against a real redis-server: what is read from where, the
flip and rollback, and that a layer's base stays pinned while the layer is served."""

from __future__ import annotations

import asyncio

import pytest
import redis

from vidrec.recstore import codec, keys
from vidrec.recstore.keys import HOME, TRENDING, VIDEO
from vidrec.recstore.reader import AsyncRecoStore

pytestmark = pytest.mark.redis
TTL = 1000
DB = 7  # of the session's redis-server (tests/contract/conftest.py)


def nightly(tag: str):
    yield HOME, "u0", codec.encode_items([{"video_id": "v1", "reason": tag}], {"v1": 1})
    yield TRENDING, "global", codec.encode_items([{"video_id": "v1", "reason": tag}], {"v1": 1})
    yield VIDEO, "v1", codec.encode_video({"video_id": "v1", "title": f"nightly {tag}"})


def hourly(tag: str):
    yield TRENDING, "global", codec.encode_items([{"video_id": "v9", "reason": tag}], {"v9": 1})
    yield VIDEO, "v9", codec.encode_video({"video_id": "v9", "title": f"new {tag}"})


def layer_meta(base: str) -> dict:
    return {"base": base, "own": [TRENDING], "kind": "hourly"}


def reason(found) -> str:
    return found.rows[0][keys.ITEM_FIELDS.index("reason")]


def test_a_layer_serves_its_own_lists_and_its_bases_others(store):
    store.publish("n1", nightly("n1"))
    store.publish("h1", hourly("h1"), layer_meta("n1"))
    assert store.active_version() == "h1"
    trending, home = store.get_list(TRENDING, "global"), store.get_list(HOME, "u0")
    assert (trending.version, reason(trending), trending.rows[0][1]) == ("h1", "h1", "new h1")
    assert (home.version, reason(home), home.rows[0][1]) == ("n1", "n1", "nightly n1")
    assert store.status()["versions"][0]["base"] == "n1"


def test_the_async_reader_resolves_layers_once_per_version(store, url):
    store.publish("n1", nightly("n1"))
    store.publish("h1", hourly("h1"), layer_meta("n1"))

    async def scenario():
        reader = AsyncRecoStore.from_url(url, pointer_ttl_s=0)
        found = [await reader.get_list(c, k) for c, k in ((TRENDING, "global"), (HOME, "u0"))]
        video = await reader.video("v1")
        exists = await reader.exists(HOME, "u0", "h1")
        store.publish("h2", hourly("h2"), layer_meta("n1"))
        again = await reader.get_list(TRENDING, "global")
        await reader.aclose()
        return [(f.version, reason(f)) for f in found], video[1], exists, (again.version, reason(again))

    found, title, exists, again = asyncio.run(scenario())
    assert found == [("h1", "h1"), ("n1", "n1")] and title == "nightly n1" and exists
    assert again == ("h2", "h2")


def test_rollback_of_a_layer_returns_the_previous_lists(store):
    store.publish("n1", nightly("n1"))
    store.publish("h1", hourly("h1"), layer_meta("n1"))
    store.publish("h2", hourly("h2"), layer_meta("n1"))
    assert store.rollback()["active"] == "h1"
    assert reason(store.get_list(TRENDING, "global")) == "h1"
    assert store.rollback()["active"] == "n1"
    assert reason(store.get_list(TRENDING, "global")) == "n1"


def test_the_base_of_a_served_layer_stays_pinned(store, url):
    r = redis.Redis.from_url(url)
    store.publish("n0", nightly("n0"))
    store.publish("n1", nightly("n1"))
    for h in ("h1", "h2", "h3"):  # n1 drops to the third place of the history: pinned still, as the base
        store.publish(h, hourly(h), layer_meta("n1"))
    assert r.ttl(keys.list_key("n1", HOME, "u0")) == -1
    assert 0 < r.ttl(keys.list_key("n0", HOME, "u0")) <= TTL  # no longer a base nor active nor previous
    assert 0 < r.ttl(keys.list_key("h1", TRENDING, "global")) <= TTL
    store.publish("n2", nightly("n2"))  # a new nightly: the layers and their base go back to their TTL
    store.publish("n3", nightly("n3"))
    assert 0 < r.ttl(keys.list_key("n1", HOME, "u0")) <= TTL
    assert 0 < r.ttl(keys.list_key("h3", TRENDING, "global")) <= TTL


def test_a_refused_meta_leaves_the_served_version_and_the_lock_free(store):
    store.publish("n1", nightly("n1"))

    def refuse():
        raise RuntimeError("the base changed")

    with pytest.raises(RuntimeError, match="base changed"):
        store.publish("h1", hourly("h1"), refuse)
    assert store.active_version() == "n1"
    store.publish("h1", hourly("h1"), layer_meta("n1"))  # not locked out: the retry cleans up and publishes
    assert store.active_version() == "h1"

"""Forgetting users in the recommendation store, against a real redis-server: every version, and versions
stay whole (the rollback and the pins still count all their keys)."""

from __future__ import annotations

import pytest
import redis

from vidrec.recstore import codec, keys, privacy
from vidrec.recstore.keys import FOLDED, HOME, TRENDING

pytestmark = pytest.mark.redis
TTL = 1000
DB = 8  # of the session's redis-server (tests/contract/conftest.py)


def entries(users, folded=()):
    for user in users:
        yield HOME, user, codec.encode_items([{"video_id": "v1", "reason": "v2"}])
    for user in folded:
        yield FOLDED, user, codec.encode_items([{"video_id": "v3"}])
    yield TRENDING, "global", codec.encode_items([{"video_id": "t1"}])


def test_forget_deletes_the_users_lists_in_every_version_and_keeps_versions_whole(store, url):
    client = redis.Redis.from_url(url)
    store.publish("n1", entries(["gone", "kept"]))
    store.publish("n2", entries(["gone", "kept"], folded=["gone"]))
    store.publish("n3", entries(["kept"]))  # three versions: n1 is off the pins and expires by TTL
    assert privacy.versions(client) == ["n1", "n2", "n3"]

    assert privacy.forget(client, ["gone"]) == {"keys": 3, "versions": 2}

    assert not [k for k in client.scan_iter(match="*") if b"gone" in k]
    assert store.get_list(HOME, "kept", version="n1").rows[0][0] == "v1"  # the others' lists stay
    assert store.meta("n2")["keys"] == 3 and store.meta("n2")["counts"] == {HOME: 1, FOLDED: 0, TRENDING: 1}
    assert store.rollback()["active"] == "n2"  # the rollback finds n2 whole and serves it
    assert client.ttl(keys.list_key("n2", HOME, "kept")) == -1  # pinned again
    assert privacy.forget(client, ["gone"]) == {"keys": 0, "versions": 0}

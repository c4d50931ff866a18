"""Packed lists + the API's per-version catalog: one round trip per request, the right version's display
fields across a flip and a rollback, versions of the earlier JSON layout still served, publish == codec."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pytest
import redis
from starlette.testclient import TestClient

from serving.app import create_app
from serving.overlay import DisabledOverlay
from vidrec.recstore import codec
from vidrec.recstore.keys import COLDSTART, HOME, TRENDING, VIDEO
from vidrec.recstore.writer import RecoStore

pytestmark = pytest.mark.redis

HOME_URL = "/api/v1/recommendations/home"


def counting_store(url: str, sends: list):
    """A reader whose every round trip (one packed send: a command or a whole pipeline) is counted."""
    import redis.asyncio as aioredis

    from vidrec.recstore.reader import AsyncRecoStore

    class Counting(aioredis.Connection):
        async def send_packed_command(self, command, check_health=True):
            sends.append(1)
            return await super().send_packed_command(command, check_health)

    pool = aioredis.ConnectionPool.from_url(url, connection_class=Counting)
    return AsyncRecoStore(aioredis.Redis(connection_pool=pool), pointer_ttl_s=3600)


def test_a_request_is_one_round_trip_once_its_videos_were_met(published, run):
    sends: list = []
    with TestClient(create_app(published, store=counting_store(published.redis_url, sends),
                               overlay=DisabledOverlay())) as c:
        c.get("/api/v1/recommendations/trending")  # the pointer is read (then cached); global trending was met
        time.sleep(0.2)  # at start already, and this first read refreshes it once more, in the background
        sends.clear()
        first = c.get(HOME_URL, params={"user_id": "u1", "count": "100"}).json()
        assert len(sends) == 2  # the list, then one pipelined GET of its videos not met yet
        sends.clear()
        again = c.get(HOME_URL, params={"user_id": "u1", "count": "100"}).json()
        related = c.get("/api/v1/recommendations/related", params={"video_id": "v1"}).json()
        assert len(sends) == 2 and again["items"] == first["items"]  # one GET each: every video was met
        assert [it["title"] for it in related["items"]] == ["Video 2", "Video 3", "Video 4"]
        assert c.get("/healthz").json()["counters"]["catalog_fetches"] == 2  # trending at start, u1's list


def test_titles_follow_a_flip_and_a_rollback(published, run):
    from deltalake import DeltaTable, write_deltalake

    from models import publish
    from vidrec.recstore.reader import AsyncRecoStore

    store = AsyncRecoStore.from_url(published.redis_url, pointer_ttl_s=0.0)  # no pointer cache: see flips at once
    with TestClient(create_app(published, store=store, overlay=DisabledOverlay())) as c:
        def titles() -> list[str]:
            return [it["title"] for it in c.get(HOME_URL, params={"user_id": "u1", "count": "3"}).json()["items"]]

        assert titles() == ["Video 1", "Video 2", "Video 3"]
        videos = Path(published.lake_root) / "videos"
        old = DeltaTable(str(videos)).to_pyarrow_table()
        renamed = old.set_column(old.column_names.index("title"), "title",
                                 pa.array([f"Renamed {t}" for t in old["title"].to_pylist()]))
        write_deltalake(str(videos), renamed, mode="overwrite")
        run.write(published, "2026-11-02")
        second = publish.run(published, "2026-11-02")["version"]
        assert titles() == ["Renamed Video 1", "Renamed Video 2", "Renamed Video 3"]
        RecoStore.from_url(published.redis_url).rollback()
        assert titles() == ["Video 1", "Video 2", "Video 3"]  # the rolled-back-to version's own catalog
        assert store.catalog.versions() == [second, run.VERSION]  # least recently used first


def test_a_version_in_the_earlier_json_layout_is_served_unchanged(settings, redis_url):
    """Versions published before the packed layout stay servable (and rollback targets) after the upgrade."""
    row = ["v1", "Video 1", "c1", "music", 1000, 0.5, "because you watched Vidéo ✓", "als"]
    entries = [(HOME, "u1", json.dumps([row])), (TRENDING, "global", json.dumps([row[:7] + ["trending"]])),
               (COLDSTART, "global", json.dumps([row[:7] + ["coldstart"]])), (VIDEO, "v1", json.dumps(row[:5]))]
    RecoStore.from_url(redis_url).publish("old-layout", entries)
    with TestClient(create_app(settings.replace(redis_url=redis_url), overlay=DisabledOverlay())) as c:
        body = c.get(HOME_URL, params={"user_id": "u1"}).json()
        assert body["version"] == "old-layout" and body["items"] == [dict(zip(codec.ITEM_FIELDS, row))]
        event = c.post("/api/v1/events", json={"event_type": "not_interested", "user_id": "u1", "video_id": "v1"})
        assert event.status_code == 202


def test_publish_packs_lists_byte_for_byte_as_the_codec_does(published, run):
    r = redis.Redis.from_url(published.redis_url)
    for user, videos in run.HOME.items():
        stored = r.get(f"vidrec:v:{run.VERSION}:home:{user}")
        items = [{"video_id": v, "score": round(1.0 - rank * 0.01, 4), "reason": "because", "source": "als"}
                 for rank, v in enumerate(videos)]
        assert stored == codec.encode_items(items, {f"v{i}": i for i in range(1, 41)})  # catalog order: v1..v40
    assert RecoStore.from_url(published.redis_url).get_list(TRENDING, "eu").rows[0] == [
        "v20", "Video 20", "c0", "sports", 20000, 1, "because", "trending"]

"""Feed endpoints through TestClient against a real redis-server, with the fixture run published."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from serving.app import create_app
from serving.overlay import DisabledOverlay
from vidrec.recstore.keys import ITEM_FIELDS

pytestmark = pytest.mark.redis

HOME_URL = "/api/v1/recommendations/home"


@pytest.fixture
def client(published):
    with TestClient(create_app(published, overlay=DisabledOverlay())) as c:
        yield c


def ids(resp) -> list[str]:
    return [it["video_id"] for it in resp.json()["items"]]


def test_home_lists_are_personal_and_carry_catalog_fields(client, run):
    r1, r2 = client.get(HOME_URL, params={"user_id": "u1"}), client.get(HOME_URL, params={"user_id": "u2"})
    assert r1.status_code == r2.status_code == 200
    assert ids(r1) == run.HOME["u1"][:20] and ids(r2) == run.HOME["u2"][:20]
    body = r1.json()
    assert body["version"] == run.VERSION and body["user_id"] == "u1"
    assert body["degraded"] is False and body["overlay"] is False
    assert body["items"][0] == {"video_id": "v1", "title": "Video 1", "creator_id": "c1", "category": "music",
                                "duration_ms": 1000, "score": 1.0, "reason": "because", "source": "als"}


def test_count_limits_the_list(client):
    assert ids(client.get(HOME_URL, params={"user_id": "u1", "count": "3"})) == ["v1", "v2", "v3"]
    assert len(ids(client.get(HOME_URL, params={"user_id": "u1", "count": "100"}))) == 30  # all it has


def test_unknown_user_gets_the_regions_cold_start_list(client, run):
    r = client.get(HOME_URL, params={"user_id": "new-user"})
    assert ids(r) == run.COLDSTART["global"] and {it["source"] for it in r.json()["items"]} == {"coldstart"}
    assert ids(client.get(HOME_URL, params={"user_id": "new-user", "region": "eu"})) == run.COLDSTART["eu"]
    assert ids(client.get(HOME_URL, params={"user_id": "new-user", "region": "mars"})) == run.COLDSTART["global"]


@pytest.mark.parametrize("path, params, parameter", [
    (HOME_URL, {}, "user_id"),
    (HOME_URL, {"user_id": ""}, "user_id"),
    (HOME_URL, {"user_id": "a b"}, "user_id"),
    (HOME_URL, {"user_id": "u1", "count": "0"}, "count"),
    (HOME_URL, {"user_id": "u1", "count": "101"}, "count"),
    (HOME_URL, {"user_id": "u1", "count": "ten"}, "count"),
    (HOME_URL, {"user_id": "u1", "count": "-1"}, "count"),
    (HOME_URL, {"user_id": "u1", "region": "eu west"}, "region"),
    ("/api/v1/recommendations/related", {}, "video_id"),
    ("/api/v1/recommendations/trending", {"count": "1.5"}, "count"),
])
def test_bad_parameters_are_400_naming_the_parameter(client, path, params, parameter):
    r = client.get(path, params=params)
    assert r.status_code == 400
    assert r.json()["error"] == "bad_request" and r.json()["parameter"] == parameter
    assert parameter in r.json()["message"]


def test_related_drops_the_seed_and_falls_back_to_trending(client, run):
    assert ids(client.get("/api/v1/recommendations/related", params={"video_id": "v1"})) == ["v2", "v3", "v4"]
    r = client.get("/api/v1/recommendations/related", params={"video_id": "v9999", "count": "4"})
    assert r.status_code == 200 and r.json()["video_id"] == "v9999"
    assert ids(r) == run.TRENDING["global"][:4] and r.json()["items"][0]["source"] == "trending"


def test_trending_by_region_with_global_fallback(client, run):
    assert ids(client.get("/api/v1/recommendations/trending", params={"region": "eu"})) == run.TRENDING["eu"]
    r = client.get("/api/v1/recommendations/trending", params={"region": "mars", "count": "2"})
    assert ids(r) == run.TRENDING["global"][:2] and r.json()["region"] == "mars"
    assert ids(client.get("/api/v1/recommendations/trending")) == run.TRENDING["global"]


def test_category_lists_a_genres_best_and_a_users_own_order_first(client, run):
    url = "/api/v1/recommendations/category"
    anonymous = client.get(url, params={"genre": "music", "count": "5"})
    assert anonymous.status_code == 200 and ids(anonymous) == run.CATEGORY["music"][:5]
    assert anonymous.json()["genre"] == "music" and anonymous.json()["items"][0]["category"] == "music"
    own = [v for v in run.HOME["u1"] if int(v[1:]) % 2 == 1]  # u1's list, its music videos, in u1's order
    mine = client.get(url, params={"genre": "music", "user_id": "u1"})
    assert ids(mine) == (own + [v for v in run.CATEGORY["music"] if v not in own])[:20]
    assert ids(client.get(url, params={"genre": "music", "user_id": "nobody", "count": "3"})) == run.CATEGORY[
        "music"][:3]  # no list of their own: the genre's best
    unknown = client.get(url, params={"genre": "opera"})
    assert unknown.status_code == 404 and unknown.json()["parameter"] == "genre" and "opera" in unknown.json()[
        "message"]
    assert client.get(url, params={"user_id": "u1"}).json()["parameter"] == "genre"  # required: 400


def test_fresh_lists_new_releases_by_region_with_the_global_list_as_fallback(client, run):
    url = "/api/v1/recommendations/fresh"
    eu = client.get(url, params={"region": "eu"})
    assert eu.status_code == 200 and ids(eu) == run.FRESH["eu"] and eu.json()["items"][0]["source"] == "fresh"
    assert ids(client.get(url, params={"region": "mars", "count": "2"})) == run.FRESH["global"][:2]
    assert ids(client.get(url)) == run.FRESH["global"]


def test_health_ready_and_openapi(client, run):
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["version"] == run.VERSION
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/api/v1/recommendations/home" in spec["paths"]
    assert "/api/v1/events" in spec["paths"]


def test_not_ready_before_anything_is_published(settings, redis_url):
    with TestClient(create_app(settings.replace(redis_url=redis_url), overlay=DisabledOverlay())) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["reason"] == "no active version"
        home = c.get(HOME_URL, params={"user_id": "u1"})
        assert home.status_code == 200 and home.json()["items"] == [] and home.json()["degraded"] is True


class SlowOverlay:
    """An overlay that answers long after the budget (stands in for a stalled feature store)."""

    enabled = True

    async def start(self): ...

    async def aclose(self): ...

    async def user_state(self, user_id):
        import asyncio

        await asyncio.sleep(5)

    async def record(self, event, creator_id):
        import asyncio

        await asyncio.sleep(5)


def test_a_slow_overlay_is_skipped_within_the_time_budget(published, run):
    s = published.replace(overlay_timeout_ms=50)
    with TestClient(create_app(s, overlay=SlowOverlay())) as c:
        started = time.perf_counter()
        r = c.get(HOME_URL, params={"user_id": "u1"})
        elapsed = time.perf_counter() - started
        assert r.status_code == 200 and ids(r) == run.HOME["u1"][:20]
        assert r.json()["overlay"] is False and r.json()["degraded"] is False
        assert elapsed < 1.0
        event = c.post("/api/v1/events", json={"event_type": "click", "user_id": "u1", "video_id": "v1"})
        assert event.status_code == 202 and event.json()["overlay_updated"] is False
        assert c.get("/healthz").json()["counters"]["overlay_timeouts"] == 1


def test_the_api_follows_a_new_publish_and_a_rollback(published, run):
    from models import publish
    from vidrec.recstore.reader import AsyncRecoStore
    from vidrec.recstore.writer import RecoStore

    store = AsyncRecoStore.from_url(published.redis_url, pointer_ttl_s=0.0)  # no pointer cache: see flips at once
    with TestClient(create_app(published, store=store, overlay=DisabledOverlay())) as c:
        run.write(published, "2026-11-02", home={"u1": ["v40", "v39"]})
        second = publish.run(published, "2026-11-02")["version"]
        r = c.get(HOME_URL, params={"user_id": "u1"}).json()
        assert r["version"] == second and ids_of(r) == ["v40", "v39"]
        RecoStore.from_url(published.redis_url).rollback()
        r = c.get(HOME_URL, params={"user_id": "u1"}).json()
        assert r["version"] == run.VERSION and ids_of(r) == run.HOME["u1"][:20]


def test_an_hourly_layer_serves_its_lists_and_a_newcomers_folded_list_over_the_nightly(published, run):
    from vidrec.recstore import codec
    from vidrec.recstore.keys import FOLDED, TRENDING, VIDEO
    from vidrec.recstore.reader import AsyncRecoStore
    from vidrec.recstore.writer import RecoStore

    store = AsyncRecoStore.from_url(published.redis_url, pointer_ttl_s=0.0)
    with TestClient(create_app(published, store=store, overlay=DisabledOverlay())) as c:
        items = [{"video_id": v, "score": 1.0, "reason": "hourly", "source": s}
                 for v, s in (("v30", "trending"), ("v31", "als"))]
        RecoStore.from_url(published.redis_url).publish("hour", [
            (TRENDING, "global", codec.encode_items(items[:1], {"v30": 1})),
            (FOLDED, "newbie", codec.encode_items(items, {"v30": 1, "v31": 2})),
            (VIDEO, "v30", codec.encode_video({"video_id": "v30", "title": "Video 30"})),
            (VIDEO, "v31", codec.encode_video({"video_id": "v31", "title": "Video 31"}))],
            {"base": run.VERSION, "own": [TRENDING, FOLDED]})
        trending = c.get("/api/v1/recommendations/trending").json()
        assert trending["version"] == "hour" and ids_of(trending) == ["v30"]
        assert trending["items"][0]["title"] == "Video 30"
        newbie = c.get(HOME_URL, params={"user_id": "newbie"}).json()
        assert newbie["version"] == "hour" and ids_of(newbie) == ["v30", "v31"]
        known = c.get(HOME_URL, params={"user_id": "u1"}).json()
        assert known["version"] == run.VERSION and ids_of(known) == run.HOME["u1"][:20]
        assert ids_of(c.get(HOME_URL, params={"user_id": "new-user"}).json()) == run.COLDSTART["global"]


def ids_of(body: dict) -> list[str]:
    return [it["video_id"] for it in body["items"]]


def test_feeds_are_rendered_as_the_standard_librarys_compact_json():
    import json

    from serving.feeds import respond

    reason = "because you watched \"X\"\n"
    rows = [["v1", "关于主题 的视频 第1集 🎬", "c1", "música", 60000, 0.123457, reason, "als"],
            ["v2", None, None, None, None, 1.0, None, "explore"], ["v3", "t", "c", "k", 0, 2.5e-07, "r", "s"]]
    body = {"items": [{"video_id": "v1", "title": rows[0][1], "creator_id": "c1", "category": "música",
                       "duration_ms": 60000, "score": 0.123457, "reason": rows[0][6], "source": "als"}],
            "version": "2026-11-01-abc", "degraded": False, "overlay": True, "user_id": "u1"}
    answer = respond(rows, [0], "2026-11-01-abc", overlay=True, user_id="u1")
    assert answer.body == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert answer.media_type == "application/json"
    assert json.loads(respond(rows, [2, 1], None).body)["items"][0]["score"] == 2.5e-07


def test_packed_lists_render_the_same_bytes_as_their_rows():
    """The API's renderer of packed lists (display fields rendered once per version) against the standard
    library on the same rows: unknown videos, null and whole scores, non-ASCII and quotes, a second request
    served from the rendered cache."""
    import json

    from serving.render import feed_json
    from vidrec.recstore import codec
    from vidrec.recstore.catalog import VersionCatalog

    catalog = {"v1": ("v1", "关于 \"X\" 🎬", "c1", "música", 60000), "v2": ("v2", None, "c2", None, None)}
    index = {"v1": 1, "v2": 2}
    items = [{"video_id": "v2", "score": 1.0, "reason": "because you watched \"X\"", "source": "als"},
             {"video_id": "v9", "score": None, "reason": None, "source": "explore"},
             {"video_id": "v1", "score": 0.123457, "reason": "r", "source": "popular"}]
    version = VersionCatalog()
    joined = version.add({index[v]: row for v, row in catalog.items()})
    rows = codec.Rows(codec.decode_value(codec.encode_items(items, index)), joined, version.rendered)
    for positions in ([0, 1, 2], [2, 0], []):
        expected = {"items": [dict(zip(ITEM_FIELDS, rows[i])) for i in positions], "version": "v", "n": 1}
        for _ in range(2):
            assert feed_json(rows, positions, version="v", n=1) == json.dumps(
                expected, ensure_ascii=False, separators=(",", ":")).encode()
    assert set(version.rendered) == {1, 2}  # the unknown video (position 0) is rendered per request
    listed = [["v7", "Seven", "c7", "news", 7, 0.5, "own", "als"]]  # rows as lists (a degraded answer's)
    picks = [(rows, 2, "because you liked \"X\"", "realtime"), (listed, 0, None, None), (rows, 1, None, None)]
    expected = [{**dict(zip(ITEM_FIELDS, rows[2])), "reason": "because you liked \"X\"", "source": "realtime"},
                dict(zip(ITEM_FIELDS, listed[0])), dict(zip(ITEM_FIELDS, rows[1]))]
    assert feed_json(None, picks, n=1) == json.dumps({"items": expected, "n": 1}, ensure_ascii=False,
                                                     separators=(",", ":")).encode()

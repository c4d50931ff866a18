"""The next home request reflects what the user just did: through the real API, a real Redis holding the
published fixture run, and the real-time state pushed through a real Feast push source (serving.reaction)."""

from __future__ import annotations

import json
import time

import pytest
from starlette.testclient import TestClient

from serving.app import create_app
from serving.overlay import FeastOverlay
from serving.reaction import SOURCE, blend
from serving.render import picks_json
from serving.state import UserState

pytestmark = pytest.mark.redis
HOME = "/api/v1/recommendations/home"


def ids(answer: dict) -> list[str]:
    return [it["video_id"] for it in answer["items"]]


@pytest.fixture
def client(published, feast_config, redis_server):
    import redis
    from feast import FeatureStore

    redis.Redis.from_url(redis_server.rsplit("/", 1)[0] + "/8").flushdb()  # each test's users start afresh
    # A generous budget: this checks what the reaction does, not its speed, on a shared 2-core machine.
    app = create_app(published.replace(overlay_timeout_ms=500), overlay=FeastOverlay(FeatureStore(config=feast_config)))
    with TestClient(app) as c:
        def post(kind: str, user: str, video: str) -> None:
            event = {"event_type": kind, "user_id": user, "video_id": video}
            r = c.post("/api/v1/events", json={**event, "watch_ms": 30_000} if kind == "watch" else event)
            assert r.status_code == 202 and r.json()["overlay_updated"] is True, r.text

        c.post_event = post
        yield c


def test_a_first_watch_leads_the_next_feed_with_related_videos_within_a_second(client, run):
    before = client.get(HOME, params={"user_id": "newcomer"}).json()
    assert ids(before) == run.COLDSTART["global"]  # a first visit: the cold-start list
    started = time.monotonic()
    client.post_event("watch", "newcomer", "v1")
    after = client.get(HOME, params={"user_id": "newcomer"}).json()
    assert time.monotonic() - started < 1.0
    related = [v for v in run.RELATED["v1"] if v != "v1"]
    assert ids(after) == related + run.COLDSTART["global"]
    assert {(it["reason"], it["source"]) for it in after["items"][:len(related)]} == {
        ("because you watched Video 1", SOURCE)}
    assert after["overlay"] is True and after["degraded"] is False
    assert client.get("/healthz").json()["counters"]["reactions"] == 1  # the first request had nothing to react to


def test_a_like_lifts_the_liked_videos_related_ones(client):
    client.post_event("watch", "u2", "v2")
    client.post_event("watch", "u2", "v1")  # the most recent watch leads, the seeds take turns
    assert ids(client.get(HOME, params={"user_id": "u2"}).json())[:4] == ["v3", "v5", "v4", "v6"]
    client.post_event("like", "u2", "v2")
    liked = client.get(HOME, params={"user_id": "u2"}).json()
    assert ids(liked)[:4] == ["v5", "v3", "v6", "v4"]
    assert liked["items"][0]["reason"] == "because you liked Video 2"


def test_a_dislike_hides_the_video_and_sinks_its_creator(client, run):
    client.post_event("dislike", "u1", "v3")  # creator c3: v8, v13, v18, v23, v28 sink
    answer = ids(client.get(HOME, params={"user_id": "u1", "count": "30"}).json())
    sunk = [v for v in run.HOME["u1"] if run.creator(int(v[1:])) == "c3" and v != "v3"]
    assert "v3" not in answer and answer == [v for v in run.HOME["u1"] if v != "v3" and v not in sunk] + sunk


def test_a_skip_and_repeated_impressions_without_a_click_sink_the_video(client, run):
    client.post_event("skip", "u2", "v40")
    for _ in range(3):
        client.post_event("impression", "u2", "v39")
    client.post_event("impression", "u2", "v38")  # shown once: stays
    answer = ids(client.get(HOME, params={"user_id": "u2", "count": "30"}).json())
    assert answer == run.HOME["u2"][2:] + ["v40", "v39"]


def test_blend_takes_turns_between_seeds_skips_what_is_hidden_or_taken_and_sinks_last():
    def rows(*vids):
        return [[v, f"T {v}", f"c{v[1:]}", None, None, 1.0, "r", "als"] for v in vids]

    state = UserState(watched=("s1",), liked=("s2",), not_interested_videos=("a2",), skipped=("h1",))
    related = [("s2", "because you liked T s2", rows("a1", "a2", "a3")), ("s1", "x", rows("s2", "b1", "a1"))]
    def items(picks):
        return json.loads(picks_json(picks))

    out = items(blend(rows("h1", "a3", "h2", "h3", "h4", "s1"), related, state, 6))
    assert [r["video_id"] for r in out] == ["a1", "b1", "a3", "h2", "h3", "h4"]  # a2 hidden, s2 a seed, a1 taken,
    assert (out[0]["reason"], out[0]["source"]) == ("because you liked T s2", SOURCE)  # h1 sunk
    assert (out[3]["reason"], out[3]["source"], out[3]["title"]) == ("r", "als", "T h2")
    assert [r["video_id"] for r in items(blend(rows("h1", "h2"), [], state, 6))] == ["h2", "h1"]

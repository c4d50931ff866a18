"""The home feed re-sorted for the request's context: the version's context model, read from its meta."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from starlette.testclient import TestClient

from models import publish
from serving.app import create_app
from serving.overlay import DisabledOverlay
from vidrec.context import ContextModel, band, daypart, depth, request_context, weekpart

# catalog durations are 1000 x i ms: v1-v29 are band 0 (< 30 s), v30-v40 band 1
TV_LIKES_LONGER = {"weight": 1.0, "edges_ms": [30_000, 120_000, 600_000],
                   "lifts": {"device": {"tv": [-0.1, 0.5, 0.5, 0.5], "android": [0.1, -0.5, -0.5, -0.5]},
                             "depth": {"deep": [-0.1, 0.5, 0.5, 0.5]}}}  # deep in a session, longer too


def test_bands_dayparts_and_the_request_context():
    assert [band(d) for d in (None, 0, 1, 29_999, 30_000, 119_999, 120_000, 600_000, 10**9)] == [
        None, None, 0, 0, 1, 1, 2, 3, 3]
    assert [daypart(h) for h in (0, 5, 6, 12, 17, 18, 23)] == [
        "night", "night", "morning", "afternoon", "afternoon", "evening", "evening"]
    at = dt.datetime(2026, 11, 1, 20, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))  # 01:30 UTC
    assert request_context("tv", at) == {"device": "tv", "daypart": "night", "weekpart": "weekday"}  # Monday
    assert request_context(None, at, 0) == {"daypart": "night", "weekpart": "weekday", "depth": "first"}
    assert request_context(None, at - dt.timedelta(days=1), 7)["weekpart"] == "weekend"
    assert [weekpart(d) for d in range(7)] == ["weekday"] * 5 + ["weekend"] * 2
    assert [depth(n) for n in (0, 1, 3, 4, 99)] == ["first", "early", "early", "deep", "deep"]


def test_the_model_reorders_by_score_plus_offset_and_refuses_what_it_cannot_read():
    model = ContextModel.from_json(TV_LIKES_LONGER)
    scores, durations = [1.0, 0.9, 0.8, 0.7], [10_000, 20_000, None, 60_000]
    assert model.resorted(scores, durations, {"device": "tv"}) == [3, 0, 1, 2]  # 0.7 + 0.5 leads; None moves not
    assert model.resorted(scores, durations, {"device": "android"}) == [0, 1, 2, 3]
    assert model.resorted(scores, durations, {"device": "web", "daypart": "night"}) == [0, 1, 2, 3]
    assert ContextModel(0.0, model.lifts).resorted(scores, durations, {"device": "tv"}) == [0, 1, 2, 3]
    assert ContextModel.from_json(model.to_json()) == model
    for bad in (None, {}, {**TV_LIKES_LONGER, "edges_ms": [1, 2, 3]}, {**TV_LIKES_LONGER, "weight": -1},
                {**TV_LIKES_LONGER, "weight": float("nan")}, {**TV_LIKES_LONGER, "lifts": {"weather": {}}},
                {**TV_LIKES_LONGER, "lifts": {"device": {"tv": [0.1, 0.2]}}},
                {**TV_LIKES_LONGER, "lifts": {"device": {"tv": [9.0, 0, 0, 0]}}}):
        assert ContextModel.from_json(bad) is None


@pytest.fixture
def context_client(settings, redis_url, run):
    s = settings.replace(redis_url=redis_url)
    run.write(s, context=TV_LIKES_LONGER)
    publish.run(s, run.DS)
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        c.get("/api/v1/recommendations/trending")  # the version is met: its context model is read, in the background
        time.sleep(0.2)
        yield c


def _ids(client, **params) -> list[str]:
    r = client.get("/api/v1/recommendations/home", params={"user_id": "u1", "count": 3, **params})
    assert r.status_code == 200, r.text
    return [item["video_id"] for item in r.json()["items"]]


def test_home_on_a_tv_brings_the_longer_videos_up(context_client, run):
    assert _ids(context_client) == run.HOME["u1"][:3]  # no device, no depth: no other lift in this model
    assert _ids(context_client, device="android") == run.HOME["u1"][:3]
    tv = _ids(context_client, device="tv", count=20)
    assert tv[0] == "v30" and tv[1:] == run.HOME["u1"][:19]  # v30 (30 s): 0.71 + 0.5 - ... beats v1's 1.0 - 0.1
    r = context_client.get("/api/v1/recommendations/home", params={"user_id": "u1", "device": "phone"})
    assert r.status_code == 400 and r.json()["parameter"] == "device"


def test_home_deep_into_a_session_brings_the_longer_videos_up(context_client, run):
    assert _ids(context_client, session_depth=3) == run.HOME["u1"][:3]  # "early": no lift
    deep = _ids(context_client, session_depth=4, count=20)
    assert deep[0] == "v30" and deep[1:] == run.HOME["u1"][:19]
    for bad in ("-1", "x", "1.5", "100001"):
        r = context_client.get("/api/v1/recommendations/home", params={"user_id": "u1", "session_depth": bad})
        assert r.status_code == 400 and r.json()["parameter"] == "session_depth"
        assert "watched earlier in the session" in r.json()["message"]


@pytest.mark.redis
def test_without_session_depth_the_overlay_counts_the_watches_of_the_session(settings, redis_url, run, feast_config):
    from feast import FeatureStore

    from serving.overlay import FeastOverlay

    s = settings.replace(redis_url=redis_url, overlay_timeout_ms=500)
    run.write(s, context=TV_LIKES_LONGER, home={"u1": run.HOME["u1"], "u2": run.HOME["u1"]})  # deep: v30 moves up
    publish.run(s, run.DS)
    two_hours_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)).isoformat()
    with TestClient(create_app(s, overlay=FeastOverlay(FeatureStore(config=feast_config)))) as c:
        c.get("/api/v1/recommendations/trending")
        time.sleep(0.2)
        for user, ts in (("u1", None), ("u2", two_hours_ago)):  # u1 watches now, u2 two hours ago
            for video in ("v36", "v37", "v38", "v39"):
                event = {"event_type": "watch", "user_id": user, "video_id": video, "watch_ms": 5000}
                r = c.post("/api/v1/events", json=event if ts is None else {**event, "ts": ts})
                assert r.status_code == 202 and r.json()["overlay_updated"] is True

        def feed(user: str, **params) -> list[str]:
            r = c.get("/api/v1/recommendations/home", params={"user_id": user, "count": 20, **params}).json()
            assert r["overlay"] is True
            return [item["video_id"] for item in r["items"]]

        assert feed("u1") == feed("u1", session_depth=4) != feed("u1", session_depth=0)  # 4 watches: deep
        assert feed("u2") == feed("u2", session_depth=0) != feed("u2", session_depth=4)  # a session long over


def test_a_version_without_a_context_model_serves_its_lists_as_they_are(published, run):
    with TestClient(create_app(published, overlay=DisabledOverlay())) as c:
        c.get("/api/v1/recommendations/trending")
        time.sleep(0.2)
        assert _ids(c, device="tv", count=20) == run.HOME["u1"][:20]


def test_an_experiment_arm_sets_the_context_weight_of_lifts_published_at_weight_0(settings, redis_url, run, tmp_path):
    import json

    from vidrec import experiments
    path = tmp_path / "experiments.json"
    spec = {"experiments": [{"name": "context", "salt": "c1", "surfaces": ["home"], "arms": [
        {"name": "off", "share": 0.5, "policy": {"context_weight": 0}},
        {"name": "on", "share": 0.5, "policy": {"context_weight": 1.0}}]}]}
    path.write_text(json.dumps(spec))
    s = settings.replace(redis_url=redis_url, experiments_file=str(path))
    home = {"u1": run.HOME["u1"], "u2": run.HOME["u1"]}  # the same list: a TV moves v30 up in both
    run.write(s, context={**TV_LIKES_LONGER, "weight": 0.0}, home=home)  # the lifts, published but not applied
    publish.run(s, run.DS)
    users = {experiments.parse(spec)[0].arm_of(u).name: u for u in home}
    assert set(users) == {"off", "on"}  # salt c1 puts u1 and u2 in different arms
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        c.get("/api/v1/recommendations/trending")
        time.sleep(0.2)
        for name, user in users.items():
            r = c.get("/api/v1/recommendations/home", params={"user_id": user, "device": "tv", "count": 20}).json()
            ids = [item["video_id"] for item in r["items"]]
            assert r["arm"] == name
            assert (ids == home[user][:20]) == (name == "off")
    with pytest.raises(experiments.ExperimentError, match="not negative"):
        experiments.parse({"experiments": [{"name": "x", "salt": "s", "surfaces": ["home"], "arms": [
            {"name": "a", "share": 1.0, "policy": {"context_weight": -1}}]}]})

"""The real-time overlay: the pure drop-and-refill rule, and the Feast path end to end on a real Redis.

The Feast test declares the smallest repo serving needs (entity ``user``, push source ``user_realtime_push``,
view ``user_realtime``) in code; tests/feature_repo runs the same overlay on the project's feature_repo/.
"""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.testclient import TestClient

from serving.overlay import FEATURE_VIEW, PUSH_SOURCE, FeastOverlay, UserState, updated_state, visible
from serving.state import WATCH_TIMES_KEPT

HOME_URL = "/api/v1/recommendations/home"


def rows(*vids_and_creators):
    return [[v, None, c, None, None, None, None, None] for v, c in vids_and_creators]


def test_hidden_videos_and_creators_are_dropped_and_spares_refill():
    listed = rows(("v1", "a"), ("v2", "b"), ("v3", "a"), ("v4", "c"), ("v5", "d"), ("v6", "e"))
    state = UserState(watched=("v2",), not_interested_videos=("v5",), not_interested_creators=("a",))
    assert visible(listed, state, 2) == [3, 5]  # v4, v6
    assert visible(listed, state, 10) == [3, 5]  # fewer spares than asked: all left
    assert visible(listed, UserState(), 3) == [0, 1, 2]
    assert visible(listed, UserState(), 10, exclude="v2") == [0, 2, 3, 4, 5]  # related: the seed video left out
    assert visible(listed, state, 10, exclude="v4") == [5]


def test_event_types_update_the_state():
    s = updated_state(UserState(), {"event_type": "watch", "video_id": "v1"}, None)
    s = updated_state(s, {"event_type": "click", "video_id": "v2"}, None)
    s = updated_state(s, {"event_type": "not_interested", "video_id": "v3"}, "c9")
    assert s == UserState(watched=("v2", "v1"), not_interested_videos=("v3",), not_interested_creators=("c9",))
    s = updated_state(s, {"event_type": "like", "video_id": "v4"}, None)
    s = updated_state(s, {"event_type": "dislike", "video_id": "v5"}, "c5")
    s = updated_state(s, {"event_type": "skip", "video_id": "v6"}, None)
    for _ in range(3):
        s = updated_state(s, {"event_type": "impression", "video_id": "v7"}, None)
    s = updated_state(s, {"event_type": "impression", "video_id": "v4"}, None)
    assert s == UserState(watched=("v2", "v1"), not_interested_videos=("v5", "v3"), not_interested_creators=("c9",),
                          liked=("v4",), skipped=("v6",), disliked_creators=("c5",), impressions=("v4", "v7", "v7", "v7"))
    assert s.seeds(2) == ["v4", "v2"] and s.sunk() == ({"v6", "v7"}, {"c5"})  # v4 shown, but liked: not sunk
    assert updated_state(s, {"event_type": "search", "video_id": "v8"}, None) is None


def test_the_session_depth_counts_the_watches_chained_back_from_now():
    t = 1_800_000_000_000  # epoch ms
    minute = 60_000
    s = UserState()
    for start_min, watched_min in ((0, 5), (6, 2), (60, 10), (75, 1)):  # a session of 2, then one of 2
        ts = dt.datetime.fromtimestamp((t + start_min * minute) / 1000, dt.timezone.utc).isoformat()
        s = updated_state(s, {"event_type": "watch", "video_id": f"v{start_min}", "ts": ts,
                              "watch_ms": watched_min * minute}, None)
    assert s.watch_times[0] == f"{t + 75 * minute}+{minute}" and len(s.watch_times) == 4
    assert updated_state(s, {"event_type": "click", "video_id": "v9"}, None).watch_times == s.watch_times
    assert s.session_depth(t + 80 * minute) == 2  # 75-76 and 60-70 chain; 8 -> 60 is 52 minutes idle
    assert s.session_depth(t + 106 * minute) == 2  # 30 minutes after the last watch ended: still on
    assert s.session_depth(t + 107 * minute) == 0  # 31: over
    assert s.session_depth(t + 70 * minute) == 1  # the 75-minute watch is after this request: not counted
    assert UserState().session_depth(t) == 0
    assert UserState(watch_times=("garbage", f"{t}+x", f"{t}+1000")).session_depth(t + 2000) == 1  # bad ones skipped
    for i in range(40):
        s = updated_state(s, {"event_type": "watch", "video_id": "v1", "ts": "2026-11-01T10:00:00Z", "watch_ms": i},
                          None)
    assert len(s.watch_times) == WATCH_TIMES_KEPT and s.watch_times[0].endswith("+39")  # the newest kept


@pytest.mark.redis
def test_events_pushed_through_feast_change_the_next_home_feed(published, feast_config, run):
    from feast import FeatureStore

    overlay = FeastOverlay(FeatureStore(config=feast_config))
    # A generous budget: this checks the overlay's effect, not its speed, on a shared 2-core machine.
    with TestClient(create_app_with(published.replace(overlay_timeout_ms=500), overlay)) as c:
        before = c.get(HOME_URL, params={"user_id": "u1", "count": "5"}).json()
        assert before["overlay"] is True and [it["video_id"] for it in before["items"]] == run.HOME["u1"][:5]
        for event in ({"event_type": "not_interested", "user_id": "u1", "video_id": "v1"},  # creator c1 via catalog
                      {"event_type": "watch", "user_id": "u1", "video_id": "v2", "watch_ms": 5000}):
            r = c.post("/api/v1/events", json=event)
            assert r.status_code == 202 and r.json()["overlay_updated"] is True
        hidden = {"v1", "v2"} | {v for v in run.HOME["u1"] if run.creator(int(v[1:])) == "c1"}
        related = [v for v in run.RELATED["v2"] if v not in hidden]  # the watch of v2 leads with v2's related
        expected = related + [v for v in run.HOME["u1"] if v not in hidden and v not in related]
        after = c.get(HOME_URL, params={"user_id": "u1"}).json()
        assert after["overlay"] is True and [it["video_id"] for it in after["items"]] == expected[:20]
        assert after["items"][0]["reason"] == "because you watched Video 2"
        assert len(after["items"]) == 20  # refilled from the spare items
        other = c.get(HOME_URL, params={"user_id": "u2", "count": "5"}).json()
        assert [it["video_id"] for it in other["items"]] == run.HOME["u2"][:5]


def create_app_with(settings, overlay):
    from serving.app import create_app

    return create_app(settings, overlay=overlay)


@pytest.mark.redis
def test_the_direct_redis_read_says_what_feasts_own_read_says(feast_config, redis_server):
    """RedisStateReader (the request path) against FeatureStore.get_online_features on the same real Redis: users
    with state pushed through Feast (one of them hours ago), one never seen."""
    import asyncio

    import pandas as pd
    from feast import FeatureStore

    from serving.overlay import FEATURES, RedisStateReader

    store = FeatureStore(config=feast_config)
    now = pd.Timestamp.now(tz="UTC")
    store.push(PUSH_SOURCE, pd.DataFrame({
        "user_id": ["r1", "r2", "old"], "session_watched": [["v1", "v2"], [], ["v9"]],
        "recent_not_interested_videos": [["v3"], ["v4", "v5"], []],
        "recent_not_interested_creators": [["c1"], [], ["c9"]], "recent_liked": [["v7"], [], []],
        **{f: [[], [], []] for f in FEATURES[4:]},
        "event_ts": [now, now, now - pd.Timedelta(hours=7)]}))

    async def both(user: str) -> tuple[UserState, UserState]:
        reader = RedisStateReader(store, redis_server.rsplit("/", 1)[0] + "/8", FEATURE_VIEW)
        try:
            direct = await reader.user_state(user)
        finally:
            await reader.aclose()
        row = store.get_online_features(features=[f"{FEATURE_VIEW}:{f}" for f in FEATURES],
                                        entity_rows=[{"user_id": user}]).to_dict()
        return direct, UserState(*(tuple(row[f][0] or ()) for f in FEATURES))

    for user, expected in [("r1", UserState(("v1", "v2"), ("v3",), ("c1",), ("v7",))), ("r2", UserState((), ("v4", "v5"), ())),
                           ("old", UserState(("v9",), (), ("c9",))), ("never-seen", UserState())]:
        direct, feast_read = asyncio.run(both(user))
        assert direct == feast_read == expected, user

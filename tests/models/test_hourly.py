"""`vidrec run publish_hourly`: the trending, cold-start and new-release lists rebuilt from a real Delta lake and
published to a real Redis as a layer over the served nightly version."""

from __future__ import annotations

import pandas as pd
import pytest
import redis

from models import hourly, io
from models.retrieval import als, ann_index
from vidrec.recstore import codec
from vidrec.recstore.keys import COLDSTART, FOLDED, FRESH, HOME, TRENDING, VIDEO
from vidrec.recstore.writer import RecoStore

pytestmark = pytest.mark.redis
DS = "2026-11-07"


@pytest.fixture
def lake(settings, redis_server, world_big, write_lake):
    url = redis_server.rsplit("/", 1)[0] + "/8"
    redis.Redis.from_url(url).flushdb()
    settings = settings.replace(redis_url=url, topn=10, active_days=7)
    write_lake(settings, *world_big)
    return settings


def nightly(store: RecoStore, version: str = "nightly") -> None:
    """A nightly version with one home list and a trending list the hourly run must replace."""
    store.publish(version, [(HOME, "u0_0", codec.encode_items([{"video_id": "v0_0_0", "reason": "night"}],
                                                              {"v0_0_0": 1})),
                            (TRENDING, "global", codec.encode_items([{"video_id": "v0_0_0", "reason": "night"}])),
                            (VIDEO, "v0_0_0", codec.encode_video({"video_id": "v0_0_0", "title": "t"}))])


def test_the_hourly_lists_are_served_over_the_nightly_personal_lists(lake, world_big):
    store = RecoStore.from_url(lake.redis_url)
    nightly(store)
    result = hourly.run(lake, DS)
    layer = result["version"]
    assert layer.startswith(f"{DS}-hourly-") and result["base"] == "nightly" and store.active_version() == layer
    meta = store.meta(layer)
    assert meta["kind"] == "hourly" and meta["base"] == "nightly" and meta["published_by"] == {"cli": True}
    assert set(meta["own"]) == {TRENDING, COLDSTART, FRESH, FOLDED}
    trending = store.get_list(TRENDING, "global")
    assert trending.version == layer and len(trending.rows) == 10 and trending.rows[0][6] != "night"
    inter, videos, _ = world_big
    watched = set(inter["video_id"])
    assert {r[0] for r in trending.rows} <= watched and all(r[1] for r in trending.rows)  # titles joined
    assert store.get_list(COLDSTART, "us").version == layer
    fresh = store.get_list(FRESH, "global").rows
    assert "vnew" in [r[0] for r in fresh]  # uploaded on DS, never watched: a new release already
    home = store.get_list(HOME, "u0_0")
    assert home.version == "nightly" and home.rows[0][6] == "night"  # the personal list stays the nightly's
    again = hourly.run(lake, DS)  # the next hour lays over the same nightly, not over the first layer
    assert again["base"] == "nightly" and again["version"] != layer and store.active_version() == again["version"]


def test_a_nightly_published_while_the_layer_is_written_wins(lake, monkeypatch):
    store = RecoStore.from_url(lake.redis_url)
    nightly(store, "n1")
    written = hourly.store_entries

    def then_a_nightly(stream, threads):
        yield from written(stream, threads)
        nightly(store, "n2")

    monkeypatch.setattr(hourly, "store_entries", then_a_nightly)
    with pytest.raises(hourly.PublishRefused, match="new nightly version"):
        hourly.run(lake, DS)
    assert store.active_version() == "n2"


def test_nothing_is_published_before_the_first_nightly(lake):
    result = hourly.run(lake, DS)
    assert "no version is served" in result["skipped"]
    assert RecoStore.from_url(lake.redis_url).active_version() is None


def test_a_user_new_since_the_nightly_gets_a_list_folded_into_its_als_space(settings, redis_server, world_big,
                                                                             write_lake):
    inter, videos, users = world_big
    day = pd.Timestamp(DS, tz="UTC") + pd.Timedelta(hours=9)
    newbie = pd.DataFrame({"user_id": "newbie", "video_id": ["v000", "v011", "v022"], "event_type": "watch",
                           "watch_fraction": 1.0, "ts": [day, day + pd.Timedelta(minutes=5), day + pd.Timedelta(minutes=9)],
                           "ds": DS, "region": "us"})
    url = redis_server.rsplit("/", 1)[0] + "/8"
    redis.Redis.from_url(url).flushdb()
    s = settings.replace(redis_url=url, topn=10, active_days=7, als_factors=4, als_iterations=8)
    write_lake(s, pd.concat([inter, newbie], ignore_index=True),
               videos, pd.concat([users, pd.DataFrame({"user_id": ["newbie"], "region": ["us"]})]))
    night = "2026-11-06"
    als.run(s, night)
    ann_index.run(s, night)
    store = RecoStore.from_url(url)
    store.publish("nightly", [(TRENDING, "global", codec.encode_items([{"video_id": "v000"}]))],
                  {"ds": night, "run_dir": str(io.run_path(s, night))})
    result = hourly.run(s, DS)
    assert result["items"][FOLDED] > 0
    folded = store.get_list(FOLDED, "newbie")
    assert folded.version == result["version"] and len(folded.rows) >= 5
    ids = [r[0] for r in folded.rows]
    assert not {"v000", "v011", "v022"} & set(ids)  # what they watched is left out
    music = set(videos.loc[videos["category"] == "Music", "video_id"])
    assert sum(v in music for v in ids[:5]) >= 4  # their taste: the Music videos of the ALS space
    assert all(r[6].startswith("because you watched ") for r in folded.rows if r[7] == "als")
    assert store.get_list(FOLDED, "u0_0") is None  # a user the nightly knew keeps the nightly's list

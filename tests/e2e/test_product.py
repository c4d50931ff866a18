"""The whole product on real data: MovieLens 100K -> ingest_hourly -> features -> train_nightly, all through
`airflow dags test`, then the API (real Redis, real Feast overlay) answers the way users expect."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter

import pytest
from deltalake import DeltaTable

from vidrec.ops import airflow_env

from vidrec.sources import movielens

from vidrec.ops import services
from vidrec.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.airflow, pytest.mark.spark, pytest.mark.redis]
COUNT = 30


@pytest.fixture(scope="module")
def product(tmp_path_factory, ml100k):
    for key in [k for k in os.environ if k.startswith(("AIRFLOW", "VIDREC_"))]:
        os.environ.pop(key)
    tmp = tmp_path_factory.mktemp("product")
    port = services.free_port()
    redis_proc = services.start_redis(port, tmp / "redis")
    settings = Settings(data_dir=tmp / "var", redis_url=f"redis://127.0.0.1:{port}/0", spark_shuffle_partitions=2,
                        spark_driver_memory="1g", topn=50, als_factors=32, als_iterations=10,
                        active_days=400)  # ML-100K spans 7 months: every user gets a feed
    movielens.import_movielens(ml100k, settings.landing_dir)
    assert airflow_env.test_dag(settings, "ingest_hourly", "2026-11-20T10:00:00+00:00", timeout=900) == 0
    events = DeltaTable(str(settings.lake_root / "events")).to_pyarrow_table(
        columns=["user_id", "video_id", "ds"]).to_pandas()
    last = dt.date.fromisoformat(events["ds"].max())
    from spark_jobs.features import trending
    from spark_jobs.features import user_features
    from spark_jobs.features import video_features
    for back in (3, 2, 1):
        for job in (user_features, video_features, trending):
            job.run(settings, (last - dt.timedelta(days=back)).isoformat())
    next_day = (last + dt.timedelta(days=1)).isoformat()
    assert airflow_env.test_dag(settings, "features_hourly", f"{next_day}T00:15:00+00:00", timeout=1500) == 0
    assert airflow_env.test_dag(settings, "train_nightly", f"{next_day}T03:00:00+00:00", timeout=1500) == 0
    # the next hour: features_hourly lays fresh trending, cold-start and new-release lists over the nightly
    assert airflow_env.test_dag(settings, "features_hourly", f"{next_day}T04:15:00+00:00", timeout=1500) == 0
    yield settings, events, redis_proc
    redis_proc.terminate()


@pytest.fixture(scope="module")
def api(product):
    from starlette.testclient import TestClient

    from serving.app import create_app

    from vidrec import api_keys

    settings, _, _ = product
    key = api_keys.add(settings.api_keys_file, "e2e-app", "admin")  # the API needs a key by default
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def home(api, user, **params):
    resp = api.get("/api/v1/recommendations/home", params={"user_id": user, "count": COUNT, **params})
    assert resp.status_code == 200, resp.text
    return resp.json()


def active_users(events, n):
    return list(events["user_id"].value_counts().index[:n])


def test_feeds_are_personal_and_skip_what_the_user_already_saw(api, product):
    _, events, _ = product
    users = active_users(events, 8)
    feeds = {u: [i["video_id"] for i in home(api, u)["items"]] for u in users}
    assert all(len(f) == COUNT for f in feeds.values())
    assert len({tuple(f) for f in feeds.values()}) == len(users), "users with different histories get different feeds"
    seen = events.groupby("user_id")["video_id"].agg(set)
    for user, feed in feeds.items():
        assert not set(feed) & seen[user], f"{user} is offered videos they already rated"


def test_creator_limits_hold_in_every_feed(api, product):
    settings, events, _ = product
    for user in active_users(events, 20):
        creators = [i["creator_id"] for i in home(api, user)["items"]]
        assert all(a != b for a, b in zip(creators, creators[1:])), "no creator back to back"
        for start in range(len(creators)):
            window = Counter(creators[start:start + settings.creator_window])
            assert max(window.values()) <= settings.creator_max_per_window
        assert all(i["reason"] and i["source"] for i in home(api, user)["items"])


def test_not_interested_removes_the_video_and_its_creator_on_the_next_request(api, product):
    _, events, _ = product
    user = active_users(events, 30)[-1]
    first = home(api, user)["items"][0]
    resp = api.post("/api/v1/events", json={"user_id": user, "video_id": first["video_id"],
                                            "creator_id": first["creator_id"], "event_type": "not_interested"})
    assert resp.status_code == 202, resp.text
    after = home(api, user)
    assert after["overlay"] is True
    assert first["video_id"] not in {i["video_id"] for i in after["items"]}
    assert first["creator_id"] not in {i["creator_id"] for i in after["items"]}
    assert len(after["items"]) == COUNT  # refilled from the spare items


def test_an_unknown_user_gets_the_cold_start_list(api):
    feed = home(api, "someone-new", region="us-9")
    assert feed["items"] and {i["source"] for i in feed["items"]} <= {"coldstart", "trending"}


def test_related_and_trending_answer(api, product):
    _, events, _ = product
    video = events["video_id"].value_counts().index[0]
    related = api.get("/api/v1/recommendations/related", params={"video_id": video, "count": 10}).json()
    assert related["items"] and video not in {i["video_id"] for i in related["items"]}
    trending = api.get("/api/v1/recommendations/trending", params={"region": "global", "count": 10}).json()
    assert len(trending["items"]) == 10


def test_trending_answers_from_the_lists_features_hourly_published_over_the_nightly(api, product):
    from vidrec.recstore.writer import RecoStore

    settings, events, _ = product
    store = RecoStore.from_url(settings.redis_url)
    trending = api.get("/api/v1/recommendations/trending", params={"region": "global", "count": 10}).json()
    meta = store.meta(trending["version"])
    by = meta["published_by"]
    assert meta["kind"] == "hourly" and (by["dag_id"], by["task_id"]) == ("features_hourly", "publish_hourly")
    next_day = dt.date.fromisoformat(events["ds"].max()) + dt.timedelta(days=1)
    assert by["logical_date"].startswith(f"{next_day}T04:15:00")  # the run of that hour
    nightly = store.meta(meta["base"])
    assert nightly["published_by"]["dag_id"] == "train_nightly" and "kind" not in nightly
    user = active_users(events, 1)[0]
    assert home(api, user)["version"] == meta["base"]  # the personal lists stay the nightly's


def test_a_simulated_ab_test_finds_the_model_beats_popularity_with_plots_in_its_report(product):
    from vidrec.ops import simulate

    settings, _, _ = product
    done = simulate.run(settings, users=400, rounds=2)
    figures = done["figures"]
    assert figures["control"] == "control" and set(figures["arms"]) == {"control", "two_stage"}
    assert figures["srm"]["mismatch"] is False  # users split as declared
    model = figures["arms"]["two_stage"]["metrics"]
    for metric in ("ctr", "watch_ms_per_impression"):  # users like what is chosen for them better than what is popular
        assert model[metric]["diff"] > 0 and model[metric]["significant"], (metric, model[metric])
    folder = settings.artifact_root / "experiments" / simulate.SIMULATED
    (day,) = [p for p in folder.iterdir()]
    report = (day / "report.md").read_text()
    assert "![watch time per impression (ms)](watch_ms_per_impression.png)" in report
    assert all((day / f"{m}.png").read_bytes()[:4] == b"\x89PNG" for m in figures["plots"])
    assert done["served_items"] >= sum(a["impressions"] for a in figures["arms"].values()) > 0


def test_with_redis_stopped_the_api_still_answers_degraded(api, product):
    _, events, redis_proc = product
    api.get("/api/v1/recommendations/trending", params={"count": 10})  # the last-known list is in memory
    redis_proc.terminate()
    redis_proc.wait(timeout=10)
    resp = api.get("/api/v1/recommendations/home", params={"user_id": active_users(events, 1)[0], "count": 10})
    assert resp.status_code == 200
    assert resp.json()["degraded"] is True and resp.json()["items"]

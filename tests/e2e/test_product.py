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
    from spark_jobs.features import context
    from spark_jobs.features import trending
    from spark_jobs.features import user_features
    from spark_jobs.features import video_features
    for back in (3, 2, 1):
        for job in (user_features, video_features, trending, context):
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
    # the nightly's context model: lifts from build_context, weight 0 (MovieLens has one device and only long
    # videos: nothing to re-sort by), so a TV request gets the same list
    context = nightly["context"]
    assert context["weight"] == 0.0 and set(context["lifts"]) == {"device", "daypart", "weekpart", "depth"}
    items = [i["video_id"] for i in home(api, user)["items"]]
    assert [i["video_id"] for i in home(api, user, device="tv")["items"]] == items


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


def redis_traces(url: str, needle: str) -> list:
    """Keys of Redis whose name or value holds ``needle`` (values read back: packed lists are zlib-compressed)."""
    import zlib

    import redis

    client, hits = redis.Redis.from_url(url), []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        values = ([client.get(key)] if kind == b"string" else [*client.hgetall(key).items()] if kind == b"hash"
                  else client.lrange(key, 0, -1) if kind == b"list" else [])
        blobs = [key, *(b for v in values for b in (v if isinstance(v, tuple) else (v,)))]
        for blob in blobs:
            if needle.encode() in inflated(blob, zlib):
                hits.append(key)
                break
    return hits


def inflated(blob: bytes, zlib) -> bytes:
    """A packed list's bytes decompressed; any other value as it is."""
    try:
        return zlib.decompress(blob)
    except zlib.error:
        return blob


def test_forgetting_a_user_leaves_no_trace_in_any_store_and_every_other_feed_stays(api, product, traces):
    import json

    import redis

    from vidrec import privacy
    from vidrec.ops.privacy import process

    settings, events, _ = product
    ranked = active_users(events, 60)
    gone, others = ranked[45], ranked[40:45]  # users no other test here picks
    feeds = {u: [i["video_id"] for i in home(api, u)["items"]] for u in others}
    first = home(api, gone)["items"][0]  # the served log names them
    assert api.post("/api/v1/events", json={"user_id": gone, "video_id": first["video_id"],
                                            "event_type": "like"}).status_code == 202  # landing file + overlay
    now = dt.datetime.now(dt.timezone.utc)
    served = settings.landing_dir / "served" / "api"
    assert services.wait_until(lambda: any(gone in p.read_text() for p in served.glob("*.jsonl")), 10)  # flushed
    (settings.landing_dir / "events" / "privacy-e2e.jsonl").write_text(json.dumps(  # a record quarantine keeps
        {"event_id": "privacy-e2e-1", "user_id": gone, "video_id": first["video_id"], "event_type": "teleport",
         "ts": now.isoformat()}) + "\n")
    assert airflow_env.test_dag(settings, "ingest_hourly", f"{now:%Y-%m-%dT%H}:05:00+00:00", timeout=900) == 0
    stores = {"lake": settings.lake_root, "landing": settings.landing_dir, "artifacts": settings.artifact_root}
    for name, folder in stores.items():
        found = " ".join(traces(folder, gone))
        assert found, f"{gone} should be in the {name} before it is forgotten"
        for table in ("events/", "interactions/", "served/", "events_quarantine/", "users/", "user_features/"):
            assert name != "lake" or table in found, table
    assert "candidates.parquet" in " ".join(traces(settings.artifact_root, gone))
    assert len(redis_traces(settings.redis_url, gone)) >= 2  # their home list and their Feast hash

    assert api.post("/api/v1/privacy/forget", json={"user_id": gone}).status_code == 202
    erase = settings.replace(lake_history_hours=0, pseudonym_key="e2e-secret")
    hours = [dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H")]
    assert airflow_env.test_dag(erase, "privacy_daily", f"{now:%Y-%m-%d}T02:00:00+00:00", timeout=900) == 0
    hours.append(dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H"))
    if hours == [f"{now:%Y%m%d%H}"] * 2:  # the run saw the API's files of this hour, which name them: it waits
        assert [r["user_id"] for r in privacy.pending(erase)] == [gone]
    done = process(erase, now=now + dt.timedelta(hours=2))  # the next day's run, when those files are closed
    assert not privacy.pending(erase) and len(privacy.audit(erase)) == 1 and done["deferred"] == 0
    client = redis.Redis.from_url(settings.redis_url)
    assert services.wait_until(lambda: not any(client.info("persistence")[f"aof_rewrite_{s}"]
                                               for s in ("in_progress", "scheduled")), 60)

    redis_dir = client.config_get("dir")["dir"]
    for folder in (*stores.values(), settings.staging_dir, settings.privacy_dir, redis_dir):
        assert traces(folder, gone) == [], folder
    assert redis_traces(settings.redis_url, gone) == []
    assert {u: [i["video_id"] for i in home(api, u)["items"]] for u in others} == feeds
    assert {i["source"] for i in home(api, gone)["items"]} <= {"coldstart", "trending"}  # a stranger now
    (record,) = privacy.audit(erase)
    assert record["subject"] == privacy.subject(erase, gone) and record["requested_by"] == "api key e2e-app"
    assert record["removed"]["tables"]["events"] > 0 and record["removed"]["recommendations"]["keys"] >= 1


def test_with_redis_stopped_the_api_still_answers_degraded(api, product):
    _, events, redis_proc = product
    api.get("/api/v1/recommendations/trending", params={"count": 10})  # the last-known list is in memory
    redis_proc.terminate()
    redis_proc.wait(timeout=10)
    resp = api.get("/api/v1/recommendations/home", params={"user_id": active_users(events, 1)[0], "count": 10})
    assert resp.status_code == 200
    assert resp.json()["degraded"] is True and resp.json()["items"]

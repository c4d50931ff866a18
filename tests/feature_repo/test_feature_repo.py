"""The Feast repo against real components: a temp registry, the session's redis-server, Delta feature tables
built by the Spark jobs from two tiny days, DuckDB reading them for point-in-time joins.

Partitions: ds 2026-11-09 (valid from 11-10 00:00) and ds 2026-11-10 (valid from 11-11 00:00).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math

import pandas as pd
import pytest

from models.ranking.features import FeatureCache, entity_features, historical_features
from serving.overlay import EMPTY, FeastOverlay, UserState, open_feature_store
from serving.state import FEATURES
from spark_jobs.features import feast_jobs
from spark_jobs.features import user_features
from spark_jobs.features import video_features
from spark_jobs.ingest.interactions import to_interactions
from spark_jobs.lake import open_lake
from vidrec.feast_config import open_store, redis_connection_string
from vidrec.settings import Settings
from vidrec.tables import EVENT_FIELDS, INTERACTIONS, USER_FEATURES, USER_FIELDS, USERS, VIDEO_FEATURES, VIDEO_FIELDS, \
    VIDEOS

pytestmark = [pytest.mark.spark, pytest.mark.redis]
DS1, DS2 = "2026-11-09", "2026-11-10"
VIDEOS_ROWS = [("v1", "c1", "music", dt.datetime(2026, 11, 1), 100_000),
               ("v2", "c2", "comedy", dt.datetime(2026, 11, 9, 12), 60_000)]
# event_id, user, video, type, ts, watch_ms, region, device
EVENTS = [
    ("a1", "u1", "v1", "watch", dt.datetime(2026, 11, 9, 10), 50_000, "us", "web"),
    ("a2", "u1", "v1", "like", dt.datetime(2026, 11, 10, 9), 0, "us", "web"),
    ("a3", "u2", "v2", "watch", dt.datetime(2026, 11, 10, 15), 60_000, "de", "ios"),
    ("a4", "u1", "v2", "impression", dt.datetime(2026, 11, 10, 16), 0, "us", "web"),
]
LATE = [("a5", "u2", "v2", "like", dt.datetime(2026, 11, 10, 20), 0, "de", "ios")]  # arrives in a later hour


def append_events(lake, spark, events):
    duration = {v: d for v, _, _, _, d in VIDEOS_ROWS}
    rows = [(e, u, v, k, w, ts, "s", dev, reg, "home", None, None, ts.date().isoformat(), duration[v])
            for e, u, v, k, ts, w, reg, dev in events]
    events_df = spark.createDataFrame(rows, f"{EVENT_FIELDS}, ds string, duration_ms long")
    lake.append(INTERACTIONS, to_interactions(events_df))


def build_features(settings, ds):
    user_features.run(settings, ds)
    video_features.run(settings, ds)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, spark, redis_server):
    """Settings on a temp lake/registry, Redis db 3 of the session's server; features built; `feast apply` run."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("feast") / "var", spark_shuffle_partitions=2,
                        spark_driver_memory="1g", redis_url=redis_server.rsplit("/", 1)[0] + "/3")
    lake = open_lake(settings, spark)
    lake.append(VIDEOS, spark.createDataFrame(
        [(v, v, c, cat, [], d, up, "en", None, None) for v, c, cat, up, d in VIDEOS_ROWS], VIDEO_FIELDS))
    lake.append(USERS, spark.createDataFrame([("u1", "us", "25-34", dt.datetime(2026, 1, 1)),
                                              ("u2", "de", "18-24", dt.datetime(2026, 1, 1))], USER_FIELDS))
    append_events(lake, spark, EVENTS)
    for ds in (DS1, DS2):
        build_features(settings, ds)
    applied = feast_jobs.apply_run(settings, DS2)
    return settings, lake, applied


def online(settings, view, key, ids, names):
    out = open_store(settings).get_online_features(
        features=[f"{view}:{n}" for n in names], entity_rows=[{key: i} for i in ids]).to_dict()
    return {i: tuple(out[n][j] for n in names) for j, i in enumerate(out[key])}


def test_redis_url_becomes_feasts_connection_string():
    assert redis_connection_string("redis://127.0.0.1:6390/0") == "127.0.0.1:6390,db=0"
    assert redis_connection_string("rediss://:s%40cret@cache:6380/2") == \
        "cache:6380,db=2,password=s@cret,ssl=true"
    with pytest.raises(ValueError, match="redis://"):
        redis_connection_string("http://cache:6379")


def test_apply_registers_views_whose_schemas_match_the_feature_tables(repo):
    settings, _, applied = repo
    assert applied["ds"] == DS2 and (settings.feast_dir / "registry.db").exists()
    fs = open_store(settings)
    assert sorted(v.name for v in fs.list_feature_views()) == ["user_features", "user_realtime", "video_features"]
    assert sorted(s.name for s in fs.list_feature_services()) == ["ranker_v1", "serving_v1"]
    for table in (USER_FEATURES, VIDEO_FEATURES):
        view = fs.get_feature_view(table.name)
        declared = {f.name for f in view.schema} | {view.batch_source.timestamp_field, "ds"}
        assert declared == set(table.columns)
        assert view.batch_source.path == str(settings.lake_root / table.name)
    feast_jobs.feast_cli(settings, "plan", "--skip-source-validation")  # a second plan: nothing to change


def test_materialize_loads_one_partition_into_redis_and_reruns_of_the_day_update_it(repo, spark):
    settings, lake, _ = repo
    names = ["views_30d", "likes_30d", "watch_ms_30d", "like_rate_30d", "top_categories", "last_watched", "region"]
    first = feast_jobs.materialize_run(settings, DS1)
    assert (first["materialized"], first["event_ts"]) == (["user_features", "video_features"],
                                                          "2026-11-10T00:00:00+00:00")
    assert online(settings, "user_features", "user_id", ["u1", "u2"], names) == {
        "u1": (1, 0, 50_000, 0.0, ["music"], ["v1"], "us"), "u2": (None,) * len(names)}
    assert online(settings, "video_features", "video_id", ["v1", "v2"], ["views_30d", "age_days", "creator_id"]) == {
        "v1": (1, 9.0, "c1"), "v2": (0, 0.5, "c2")}  # v2: uploaded 11-09 12:00, no events yet: present, zeros

    feast_jobs.materialize_run(settings, DS2)
    assert online(settings, "user_features", "user_id", ["u1", "u2"], names) == {
        "u1": (1, 1, 50_000, 1.0, ["music"], ["v1"], "us"), "u2": (1, 0, 60_000, 0.0, ["comedy"], ["v2"], "de")}

    backfill = feast_jobs.materialize_run(settings, DS1)  # an old day must not overwrite newer values
    assert (backfill["materialized"], backfill["skipped"]) == ([], ["user_features", "video_features"])
    assert online(settings, "user_features", "user_id", ["u1"], ["likes_30d"]) == {"u1": (1,)}

    append_events(lake, spark, LATE)  # a later hour of the same day: same event_ts, new values
    build_features(settings, DS2)
    assert feast_jobs.materialize_run(settings, DS2)["materialized"] == ["user_features", "video_features"]
    assert online(settings, "user_features", "user_id", ["u2"], ["likes_30d", "like_rate_30d"]) == {"u2": (1, 1.0)}
    assert online(settings, "video_features", "video_id", ["v2"], ["likes_1d"]) == {"v2": (1,)}


def test_rematerialize_brings_the_online_store_back_after_redis_lost_it(repo):
    """What `vidrec publish restore` does for features: the days the registry last materialized, loaded again."""
    import redis

    settings, _, _ = repo
    names = ["views_30d", "likes_30d", "region"]
    before = online(settings, "user_features", "user_id", ["u1", "u2"], names)
    assert before["u2"] == (1, 1, "de")  # the previous test's last state: DS2 with the late like
    redis.Redis.from_url(settings.redis_url).flushdb()
    assert online(settings, "user_features", "user_id", ["u1", "u2"], names) == {"u1": (None,) * 3, "u2": (None,) * 3}
    out = feast_jobs.rematerialize(settings)
    assert out["materialized"] == {"user_features": "2026-11-11T00:00:00+00:00",
                                   "video_features": "2026-11-11T00:00:00+00:00"}
    assert online(settings, "user_features", "user_id", ["u1", "u2"], names) == before


def test_historical_features_take_the_latest_partition_at_or_before_each_timestamp(repo):
    settings, _, _ = repo
    entity_df = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2"],
        "video_id": ["v1", "v1", "v2", "v2"],
        "event_timestamp": pd.to_datetime(["2026-11-10 12:00", "2026-11-11 06:00", "2026-11-09 12:00",
                                           "2026-11-10 12:00"], utc=True),
        "row": [0, 1, 2, 3],
    })
    out = historical_features(settings, entity_df).sort_values("row").reset_index(drop=True)
    assert len(out) == 4 and "user_features__likes_30d" in out and "video_features__ctr_7d" in out
    likes = out["user_features__likes_30d"].tolist()
    assert likes[:2] == [0, 1]  # between the partitions: the earlier one; after both: the later one
    assert math.isnan(likes[2]) and math.isnan(likes[3])  # before any partition / u2 not active yet
    assert out["video_features__views_30d"].tolist()[:2] == [1, 1]
    assert math.isnan(out["video_features__age_days"][2])  # v2 has no partition valid on 11-09 12:00
    assert out["video_features__age_days"][3] == 0.5  # v2 as of 11-10 00:00 (the DS1 partition)
    assert out["user_features__top_categories"][1].tolist() == ["music"]


def test_features_fetched_once_per_entity_equal_the_per_row_join(repo):
    """entity_features (one join per distinct user/video and timestamp) gives historical_features' values."""
    settings, _, _ = repo
    stamps = pd.to_datetime(["2026-11-10 12:00", "2026-11-11 06:00", "2026-11-09 12:00"], utc=True)
    rows = pd.DataFrame([(u, v, ts) for ts in stamps for u in ("u1", "u2", "u9") for v in ("v1", "v2", "v9")] * 2,
                        columns=["user_id", "video_id", "event_timestamp"]).sample(frac=1.0, random_state=3)
    rows = rows.reset_index(drop=True)
    per_row = historical_features(settings, rows.assign(_row=range(len(rows)))).sort_values("_row")
    per_row = per_row.reset_index(drop=True)
    fetched = entity_features(settings, rows)
    assert len(fetched) == len(rows) and list(fetched.index) == list(range(len(rows)))
    assert list(fetched.columns) == [c for c in per_row.columns if "__" in c]  # same order: same ranker input
    assert list(fetched.dtypes) == [per_row[c].dtype for c in fetched.columns]
    for column in fetched.columns:
        mine, theirs = fetched[column], per_row[column]
        assert [None if _missing(x) else _plain(x) for x in mine] == \
            [None if _missing(x) else _plain(x) for x in theirs], column
    assert fetched["user_features__likes_30d"].notna().sum() > 0 and fetched["video_features__views_30d"].notna().any()
    # in two calls sharing a cache (rank's chunks): the same values, the second call joins only new entities
    cache = FeatureCache()
    halves = [entity_features(settings, part.reset_index(drop=True), cache=cache)
              for part in (rows.iloc[:20], rows.iloc[20:])]
    both = pd.concat(halves, ignore_index=True)
    for column in fetched.columns:
        assert [None if _missing(x) else _plain(x) for x in both[column]] == \
            [None if _missing(x) else _plain(x) for x in fetched[column]], column
    held = {view: len(keys) for (_, view), (keys, _) in cache.views.items()}
    assert held == {"user_features": len(rows[["user_id", "event_timestamp"]].drop_duplicates()),
                    "video_features": len(rows[["video_id", "event_timestamp"]].drop_duplicates())}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _plain(value):
    return value.tolist() if hasattr(value, "tolist") else value


def test_pushed_realtime_features_are_read_back_online(repo):
    """Serving's overlay (pushes through user_realtime_push, reads user_realtime) on the real repo and Redis."""
    settings, _, _ = repo
    events = [{"event_type": "watch", "user_id": "u1", "video_id": "v2"},
              {"event_type": "watch", "user_id": "u1", "video_id": "v1"},
              {"event_type": "not_interested", "user_id": "u1", "video_id": "v9"},
              {"event_type": "like", "user_id": "u1", "video_id": "v2"}]

    async def push_and_read():  # as the API builds it: reads straight from the view's Redis hashes
        overlay = FeastOverlay(open_feature_store(settings), redis_url=settings.redis_url)
        await overlay.start()
        try:
            pushed = [await overlay.record(event, None) for event in events]
            return pushed, await overlay.user_state("u1"), await overlay.user_state("u7")
        finally:
            await overlay.aclose()

    pushed, u1, u7 = asyncio.run(push_and_read())
    assert pushed == [True, True, True, True]
    assert (u1, u7) == (UserState(watched=("v1", "v2"), not_interested_videos=("v9",), liked=("v2",)), EMPTY)
    view = open_store(settings).get_feature_view("user_realtime")
    assert tuple(f.name for f in view.features) == FEATURES  # the repo declares what serving/state.py keeps
    out = open_store(settings).get_online_features(features=[f"user_realtime:{n}" for n in FEATURES],
                                                   entity_rows=[{"user_id": u} for u in ("u1", "u7")]).to_dict()
    assert {u: {n: out[n][i] for n in FEATURES[:4]} for i, u in enumerate(out["user_id"])} == {
        "u1": {"session_watched": ["v1", "v2"], "recent_not_interested_videos": ["v9"],
               "recent_not_interested_creators": [], "recent_liked": ["v2"]},
        "u7": dict.fromkeys(FEATURES[:4]),
    }

"""Feature jobs on a hand-made week: exact features, window edges, cold-start videos, trending, the gate.

ds = 2026-11-10, so every feature is as of T = 2026-11-11 00:00 UTC. Hours below are "hours before T".
"""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from spark_jobs import quality

from spark_jobs.features import context

from spark_jobs.features import gate as feature_quality

from spark_jobs.features import trending

from spark_jobs.features import user_features

from spark_jobs.features import video_features
from spark_jobs.ingest.interactions import to_interactions
from spark_jobs.lake import open_lake
from vidrec.tables import (CONTEXT_LIFTS, EVENT_FIELDS, INTERACTIONS, TRENDING, USER_FEATURES, USER_FIELDS, USERS,
                           VIDEO_FEATURES, VIDEO_FIELDS, VIDEOS)

pytestmark = pytest.mark.spark
DS = "2026-11-10"
T = dt.datetime(2026, 11, 11)
DAY = 24.0

# video_id, creator_id, category, upload_ts, duration_ms
CATALOG = [
    ("v1", "c1", "music", dt.datetime(2026, 11, 1), 100_000),
    ("v2", "c1", "comedy", dt.datetime(2026, 11, 5, 12), 60_000),
    ("v3", "c2", "music", dt.datetime(2026, 10, 1), 100_000),
    ("v4", "c2", "news", dt.datetime(2026, 11, 10, 18), 100_000),   # new: no events before T
    ("v5", "c3", "sports", T, 100_000),                             # uploaded at T: not yet in the catalog
    ("v6", "c3", "sports", dt.datetime(2026, 11, 12), 100_000),     # uploaded later
]
USERS_ROWS = [("u1", "us"), ("u2", "de"), ("u3", "fr"), ("u4", "us"), ("u5", "de")]
# event_id, user, video, type, hours before T, watch_ms, region, device
EVENTS = [
    ("e1", "u1", "v1", "impression", 2, 0, "us", "web"),
    ("e2", "u1", "v1", "watch", 2 - 1 / 60, 90_000, "us", "web"),        # watch fraction 0.9: completes
    ("e3", "u1", "v1", "like", 1, 0, "us", "web"),
    ("e4", "u1", "v2", "watch", 72, 30_000, "us", "web"),
    ("e5", "u1", "v3", "watch", 8 * DAY, 50_000, "us", "web"),          # 8 days old: in 30 d, not in 7 d
    ("e6", "u1", "v2", "skip", DAY + 1 / 3600, 1_000, "us", "web"),     # 1 s before the 1-day window
    ("e7", "u1", "v4", "watch", 0, 100_000, "us", "web"),               # exactly at T: excluded
    ("e8", "u1", "v3", "watch", 31 * DAY, 100_000, "us", "web"),        # 31 days old: excluded
    ("e9", "u1", "v3", "not_interested", 0.5, 0, None, "ios"),          # latest: device ios, no region
    ("e10", "u2", "v2", "like", 48, 0, "de", "android"),
    ("e11", "u2", "v3", "like", 47, 0, "de", "android"),
    ("e12", "u2", "v1", "impression", 48, 0, "de", "android"),
    ("e13", "u3", "v1", "impression", 10, 0, None, "tv"),
    ("e16", "u3", "v3", "click", 12, 0, None, "tv"),                    # no region: counts in "global" only
    ("e14", "u4", "v1", "watch", 40 * DAY, 50_000, "us", "web"),        # u4: nothing in 30 days
    ("e15", "u5", "v2", "watch", 6 * DAY, 60_000, "de", "web"),
    ("e17", "u5", "v1", "click", 5 * DAY, 0, "de", "web"),              # engaged without an impression
]


def decay(hours: float) -> float:
    return 2 ** (-hours / 24)


def catalog_frames(spark):
    videos = spark.createDataFrame(
        [(v, v, c, cat, ["t"], d, up, "en", None, None) for v, c, cat, up, d in CATALOG], VIDEO_FIELDS)
    users = spark.createDataFrame([(u, r, "25-34", dt.datetime(2026, 1, 1)) for u, r in USERS_ROWS], USER_FIELDS)
    return videos, users


def interactions_frame(spark, events=EVENTS):
    duration = {v: d for v, _, _, _, d in CATALOG}
    rows = []
    for eid, user, video, kind, hours, watch_ms, region, device in events:
        ts = T - dt.timedelta(hours=hours)
        rows.append((eid, user, video, kind, watch_ms, ts, "s", device, region, "home", None, None,
                     ts.date().isoformat(), duration[video]))
    return to_interactions(spark.createDataFrame(rows, f"{EVENT_FIELDS}, ds string, duration_ms long"))


@pytest.fixture(scope="module")
def frames(spark):
    videos, users = catalog_frames(spark)
    return interactions_frame(spark).cache(), videos, users


def by_key(df, key):
    return {r[key]: r.asDict() for r in df.collect()}


def test_user_features_are_exact_and_respect_window_edges(frames):
    interactions, videos, users = frames
    out = user_features.build_user_features(interactions, videos, users, DS)
    assert out.columns == USER_FEATURES.columns
    got = by_key(out, "user_id")
    assert sorted(got) == ["u1", "u2", "u3", "u5"]  # u4's only event is 40 days old
    u1 = got["u1"]
    assert u1 == {
        "user_id": "u1", "event_ts": T, "ds": DS,
        "views_1d": 1, "views_7d": 2, "views_30d": 3, "likes_1d": 1, "likes_7d": 1, "likes_30d": 1,
        "skips_1d": 0, "skips_7d": 1, "skips_30d": 1, "not_interested_1d": 1, "not_interested_7d": 1,
        "not_interested_30d": 1, "watch_ms_1d": 90_000, "watch_ms_7d": 120_000, "watch_ms_30d": 170_000,
        "like_rate_30d": pytest.approx(1 / 3), "skip_rate_30d": 0.25,
        "top_categories": ["music", "comedy"],    # music 0.9 + 1.0 + 0.5, comedy 0.5
        "top_creators": ["c1", "c2"],             # c1 2.4, c2 0.5
        "last_watched": ["v1", "v2", "v3"],       # v4 (at T) and the 31-day-old watch are not seen
        "region": "us", "device": "ios",          # device of the latest event, region of the latest that has one
    }
    u2 = got["u2"]
    assert (u2["views_30d"], u2["likes_30d"], u2["like_rate_30d"], u2["skip_rate_30d"]) == (0, 2, 0.0, 0.0)
    assert (u2["top_categories"], u2["top_creators"]) == (["comedy", "music"], ["c1", "c2"])  # ties: by name
    assert (u2["last_watched"], u2["region"], u2["device"]) == ([], "de", "android")
    u3 = got["u3"]
    assert (u3["top_categories"], u3["top_creators"], u3["region"], u3["device"]) == (["music"], ["c2"], "fr", "tv")
    u5 = got["u5"]
    assert (u5["views_1d"], u5["views_7d"], u5["watch_ms_7d"], u5["top_categories"], u5["top_creators"]) == (
        0, 1, 60_000, ["comedy", "music"], ["c1"])


def test_video_features_are_exact_and_new_videos_get_zeros(frames):
    interactions, videos, _ = frames
    out = video_features.build_video_features(interactions, videos, DS)
    assert out.columns == VIDEO_FEATURES.columns
    got = by_key(out, "video_id")
    assert sorted(got) == ["v1", "v2", "v3", "v4"]  # v5 (uploaded at T) and v6 (later) are not in yet
    assert got["v1"] == {
        "video_id": "v1", "event_ts": T, "ds": DS,
        "impressions_1d": 2, "impressions_7d": 3, "impressions_30d": 3, "views_1d": 1, "views_7d": 1,
        "views_30d": 1, "likes_1d": 1, "likes_7d": 1, "likes_30d": 1, "skips_1d": 0, "skips_7d": 0, "skips_30d": 0,
        "ctr_7d": pytest.approx(1 / 3),  # shown to u1, u2, u3; u1 watched; u5 clicked but was never shown it
        "mean_watch_fraction_7d": pytest.approx(0.9), "completion_rate_7d": 1.0,
        "trending_score": pytest.approx(decay(2 - 1 / 60) + decay(1) + decay(5 * DAY)),
        "age_days": 10.0, "creator_id": "c1", "category": "music",
        "creator_views_30d": 3, "creator_like_rate_30d": pytest.approx(2 / 3),  # c1: v1 + v2
    }
    v2 = got["v2"]
    assert (v2["views_1d"], v2["views_7d"], v2["likes_1d"], v2["likes_7d"], v2["skips_1d"], v2["skips_7d"]) == (
        0, 2, 0, 1, 0, 1)
    assert (v2["ctr_7d"], v2["mean_watch_fraction_7d"], v2["completion_rate_7d"], v2["age_days"]) == (
        0.0, pytest.approx(0.75), 0.5, 5.5)
    assert v2["trending_score"] == pytest.approx(0.125 + 0.25 + 2 ** -6)
    v3 = got["v3"]  # its only watch is 8 days old: in views_30d, not in the 7-day rates
    assert (v3["views_7d"], v3["views_30d"], v3["mean_watch_fraction_7d"], v3["completion_rate_7d"]) == (0, 1, 0.0, 0.0)
    assert v3["trending_score"] == pytest.approx(decay(47) + decay(12))
    v4 = got["v4"]
    windowed = {k: v for k, v in v4.items() if k.endswith(("_1d", "_7d", "_30d")) and not k.startswith("creator")}
    assert set(windowed.values()) == {0} and len(windowed) == 15  # 12 counts, ctr and the two watch rates
    assert (v4["trending_score"], v4["age_days"], v4["creator_views_30d"], v4["creator_like_rate_30d"]) == (
        0.0, 0.25, 1, 1.0)


def test_trending_ranks_each_region_on_its_own_events(frames):
    interactions, _, _ = frames
    out = trending.build_trending(interactions, DS)
    assert out.columns == TRENDING.columns
    lists = {}
    for r in out.orderBy("region", "rank").collect():
        lists.setdefault(r.region, []).append((r.rank, r.video_id, r.score))
        assert (r.event_ts, r.ds) == (T, DS)
    us = decay(2 - 1 / 60) + decay(1)
    expected = {
        "us": [("v1", us), ("v2", 0.125)],
        "de": [("v2", 0.25 + 2 ** -6), ("v3", decay(47)), ("v1", 2 ** -5)],
        "global": [("v1", us + 2 ** -5), ("v3", decay(47) + decay(12)), ("v2", 0.125 + 0.25 + 2 ** -6)],
    }
    assert {k: [(rank, v) for rank, v, _ in rows] for k, rows in lists.items()} == {
        k: [(i, v) for i, (v, _) in enumerate(rows, 1)] for k, rows in expected.items()}
    for region, rows in expected.items():
        assert [s for _, _, s in lists[region]] == pytest.approx([s for _, s in rows])
    top2 = trending.build_trending(interactions, DS, size=2).where(F.col("region") == "global")
    assert [r.video_id for r in top2.orderBy("rank").collect()] == ["v1", "v3"]


def test_jobs_replace_their_partition_and_a_rerun_changes_nothing(settings, spark, frames):
    interactions, videos, users = frames
    lake = open_lake(settings, spark)
    lake.append(INTERACTIONS, interactions)
    lake.append(VIDEOS, videos)
    lake.append(USERS, users)
    jobs = [(user_features, USER_FEATURES, 4), (video_features, VIDEO_FEATURES, 4), (trending, TRENDING, 8),
            (context, CONTEXT_LIFTS, 6)]  # watches of band 1 only: web; night, evening; weekday, weekend; first

    def snapshot():
        return {t.name: sorted(map(str, lake.read(t).collect())) for _, t, _ in jobs}

    for job, table, rows in jobs:
        assert job.run(settings, DS) == {"ds": DS, "table": table.name, "rows": rows}
    first = snapshot()
    for job, table, rows in jobs:
        job.run(settings, DS)
    assert snapshot() == first
    assert lake.read(USER_FEATURES).where(F.col("user_id") == "u1").first().views_30d == 3  # e7 at T: not read
    report = feature_quality.run(settings, DS)
    assert {k: v["rows"] for k, v in report.items() if k != "ds"} == {
        "user_features": 4, "video_features": 4, "trending": 8, "context_lifts": 6}


def _bad_frame(spark, table, good: dict, bad: list[dict]):
    return spark.createDataFrame([tuple({**good, **b}[c] for c in table.columns) for b in [{}, *bad]], table.schema)


def test_the_feature_gate_fails_each_rule_group_on_a_bad_row(spark):
    at = T
    base = {c: 0 for c in USER_FEATURES.columns}
    good_user = {**base, "user_id": "u", "event_ts": at, "ds": DS, "like_rate_30d": 0.5, "skip_rate_30d": 0.0,
                 "top_categories": [], "top_creators": [], "last_watched": [], "region": "us", "device": "web",
                 "views_7d": 2, "views_30d": 2}
    bad_users = [{"user_id": None}, {"event_ts": None}, {"event_ts": at - dt.timedelta(days=1)}, {"ds": "2026-11-09"},
                 {"likes_1d": -1}, {"views_30d": 1}, {"like_rate_30d": 1.5}]
    report = quality.run_suite(_bad_frame(spark, USER_FEATURES, good_user, bad_users),
                               feature_quality.user_feature_rules(DS), "uf_bad")
    assert report["failures"] == {"missing_user_id": 1, "missing_event_ts": 1, "event_ts_not_end_of_ds": 1,
                                  "ds_not_partition": 1, "negative_likes_1d": 1, "views_30d_below_7d": 1,
                                  "like_rate_30d_out_of_range": 1}

    good_video = {**{c: 0 for c in VIDEO_FEATURES.columns}, "video_id": "v", "event_ts": at, "ds": DS,
                  "ctr_7d": 0.1, "mean_watch_fraction_7d": 1.5, "completion_rate_7d": 0.0, "trending_score": 0.0,
                  "age_days": 1.0, "creator_id": "c", "category": "m", "creator_like_rate_30d": 0.0}
    bad_videos = [{"video_id": None}, {"ctr_7d": 1.01}, {"age_days": -0.5}, {"impressions_7d": 5}]
    report = quality.run_suite(_bad_frame(spark, VIDEO_FEATURES, good_video, bad_videos),
                               feature_quality.video_feature_rules(DS), "vf_bad")
    assert report["failures"] == {"missing_video_id": 1, "ctr_7d_out_of_range": 1, "negative_age_days": 1,
                                  "impressions_30d_below_7d": 1}

    good_trend = {"region": "us", "rank": 1, "video_id": "v", "score": 1.0, "event_ts": at, "ds": DS}
    bad_trends = [{"region": None}, {"rank": 0}, {"rank": 101}, {"score": -1.0}]
    report = quality.run_suite(_bad_frame(spark, TRENDING, good_trend, bad_trends),
                               feature_quality.trending_rules(DS, 100), "tr_bad")
    assert report["failures"] == {"missing_region": 1, "rank_out_of_range": 2, "negative_score": 1}

    dupes = _bad_frame(spark, TRENDING, good_trend, [{}])
    with pytest.raises(quality.ValidationFailed, match="repeat the key"):
        feature_quality.validate_partition(dupes, TRENDING, feature_quality.trending_rules(DS, 100), DS)


def test_the_gate_refuses_a_feature_table_that_was_never_built(settings, spark):
    with pytest.raises(quality.ValidationFailed, match="user_features does not exist"):
        feature_quality.run(settings, DS)

"""vidrec.sources.synthetic_events: the seeded synthetic catalog and event stream."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vidrec import context
from vidrec.sources import synthetic_events as sample
from vidrec.tables import EVENT_FIELDS, EVENT_TYPES, USER_FIELDS, VIDEO_FIELDS, arrow_schema

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
START = pd.Timestamp("2026-11-01", tz="UTC")


def read_events(out: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted((out / "events").glob("*.parquet"))])


def read_catalog(out: Path, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    videos = pq.read_table(out / "videos" / f"videos-{seed}.parquet").to_pandas()
    users = pq.read_table(out / "users" / f"users-{seed}.parquet").to_pandas()
    return videos, users


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """60k events over 7 days, in 4 files."""
    out = tmp_path_factory.mktemp("big")
    summary = sample.generate(out, events=60_000, seed=7, chunk_events=20_000)
    videos, users = read_catalog(out, 7)
    events = read_events(out).to_pandas()
    return summary, out, videos, users, events


def test_same_seed_same_files_and_another_seed_differs(tmp_path):
    a = sample.generate(tmp_path / "a", events=5_000, seed=3)
    b = sample.generate(tmp_path / "b", events=5_000, seed=3)
    c = sample.generate(tmp_path / "c", events=5_000, seed=4)
    for fa, fb in zip(a["files"], b["files"]):
        assert Path(fa).name == Path(fb).name
        assert pq.read_table(fa).equals(pq.read_table(fb))
    assert not read_events(tmp_path / "a").drop(["event_id", "session_id"]).equals(
        read_events(tmp_path / "c").drop(["event_id", "session_id"]))


def test_summary_counts_and_schemas(big):
    summary, out, videos, users, events = big
    assert summary["events"] == 60_000 and len(events) == 60_000
    assert summary["users"] == len(users) == 1_200 and summary["videos"] == len(videos) == 600
    assert len(summary["files"]) == 2 + 3
    for kind, ddl in (("videos", VIDEO_FIELDS), ("users", USER_FIELDS), ("events", EVENT_FIELDS)):
        for path in (out / kind).iterdir():
            assert pq.read_schema(path).remove_metadata() == arrow_schema(ddl), path
    assert not [p for p in out.rglob(".*")], "temporary files left behind"


def test_events_reference_the_catalog(big):
    _, _, videos, users, events = big
    assert events["video_id"].isin(videos["video_id"]).all()
    assert events["user_id"].isin(users["user_id"]).all()
    assert videos["video_id"].is_unique and users["user_id"].is_unique
    first = videos.iloc[0]
    assert first["url"].endswith("/" + first["video_id"]) and first["thumbnail_url"].endswith(f"/{first['video_id']}.jpg")
    assert events["event_id"].is_unique


def test_event_values_are_valid(big):
    _, _, videos, users, events = big
    m = events.merge(videos, on="video_id").merge(users, on="user_id", suffixes=("", "_user"))
    assert len(m) == len(events)
    assert (m["ts"] >= m["upload_ts"]).all()
    assert (m["ts"] >= m["signup_ts"]).all()
    assert (m["ts"] >= START).all() and (m["ts"] < START + pd.Timedelta(days=7)).all()
    assert (m["watch_ms"] >= 0).all() and (m["watch_ms"] <= 3 * m["duration_ms"]).all()
    assert (m.loc[m["event_type"] == "watch", "watch_ms"] > 0).all()
    assert set(events["event_type"]) <= set(EVENT_TYPES)
    assert (videos["duration_ms"] > 0).all()
    # some videos are uploaded during the window and still get (later) events
    assert (m["upload_ts"] > START).any()


def test_event_mix(big):
    share = big[4]["event_type"].value_counts(normalize=True)
    assert 0.35 < share["impression"] < 0.45
    assert 0.25 < share["watch"] < 0.35
    assert 0.06 < share["click"] < 0.14
    assert 0.05 < share["skip"] < 0.14
    assert 0.03 < share["like"] < 0.10
    assert set(share.index) == set(EVENT_TYPES)


def top_category_share(watches: pd.DataFrame, min_watches: int = 20) -> float:
    counts = watches.groupby(["user_id", "category"]).size().unstack(fill_value=0)
    total = counts.sum(axis=1)
    return float((counts.max(axis=1) / total)[total >= min_watches].mean())


def test_watches_concentrate_on_user_tastes(big):
    _, _, videos, _, events = big
    watches = events[events["event_type"] == "watch"].merge(videos[["video_id", "category"]], on="video_id")
    real = top_category_share(watches)
    shuffled = watches.assign(category=np.random.default_rng(0).permutation(watches["category"].to_numpy()))
    baseline = top_category_share(shuffled)
    assert real > 0.4, real
    assert real > baseline + 0.2, (real, baseline)


def test_in_taste_videos_are_liked_more_and_skipped_less(big):
    _, _, videos, _, events = big
    m = events.merge(videos[["video_id", "category"]], on="video_id")
    watch_counts = m[m["event_type"] == "watch"].groupby(["user_id", "category"]).size()
    top = watch_counts.groupby(level=0).idxmax().map(lambda key: key[1]).rename("top")
    m = m.join(top, on="user_id")
    fav = m["category"] == m["top"]

    def rate(mask, kind):
        types = m.loc[mask, "event_type"]
        return (types == kind).sum() / (types == "impression").sum()

    assert rate(fav, "like") > 1.3 * rate(~fav, "like")
    assert rate(fav, "skip") < 0.7 * rate(~fav, "skip")


def test_a_session_has_one_device_mostly_the_users_own_and_context_changes_watching(big):
    _, _, videos, _, events = big
    assert (events.groupby("session_id")["device"].nunique() == 1).all()
    own = events.drop_duplicates("session_id")
    main = own.groupby("user_id")["device"].agg(lambda d: d.value_counts().index[0])
    assert (own["device"] == own["user_id"].map(main)).mean() > 0.7
    assert events.groupby("user_id")["device"].nunique().max() > 1  # some users switch devices
    watches = events[events["event_type"] == "watch"].merge(videos[["video_id", "duration_ms"]], on="video_id")
    watches = watches.assign(fraction=np.minimum(watches["watch_ms"] / watches["duration_ms"], 1.0),
                             long=watches["duration_ms"] >= 120_000)
    mean = watches.groupby(["device", "long"])["fraction"].mean()
    assert mean["tv", True] - mean["tv", False] > mean["android", True] - mean["android", False] + 0.15


def test_long_videos_are_watched_further_at_the_weekend_and_at_a_sessions_start(big):
    _, _, videos, _, events = big
    watches = (events[events["event_type"] == "watch"].merge(videos[["video_id", "duration_ms"]], on="video_id")
               .sort_values(["session_id", "ts"], kind="mergesort"))
    watches = watches.assign(fraction=np.minimum(watches["watch_ms"] / watches["duration_ms"], 1.0),
                             long=watches["duration_ms"] >= 120_000,
                             depth=[context.depth(n) for n in watches.groupby("session_id").cumcount()],
                             weekpart=pd.to_datetime(watches["ts"], utc=True).dt.weekday.map(context.weekpart))

    def gap(col: str, value: str) -> float:  # how much further long videos are watched than short ones
        mean = watches[watches[col] == value].groupby("long")["fraction"].mean()
        return mean[True] - mean[False]

    assert gap("depth", "first") > gap("depth", "deep") + 0.08
    assert gap("weekpart", "weekend") > gap("weekpart", "weekday") + 0.025


def test_chunk_size_changes_files_not_content(tmp_path):
    small = sample.generate(tmp_path / "small", events=10_000, seed=5, chunk_events=3_000)
    whole = sample.generate(tmp_path / "whole", events=10_000, seed=5)
    files = sorted((tmp_path / "small" / "events").iterdir())
    assert [f.name for f in files] == [f"events-5-{i:05d}.parquet" for i in range(4)]
    assert [pq.read_metadata(f).num_rows for f in files] == [3_000, 3_000, 3_000, 1_000]
    assert len(small["files"]) == 6 and len(whole["files"]) == 3
    assert read_events(tmp_path / "small").equals(read_events(tmp_path / "whole"))


def test_jsonl_output(tmp_path):
    sample.generate(tmp_path / "j", events=4_000, seed=9, fmt="jsonl", chunk_events=1_500)
    sample.generate(tmp_path / "p", events=4_000, seed=9)
    files = sorted((tmp_path / "j" / "events").glob("*.jsonl"))
    assert len(files) == 3
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(rows) == 4_000
    assert all(r["ts"].endswith("Z") and "T" in r["ts"] for r in rows)
    parquet = read_events(tmp_path / "p").to_pandas()
    assert [r["event_id"] for r in rows] == parquet["event_id"].tolist()
    ts = pd.to_datetime([r["ts"] for r in rows], utc=True)
    assert (abs(ts - parquet["ts"]) < pd.Timedelta(milliseconds=1)).all()
    assert (tmp_path / "j" / "videos" / "videos-9.parquet").exists()


def test_catalog_path_takes_durations_and_tags_from_kuairand(tmp_path):
    catalog = DATASETS / "kuairand-catalog"
    if not (catalog / "video_features_basic_pure.csv").exists():
        pytest.skip(f"KuaiRand catalog not found at {catalog} (../shared/datasets beside the repo)")
    sample.generate(tmp_path, events=20_000, seed=1, catalog_path=catalog)
    videos, _ = read_catalog(tmp_path, 1)
    kuai = pd.read_csv(catalog / "video_features_basic_pure.csv", usecols=["video_duration", "tag"])
    real = set(kuai["video_duration"].dropna().astype(np.int64))
    assert set(videos["duration_ms"]) <= real
    assert videos["duration_ms"].nunique() > 200
    real_tags = {f"tag{t}" for t in kuai["tag"].dropna().str.split(",").explode()}
    tags = set(videos["tags"].explode().dropna())
    assert tags and tags <= real_tags


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="fmt"):
        sample.generate(tmp_path, events=100, fmt="csv")
    with pytest.raises(ValueError):
        sample.generate(tmp_path, events=100, chunk_events=0)

"""vidrec.sources.movielens: MovieLens 100K and latest-small as landing files."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from vidrec.sources import movielens
from vidrec.tables import EVENT_FIELDS, EVENT_TYPES, USER_FIELDS, VIDEO_FIELDS, arrow_schema

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
RULE = {1: "dislike", 2: "skip", 3: "watch", 4: "watch", 5: "like"}
FRACTION = {1: 0.05, 2: 0.15, 3: 0.6, 4: 0.9, 5: 1.0}


def dataset(name: str, marker: str) -> Path:
    path = DATASETS / name
    if not (path / marker).exists():
        pytest.skip(f"MovieLens {name} not found at {path} (../shared/datasets beside the repo)")
    return path


def load(summary: dict) -> dict:
    return {Path(f).parent.name: pq.read_table(f) for f in summary["files"]}


@pytest.fixture(scope="module")
def ml100k_out(tmp_path_factory):
    path = dataset("ml-100k", "u.data")
    summary = movielens.import_movielens(path, tmp_path_factory.mktemp("ml100k"))
    return path, summary, load(summary)


@pytest.fixture(scope="module")
def latest_out(tmp_path_factory):
    path = dataset("ml-latest-small", "ratings.csv")
    summary = movielens.import_movielens(path, tmp_path_factory.mktemp("latest"))
    return path, summary, load(summary)


def check_common(tables: dict) -> None:
    for kind, ddl in (("videos", VIDEO_FIELDS), ("users", USER_FIELDS), ("events", EVENT_FIELDS)):
        assert tables[kind].schema.remove_metadata() == arrow_schema(ddl)
    events, videos, users = (tables[k].to_pandas() for k in ("events", "videos", "users"))
    assert events["event_id"].is_unique and videos["video_id"].is_unique and users["user_id"].is_unique
    assert events["video_id"].isin(videos["video_id"]).all()
    assert events["user_id"].isin(users["user_id"]).all()
    assert set(events["event_type"]) <= set(EVENT_TYPES)
    m = events.merge(videos, on="video_id").merge(users, on="user_id", suffixes=("", "_user"))
    assert (m["ts"] >= m["upload_ts"]).all() and (m["ts"] >= m["signup_ts"]).all()
    assert (m["watch_ms"] >= 0).all() and (m["watch_ms"] <= m["duration_ms"]).all()
    assert videos["duration_ms"].between(80 * 60_000, 150 * 60_000).all()


def expected_events(ratings: list[tuple[int, int, float, int]]) -> pd.DataFrame:
    """What the mapping rule says, computed independently of the importer."""
    rows = [(f"ml-{u}-{i}", RULE[math.ceil(r)], FRACTION[math.ceil(r)], ts) for u, i, r, ts in ratings]
    return pd.DataFrame(rows, columns=["event_id", "want_type", "fraction", "unix"])


def check_rule(tables: dict, ratings) -> None:
    want = expected_events(ratings)
    events = tables["events"].to_pandas().merge(tables["videos"].to_pandas()[["video_id", "duration_ms"]],
                                                on="video_id")
    m = events.merge(want, on="event_id", validate="one_to_one")
    assert len(m) == len(want)
    assert (m["event_type"] == m["want_type"]).all()
    assert ((m["watch_ms"] - m["fraction"] * m["duration_ms"]).abs() <= 1).all()
    seconds = (m["ts"] - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
    assert (seconds == m["unix"]).all()


def test_ml100k_counts(ml100k_out):
    _, summary, tables = ml100k_out
    assert summary["dataset"] == "ml-100k"
    assert (summary["events"], summary["ratings"], summary["users"], summary["videos"]) == (100_000, 100_000, 943, 1682)
    assert tables["events"].num_rows == 100_000 and tables["users"].num_rows == 943
    assert tables["videos"].num_rows == 1682
    assert [Path(f).name for f in summary["files"]] == [
        "movielens-100k-videos.parquet", "movielens-100k-users.parquet", "movielens-100k-events.parquet"]
    check_common(tables)


def test_ml100k_follows_the_rating_rule(ml100k_out):
    path, _, tables = ml100k_out
    with open(path / "u.data") as f:
        ratings = [tuple(int(x) for x in line.split("\t")) for line in f if line.strip()]
    likes = (tables["events"].column("event_type").to_pandas() == "like").sum()
    assert likes == sum(1 for r in ratings if r[2] == 5)
    check_rule(tables, ratings)


def test_ml100k_catalog_fields(ml100k_out):
    _, _, tables = ml100k_out
    videos = tables["videos"].to_pandas().set_index("video_id")
    users = tables["users"].to_pandas().set_index("user_id")
    toy = videos.loc["v1"]  # 1|Toy Story (1995)|01-Jan-1995|...|Animation, Children's, Comedy
    assert toy["title"] == "Toy Story (1995)" and toy["category"] == "Animation"
    assert list(toy["tags"]) == ["animation", "children's", "comedy"]
    assert toy["upload_ts"] == pd.Timestamp("1995-01-01", tz="UTC")
    assert toy["url"] == "http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)" and toy["thumbnail_url"] is None
    assert users.loc["u1", "region"] == "us-8" and users.loc["u1", "age_band"] == "18-24"  # 1|24|M|technician|85711
    assert set(users["region"]) <= {f"us-{d}" for d in range(10)} | {"other"}
    assert "other" in set(users["region"])  # Canadian zips such as T8H1N


def test_latest_small(latest_out):
    path, summary, tables = latest_out
    assert summary["dataset"] == "ml-latest-small"
    assert (summary["events"], summary["users"]) == (100_836, 610)
    assert tables["events"].num_rows == 100_836 and tables["users"].num_rows == 610
    with open(path / "movies.csv", newline="") as f:
        assert tables["videos"].num_rows == sum(1 for _ in csv.DictReader(f))
    urls = tables["videos"].to_pandas().set_index("video_id")["url"]
    assert urls["v1"] == "https://www.imdb.com/title/tt0114709/"  # links.csv: 1,0114709,862 (Toy Story)
    assert urls.notna().all()
    check_common(tables)


def test_latest_small_follows_the_rating_rule(latest_out):
    path, _, tables = latest_out
    with open(path / "ratings.csv", newline="") as f:
        ratings = [(int(r["userId"]), int(r["movieId"]), float(r["rating"]), int(r["timestamp"]))
                   for r in csv.DictReader(f)]
    check_rule(tables, ratings)


def test_latest_small_tags(latest_out):
    _, _, tables = latest_out
    videos = tables["videos"].to_pandas().set_index("video_id")
    toy = list(videos.loc["v1", "tags"])  # Adventure|Animation|Children|Comedy|Fantasy + user tags
    assert toy[:5] == ["adventure", "animation", "children", "comedy", "fantasy"]
    assert "pixar" in toy
    for tags in videos["tags"]:
        assert len(tags) == len(set(tags)) and all(t == t.lower() for t in tags)
        assert len(tags) <= 20 + movielens.MAX_USER_TAGS


def test_folder_without_movielens_files(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ValueError, match=r"u\.data.*ratings\.csv"):
        movielens.import_movielens(tmp_path, tmp_path / "out")

"""Small planted-structure data shared by the model tests (numpy/pandas only, seeded, no clock), and a
writer of such data as a real Delta lake."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def planted_clusters(n_clusters=4, users_per=40, items_per=30, likes_per_user=10, noise=1, seed=7):
    """(user_id, video_id, confidence) pairs: each user likes ``likes_per_user`` videos of its own cluster
    and ``noise`` random videos elsewhere. Users u<c>_<i>, videos v<c>_<j>; returns (pairs, cluster_of)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_clusters):
        for i in range(users_per):
            own = rng.choice(items_per, likes_per_user, replace=False)
            rows += [(f"u{c}_{i}", f"v{c}_{j}", 1.0 + rng.random()) for j in own]
            for _ in range(noise):
                other = (c + 1 + rng.integers(n_clusters - 1)) % n_clusters
                rows.append((f"u{c}_{i}", f"v{other}_{rng.integers(items_per)}", 1.0))
    pairs = pd.DataFrame(rows, columns=["user_id", "video_id", "confidence"])
    return pairs, lambda ids: np.array([int(str(x)[1:].split("_")[0]) for x in ids])


def taste_groups(seed, users_per, items_per, likes, *, extra, days, sep, shared=0, shared_likes=2):
    """Ratings (user_id, video_id, rating, ts) of two taste groups over disjoint items: users a<i> rate 4
    ``likes`` random items a<sep><j> of ``items_per``, users b<i> (``extra`` more of them, so popularity
    favours group b) the same over b<sep><j>; with ``shared``, everyone also rates 3 ``shared_likes`` of
    ``shared`` items p_<j>. Timestamps are spread over ``days`` days."""
    rng = np.random.default_rng(seed)
    rows = []
    for g, n in (("a", users_per), ("b", users_per + extra)):
        for u in range(n):
            for j in rng.choice(items_per, likes, replace=False):
                rows.append((f"{g}{u}", f"{g}{sep}{j}", 4, int(rng.integers(0, days * 86400))))
            for j in rng.choice(shared, shared_likes, replace=False) if shared else ():
                rows.append((f"{g}{u}", f"p_{j}", 3, int(rng.integers(0, days * 86400))))
    return pd.DataFrame(rows, columns=["user_id", "video_id", "rating", "ts"])


@pytest.fixture(scope="session")
def groups():
    """``taste_groups`` (test modules cannot import conftest under importlib mode)."""
    return taste_groups


@pytest.fixture
def clusters():
    return planted_clusters()


@pytest.fixture(scope="session")
def ann_data():
    """4000 item vectors in 40 clusters, their labels, and 300 queries near cluster members."""
    items, labels = clustered_vectors(4000, 32, 40, seed=1)
    queries = items[::-1][:300] + np.float32(0.05)
    return items, labels, queries


def clustered_vectors(n, dim, n_clusters, seed, spread=0.1):
    """``n`` unit-ish vectors around ``n_clusters`` random centres (float32)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    labels = rng.integers(n_clusters, size=n)
    return (centres[labels] + spread * rng.normal(size=(n, dim))).astype(np.float32), labels


DS = "2026-11-07"
CATEGORIES = ("Music", "Gaming", "News")


def tiny_world(seed=3, users_per_category=12, days=7, events_per_user=8):
    """A seeded History-shaped world: 3 categories x 3 creators x 4 videos uploaded 10-40 days before DS,
    plus ``vnew`` (Music, uploaded on DS, no interactions). User u<c>_<i> watches videos of category c
    (plus a like or a skip now and then) on the ``days`` days up to DS; u0_0 is a Music fan, u2_0 a News fan.
    Returns (interactions, videos, users) frames with the lake's column names."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(DS, tz="UTC") + pd.Timedelta(days=1)
    vids = [(f"v{c}{k}{j}", f"{cat} {k}{j}", f"k{c}{k}", cat, end - pd.Timedelta(days=10 + int(rng.integers(30))))
            for c, cat in enumerate(CATEGORIES) for k in range(3) for j in range(4)]
    vids.append(("vnew", "Brand new", "k00", "Music", end - pd.Timedelta(hours=3)))
    videos = pd.DataFrame(vids, columns=["video_id", "title", "creator_id", "category", "upload_ts"])
    rows = []
    for c in range(len(CATEGORIES)):
        own = [v for v in videos["video_id"] if v.startswith(f"v{c}")]
        for i in range(users_per_category):
            for _ in range(events_per_user):
                day = end - pd.Timedelta(days=int(rng.integers(1, days + 1)))
                ts = day + pd.Timedelta(minutes=int(rng.integers(1, 1400)))
                v = own[int(rng.integers(len(own)))]
                kind = rng.choice(["watch", "watch", "watch", "like", "skip", "impression"])
                rows.append((f"u{c}_{i}", v, kind, float(rng.uniform(0.3, 1.2)) if kind == "watch" else None, ts))
    inter = pd.DataFrame(rows, columns=["user_id", "video_id", "event_type", "watch_fraction", "ts"])
    inter["ds"] = inter["ts"].dt.strftime("%Y-%m-%d")
    inter["region"] = np.where(inter["user_id"].str.startswith("u2"), "de", "us")
    users = pd.DataFrame({"user_id": sorted(inter["user_id"].unique())})
    users["region"] = np.where(users["user_id"].str.startswith("u2"), "de", "us")
    return inter.sort_values("ts", ignore_index=True), videos, users


@pytest.fixture
def world():
    return tiny_world()


@pytest.fixture
def world_big():
    return tiny_world(users_per_category=30, events_per_user=24)


def write_tiny_lake(settings, inter, videos, users):
    """``tiny_world``'s frames as the lake's interactions, videos and users Delta tables (delta-rs)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from vidrec.tables import INTERACTIONS, USERS, VIDEOS, arrow_schema

    inter = inter.assign(event_id=[f"e{i}" for i in range(len(inter))], watch_ms=0, duration_ms=60_000, weight=1.0,
                         surface="home", device="ios")
    videos = videos.assign(tags=[["t"]] * len(videos), duration_ms=60_000, language="en", thumbnail_url=None, url=None)
    users = users.assign(age_band="25-34", signup_ts=pd.Timestamp("2025-01-01", tz="UTC"))
    for table, frame, parts in ((INTERACTIONS, inter, ["ds"]), (VIDEOS, videos, None), (USERS, users, None)):
        data = pa.Table.from_pandas(frame[table.columns], schema=arrow_schema(table.schema), preserve_index=False)
        write_deltalake(str(settings.lake_root / table.name), data, partition_by=parts)


@pytest.fixture(scope="session")
def write_lake():
    """``write_tiny_lake`` (test modules cannot import conftest under importlib mode)."""
    return write_tiny_lake

"""Serving fixtures: a tiny hand-written nightly run (lists + manifest + catalog), published to a real Redis.

The run has the columns the ranking job writes (``<artifact_root>/runs/<ds>/lists/*.parquet``) and the
catalog is a real Delta table, so ``models.publish.run`` is exercised exactly as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import types
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serving import overlay
from serving.state import FEATURES
from vidrec.settings import Settings

DS = "2026-11-01"
DIGEST = "abcdef0123456789"
VERSION = f"{DS}-{DIGEST[:8]}"
N_VIDEOS = 40


def creator(i: int) -> str:
    return f"c{i % 5}"


def catalog() -> pa.Table:
    ids = range(1, N_VIDEOS + 1)
    return pa.table({
        "video_id": [f"v{i}" for i in ids], "title": [f"Video {i}" for i in ids],
        "creator_id": [creator(i) for i in ids], "category": ["music" if i % 2 else "sports" for i in ids],
        "tags": pa.array([["t"]] * N_VIDEOS, pa.list_(pa.string())),
        "duration_ms": pa.array([1000 * i for i in ids], pa.int64()),
    })


def _ranked(key: str, lists: dict[str, list[str]], item_col: str = "video_id", source: str | None = "als") -> pa.Table:
    rows = [(k, r + 1, v, round(1.0 - r * 0.01, 4)) for k, vids in lists.items() for r, v in enumerate(vids)]
    cols = {key: [r[0] for r in rows], "rank": pa.array([r[1] for r in rows], pa.int32()),
            item_col: [r[2] for r in rows], "score": [r[3] for r in rows], "reason": ["because" for _ in rows]}
    if source:
        cols["source"] = [source] * len(rows)
    return pa.table(cols)


# u1 likes low ids, u2 high ids; 30 items each: topn 20 + 10 spares for the overlay to refill from.
HOME = {"u1": [f"v{i}" for i in range(1, 31)], "u2": [f"v{i}" for i in range(40, 10, -1)]}
RELATED = {"v1": ["v1", "v2", "v3", "v4"], "v2": ["v5", "v6"]}  # v1's own id is in its list: serving drops it
TRENDING = {"global": [f"v{i}" for i in range(10, 0, -1)], "eu": [f"v{i}" for i in range(20, 10, -1)]}
COLDSTART = {"global": ["v5", "v6", "v7"], "eu": ["v8", "v9"]}
FRESH = {"global": ["v40", "v39", "v38"], "eu": ["v37", "v36"]}
CATEGORY = {"music": [f"v{i}" for i in range(39, 0, -2)], "sports": [f"v{i}" for i in range(40, 0, -2)]}  # best first


def write_run(settings: Settings, ds: str = DS, *, digest: str | None = DIGEST, gate: dict | None = None,
              home: dict | None = None, context: dict | None = None) -> Path:
    """Write one nightly run and the catalog table; returns the run folder."""
    from deltalake import write_deltalake

    run = Path(settings.artifact_root) / "runs" / ds
    (run / "lists").mkdir(parents=True, exist_ok=True)
    pq.write_table(_ranked("user_id", home or HOME), run / "lists" / "home.parquet")
    pq.write_table(_ranked("video_id", RELATED, item_col="related_id", source="similar"),
                   run / "lists" / "related.parquet")
    pq.write_table(_ranked("region", TRENDING, source=None), run / "lists" / "trending.parquet")
    pq.write_table(_ranked("region", COLDSTART, source=None), run / "lists" / "coldstart.parquet")
    pq.write_table(_ranked("genre", CATEGORY, source=None), run / "lists" / "category.parquet")
    pq.write_table(_ranked("region", FRESH, source="fresh"), run / "lists" / "fresh.parquet")
    manifest = {"ds": ds, "params_digest": digest, "metrics": {"ndcg@10": 0.31, "recall@50": 0.42},
                "gate": gate if gate is not None else {"passed": True, "ndcg@10": 0.31, "min_ndcg@10": 0.2},
                "context": context}
    (run / "manifest.json").write_text(json.dumps(manifest))
    videos = Path(settings.lake_root) / "videos"
    if not videos.exists():
        write_deltalake(str(videos), catalog())
    return run


def db_url(redis_server: str, db: int) -> str:
    return redis_server.rsplit("/", 1)[0] + f"/{db}"


@pytest.fixture
def redis_url(redis_server) -> str:
    """Database 7 of the session's real redis-server, emptied for each test."""
    import redis

    url = db_url(redis_server, 7)
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture
def run():
    """The fixture run's constants and writer (test modules cannot import conftest under importlib mode)."""
    return types.SimpleNamespace(DS=DS, DIGEST=DIGEST, VERSION=VERSION, HOME=HOME, RELATED=RELATED,
                                 TRENDING=TRENDING, COLDSTART=COLDSTART, CATEGORY=CATEGORY, FRESH=FRESH,
                                 creator=creator,
                                 write=write_run)


@pytest.fixture
def published(settings, redis_url) -> Settings:
    """Settings pointing at a Redis where the fixture run is published (version VERSION)."""
    from models import publish
    s = settings.replace(redis_url=redis_url)
    write_run(s)
    publish.run(s, DS)
    return s


@pytest.fixture
def settings(settings) -> Settings:
    """The serving tests' API is open (VIDREC_API_AUTH=off); tests/serving/test_auth.py covers the keys."""
    return settings.replace(api_auth="off")


@pytest.fixture(scope="module")
def feast_config(redis_server, tmp_path_factory):
    """A Feast registry holding the user_realtime view, online store = database 8 of the real redis-server."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource, RepoConfig, ValueType
    from feast.types import Array, String

    folder = tmp_path_factory.mktemp("feast")
    host_port = redis_server.split("//")[1].rsplit("/", 1)[0]
    config = RepoConfig(project="vidrec_serving_test", registry=str(folder / "registry.db"), provider="local",
                        online_store={"type": "redis", "connection_string": f"{host_port},db=8"},
                        offline_store={"type": "file"}, entity_key_serialization_version=3, repo_path=str(folder))
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
    log = FileSource(name="user_realtime_log", path=str(folder / "rt.parquet"), timestamp_field="event_ts")
    push = PushSource(name=overlay.PUSH_SOURCE, batch_source=log)
    view = FeatureView(name=overlay.FEATURE_VIEW, entities=[user], ttl=dt.timedelta(hours=6), online=True,
                       source=push, schema=[Field(name="user_id", dtype=String)] + [
                           Field(name=f, dtype=Array(String)) for f in FEATURES])
    FeatureStore(config=config).apply([user, push, view])
    import redis

    redis.Redis.from_url(redis_server.rsplit("/", 1)[0] + "/8").flushdb()
    return config

"""`vidrec run publish`: a nightly run's parquet lists + catalog -> a new served version (or a refusal)."""

from __future__ import annotations

import re

import pytest

from models import publish
from vidrec.recstore.keys import IX_SOURCE
from vidrec.recstore.writer import RecoStore
pytestmark = pytest.mark.redis


def test_publish_writes_every_list_with_catalog_fields_and_meta(settings, redis_url, run):
    s = settings.replace(redis_url=redis_url)
    run.write(s, home={**run.HOME, "u3": ["v1", "v999", "v2"]})  # v999 is not in the catalog
    result = publish.run(s, run.DS)
    assert result["version"] == run.VERSION and result["replaced"] is None
    assert result["counts"] == {"home": 3, "related": 2, "trending": 2, "coldstart": 2, "category": 2, "fresh": 2, "video": 40}
    assert result["dropped_unknown_videos"]["home"] == 1
    store = RecoStore.from_url(redis_url)
    assert [r[0] for r in store.get_list("home", "u3").rows] == ["v1", "v2"]
    assert store.get_list("related", "v1").rows[1] == ["v2", "Video 2", "c2", "sports", 2000, 0.99, "because",
                                                       "similar"]
    assert store.get_list("trending", "eu").rows[0][IX_SOURCE] == "trending"
    assert store.get_list("video", "v7").rows == ["v7", "Video 7", "c2", "music", 7000]
    meta = store.meta(run.VERSION)
    assert meta["ds"] == run.DS and meta["params_digest"] == run.DIGEST and meta["metrics"]["ndcg@10"] == 0.31
    assert meta["keys"] == 3 + 2 + 2 + 2 + 2 + 2 + 40 + 1


def test_a_failed_gate_is_refused_and_the_served_version_stays(settings, redis_url, run):
    s = settings.replace(redis_url=redis_url)
    run.write(s)
    publish.run(s, run.DS)
    run.write(s, "2026-11-02", gate={"passed": False, "ndcg@10": 0.05, "min_ndcg@10": 0.2})
    with pytest.raises(publish.PublishRefused, match="gate failed.*0.05"):
        publish.run(s, "2026-11-02")
    store = RecoStore.from_url(redis_url)
    assert store.active_version() == run.VERSION
    assert [v["version"] for v in store.status()["versions"]] == [run.VERSION]


def test_a_rerun_gets_a_new_version_and_a_run_without_digest_a_timestamp(settings, redis_url, run):
    s = settings.replace(redis_url=redis_url)
    run.write(s)
    publish.run(s, run.DS)
    again = publish.run(s, run.DS)
    assert again["version"] == run.VERSION + "-r2" and again["replaced"] == run.VERSION
    run.write(s, "2026-11-03", digest=None)
    assert re.fullmatch(r"2026-11-03-\d{8}T\d{6}", publish.run(s, "2026-11-03")["version"])


def test_a_run_without_manifest_is_refused(settings, redis_url):
    with pytest.raises(publish.PublishRefused, match="no manifest"):
        publish.run(settings.replace(redis_url=redis_url), "2026-12-31")


def test_a_run_made_before_category_lists_publishes_without_them_and_a_missing_home_file_is_refused(settings,
                                                                                                   redis_url, run):
    s = settings.replace(redis_url=redis_url)
    folder = run.write(s) / "lists"
    (folder / "category.parquet").unlink()
    (folder / "fresh.parquet").unlink()
    result = publish.run(s, run.DS)
    assert not {"category", "fresh"} & set(result["counts"]) and result["counts"]["home"] == len(run.HOME)
    (folder / "home.parquet").unlink()
    with pytest.raises(publish.PublishRefused, match="missing list file"):
        publish.run(s, run.DS)


def test_the_catalogs_links_reach_the_items_that_have_them(settings, redis_url, run):
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake
    from starlette.testclient import TestClient

    from serving.app import create_app
    from serving.overlay import DisabledOverlay

    s = settings.replace(redis_url=redis_url, api_auth="off")
    run.write(s)
    videos = s.lake_root / "videos"
    catalog = DeltaTable(str(videos)).to_pyarrow_table()
    n = catalog.num_rows
    thumbs = ["https://img.example.com/v1.jpg"] + [None] * (n - 1)
    urls = ["https://videos.example.com/v1", "https://videos.example.com/v2"] + [None] * (n - 2)
    write_deltalake(str(videos), catalog.append_column("thumbnail_url", pa.array(thumbs, pa.string()))
                    .append_column("url", pa.array(urls, pa.string())), mode="overwrite", schema_mode="overwrite")
    publish.run(s, run.DS)
    store = RecoStore.from_url(redis_url)
    assert store.get_list("video", "v1").rows == ["v1", "Video 1", "c1", "music", 1000,
                                                  "https://img.example.com/v1.jpg", "https://videos.example.com/v1"]
    assert store.get_list("video", "v3").rows == ["v3", "Video 3", "c3", "music", 3000]  # no links: as before
    assert store.get_list("home", "u1").rows[1][8:] == [None, "https://videos.example.com/v2"]
    with TestClient(create_app(s, overlay=DisabledOverlay())) as client:
        items = client.get("/api/v1/recommendations/home", params={"user_id": "u1", "count": 3}).json()["items"]
    assert items[0]["thumbnail_url"] == "https://img.example.com/v1.jpg"
    assert items[0]["url"] == "https://videos.example.com/v1" and list(items[0])[-3:] == ["score", "reason", "source"]
    assert "thumbnail_url" not in items[1] and items[1]["url"] == "https://videos.example.com/v2"
    assert "url" not in items[2] and "thumbnail_url" not in items[2]

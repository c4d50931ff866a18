"""The served log reaches the lake: the API's responses -> landing ``served/`` -> the hourly ingest -> the Delta
table ``served``, one row per served item; events that carry rec_id and position join to them. Real redis-server,
Spark, Great Expectations and Delta."""

from __future__ import annotations

import json

import pytest
from deltalake import DeltaTable
from starlette.testclient import TestClient

from serving.app import create_app
from serving.overlay import DisabledOverlay
from spark_jobs.ingest import batch as ingest

pytestmark = [pytest.mark.redis, pytest.mark.spark]
FEEDS = "/api/v1/recommendations/"


def table(settings, name: str) -> list[dict]:
    return DeltaTable(str(settings.lake_root / name)).to_pyarrow_table().to_pylist()


def serve(client, users) -> list[dict]:
    out = [client.get(FEEDS + "home", params={"user_id": u, "count": "5"}).json() for u in users]
    out.append(client.get(FEEDS + "related", params={"video_id": "v1", "user_id": users[0], "count": "3"}).json())
    out.append(client.get(FEEDS + "trending", params={"count": "4"}).json())
    return out


def test_every_served_item_reaches_the_served_table_and_joins_to_events(published, spark, tmp_path):
    path = tmp_path / "experiments.json"
    path.write_text(json.dumps({"experiments": [{"name": "e1", "salt": "s", "arms": [
        {"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]}]}))
    s = published.replace(experiments_file=str(path))
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        first = serve(c, ["u1", "u2", "u3"])
        shown = first[0]  # u1 clicks the second item of their home feed
        clicked = {"event_type": "click", "user_id": "u1", "video_id": shown["items"][1]["video_id"],
                   "rec_id": shown["rec_id"], "position": 2}
        assert c.post("/api/v1/events", json=clicked).status_code == 202
        bad = c.post("/api/v1/events", json={**clicked, "position": 0})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "position"
    other = s.landing_dir / "served" / "other.jsonl"
    other.write_text(json.dumps({"rec_id": None, "surface": "home", "video_ids": ["v1"],
                                 "served_at": "2026-11-01T10:00:00Z"}) + "\n" + '{"rec_id": "x", "surf\n')
    result = ingest.run_step(s)
    items = {(r["rec_id"], r["position"]): r for r in table(s, "served")}
    expected = {(b["rec_id"], k + 1): it["video_id"] for b in first for k, it in enumerate(b["items"])}
    assert {key: r["video_id"] for key, r in items.items()} == expected  # every item, nothing else
    assert result["served"] == {"items": len(expected), "quarantined": 2, "duplicates": 0}
    for b in first:
        row = items[(b["rec_id"], 1)]
        assert (row["experiment"], row["arm"], row["version"]) == (b["experiment"], b["arm"], b["version"])
    reasons = sorted(r["reason"] for r in table(s, "events_quarantine") if r["kind"] == "served")
    assert reasons == ["malformed_record", "missing_rec_id"]
    (event,) = [e for e in table(s, "events") if e["rec_id"]]
    assert items[(event["rec_id"], event["position"])]["video_id"] == event["video_id"] == clicked["video_id"]

    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:  # the hour's file grows; ingested again
        later = serve(c, ["u4"])
    ingest.run_step(s)
    rows = table(s, "served")
    assert len(rows) == len({(r["rec_id"], r["position"]) for r in rows})  # no response twice
    assert {r["rec_id"] for r in rows} == {b["rec_id"] for b in first + later if b["items"]}

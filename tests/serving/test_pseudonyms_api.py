"""VIDREC_PSEUDONYMIZE on the real app (real redis-server, a published run whose lists are keyed by pseudonyms):
a caller's clear id gets that user's feed, and nothing the API writes holds the clear id."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from models import publish
from serving.app import create_app
from serving.overlay import DisabledOverlay
from vidrec.privacy import pseudonym

pytestmark = pytest.mark.redis
KEY = "serving-test-secret"


@pytest.fixture
def pseudonymized(settings, redis_url, run):
    s = settings.replace(redis_url=redis_url, pseudonymize=True, pseudonym_key=KEY)
    run.write(s, home={pseudonym(KEY, user): videos for user, videos in run.HOME.items()})  # what the nightly writes
    publish.run(s, run.DS)
    return s


def test_a_clear_id_gets_its_own_feed_and_the_landing_files_hold_only_pseudonyms(pseudonymized, run):
    s = pseudonymized
    with TestClient(create_app(s, overlay=DisabledOverlay())) as client:  # leaving it flushes the served log
        requests(client, run)
    written = [json.loads(line) for p in s.landing_dir.rglob("api-*.jsonl") for line in p.read_text().splitlines()]
    assert {r["user_id"] for r in written} == {pseudonym(KEY, "u1"), pseudonym(KEY, "u2"),
                                               pseudonym(KEY, pseudonym(KEY, "u1"))}
    assert len(written) == 5 and not any('"u1"' in p.read_text() or '"u2"' in p.read_text()
                                          for p in s.landing_dir.rglob("*.jsonl"))


def requests(client, run):
    feed = client.get("/api/v1/recommendations/home", params={"user_id": "u1", "count": 20}).json()
    assert [i["video_id"] for i in feed["items"]] == run.HOME["u1"][:20] and feed["user_id"] == "u1"
    other = client.get("/api/v1/recommendations/home", params={"user_id": "u2", "count": 20}).json()
    assert [i["video_id"] for i in other["items"]] == run.HOME["u2"][:20]
    stranger = client.get("/api/v1/recommendations/home", params={"user_id": pseudonym(KEY, "u1")}).json()
    assert {i["source"] for i in stranger["items"]} <= {"coldstart", "trending"}  # a pseudonym is not an id
    resp = client.post("/api/v1/events", json={"user_id": "u1", "video_id": "v3", "event_type": "click"})
    assert resp.status_code == 202, resp.text
    client.get("/api/v1/recommendations/trending", params={"user_id": "u2"})

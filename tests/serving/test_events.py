"""POST /api/v1/events: validation (nothing written on 4xx) and the landing line the hourly ingest reads."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from starlette.testclient import TestClient

from serving.app import create_app
from serving.event_log import landing_folder
from serving.overlay import DisabledOverlay
from spark_jobs.ingest import landing
URL = "/api/v1/events"
GOOD = {"event_type": "watch", "user_id": "u1", "video_id": "v1", "watch_ms": 1200,
        "ts": "2026-11-01T10:00:00+01:00", "surface": "home", "device": "ios", "region": "eu", "session_id": "s1"}


@pytest.fixture
def client(settings):
    # Redis is not needed for the intake: the store points at a closed port and is never reached.
    s = settings.replace(redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        yield c


def landed(settings) -> list:
    folder = landing_folder(settings.landing_dir)
    return sorted(folder.glob("*.jsonl")) if folder.exists() else []


@pytest.mark.parametrize("body, status, field", [
    ({**GOOD, "event_type": "purchase"}, 422, "event_type"),
    ({k: v for k, v in GOOD.items() if k != "user_id"}, 422, "user_id"),
    ({**GOOD, "video_id": ""}, 422, "video_id"),
    ({**GOOD, "watch_ms": -1}, 422, "watch_ms"),
    ({**GOOD, "watch_ms": 1.5}, 422, "watch_ms"),
    ({**GOOD, "watch_ms": True}, 422, "watch_ms"),
    ({k: v for k, v in GOOD.items() if k != "watch_ms"}, 422, "watch_ms"),  # required for a watch
    ({**GOOD, "ts": "yesterday"}, 422, "ts"),
    ({**GOOD, "ts": "2026-11-01T10:00:00"}, 422, "ts"),  # no timezone
    ({**GOOD, "ts": "1990-01-01T00:00:00Z"}, 422, "ts"),  # before VIDREC_MIN_EVENT_TS
    ({**GOOD, "surface": "inbox"}, 422, "surface"),
    ({**GOOD, "device": "fridge"}, 422, "device"),
    ({**GOOD, "colour": "red"}, 422, "colour"),
    ([GOOD], 400, "body"),
])
def test_invalid_events_are_rejected_with_the_field_and_nothing_is_written(client, settings, body, status, field):
    r = client.post(URL, json=body)
    assert r.status_code == status, r.text
    assert field in [e["field"] for e in r.json()["errors"]] and field in r.json()["message"]
    assert landed(settings) == []


def test_a_body_that_is_not_json_or_too_large_is_rejected(client, settings):
    assert client.post(URL, content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert client.post(URL, content=b"x" * 20_000).status_code == 413
    assert landed(settings) == []


def test_valid_events_append_lines_the_ingest_accepts(client, settings):
    r = client.post(URL, json=GOOD)
    assert r.status_code == 202 and r.json()["accepted"] is True and r.json()["overlay_updated"] is False
    minimal = client.post(URL, json={"event_type": "not_interested", "user_id": "u2", "video_id": "v3",
                                     "event_id": "client-id-1"})
    assert minimal.status_code == 202 and minimal.json()["event_id"] == "client-id-1"
    [path] = landed(settings)
    assert landing.check_file(path, "events") is None and landing.kind_of(path) == "events"
    assert path in landing.discover([settings.landing_dir])
    first, second = [json.loads(line) for line in path.read_text().splitlines()]
    assert str(uuid.UUID(first.pop("event_id"))) and first == {
        "user_id": "u1", "video_id": "v1", "event_type": "watch", "watch_ms": 1200, "ts": "2026-11-01T09:00:00.000Z",
        "session_id": "s1", "device": "ios", "region": "eu", "surface": "home", "rec_id": None, "position": None}
    assert second["event_id"] == "client-id-1" and second["watch_ms"] is None
    ts = dt.datetime.fromisoformat(second["ts"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.timezone.utc) - ts).total_seconds()) < 60  # default: now

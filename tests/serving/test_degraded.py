"""Redis goes away under a running API: answers stay 200, from the last trending list, marked degraded."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from serving.app import create_app
from serving.overlay import DisabledOverlay
from vidrec.ops import services
pytestmark = pytest.mark.redis


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test alone, so the test can stop it."""
    port = services.free_port()
    proc = services.start_redis(port, tmp_path / "redis")
    yield proc, f"redis://127.0.0.1:{port}/0"
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)


def test_stopped_redis_serves_last_known_trending_marked_degraded(settings, own_redis, run):
    from models import publish
    proc, url = own_redis
    s = settings.replace(redis_url=url)
    run.write(s)
    publish.run(s, run.DS)
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        assert c.get("/api/v1/recommendations/home", params={"user_id": "u1"}).json()["degraded"] is False
        proc.terminate()
        proc.wait(timeout=10)
        started = time.perf_counter()
        for path, params in [("home", {"user_id": "u1", "count": "5"}), ("trending", {"region": "eu", "count": "5"}),
                             ("related", {"video_id": "v1", "count": "5"})]:
            r = c.get(f"/api/v1/recommendations/{path}", params=params)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["degraded"] is True and body["version"] == run.VERSION
            expected = [v for v in run.TRENDING["global"] if v != params.get("video_id")][:5]
            assert [it["video_id"] for it in body["items"]] == expected
        assert time.perf_counter() - started < 2.0
        assert c.get("/readyz").status_code == 503
        assert c.get("/healthz").json()["counters"]["degraded"] == 3
        event = c.post("/api/v1/events", json={"event_type": "click", "user_id": "u1", "video_id": "v1"})
        assert event.status_code == 202  # intake does not need Redis

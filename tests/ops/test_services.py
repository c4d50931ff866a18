"""The private redis-server of `vidrec services`: a real server, started and stopped."""

from __future__ import annotations

import pytest

from vidrec.ops import services
pytestmark = pytest.mark.redis


def test_services_up_status_down(settings):
    s = settings.replace(redis_url=f"redis://127.0.0.1:{services.free_port()}/0")
    assert services.status(s)["redis"] == "stopped"
    up = services.up(s)
    try:
        assert up["started"] and services.status(s)["redis"] == "running"
        assert services.up(s)["started"] is False  # running already: nothing new started
        import redis

        client = redis.Redis.from_url(s.redis_url)
        client.set("k", "v")
        assert client.get("k") == b"v"
    finally:
        assert services.down(s)["redis"] == "stopped"
    import time

    for _ in range(50):
        if services.status(s)["redis"] == "stopped":
            break
        time.sleep(0.1)
    assert services.status(s)["redis"] == "stopped"


def test_session_redis_fixture_is_a_real_server(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server)
    assert client.ping() is True
    assert client.info("server")["redis_version"]

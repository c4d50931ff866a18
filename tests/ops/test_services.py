"""The local services of `vidrec services`: a real redis-server and the Great Expectations server, started and
stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidrec.ops import services
pytestmark = pytest.mark.redis


def test_services_up_status_down(settings):
    s = settings.replace(redis_url=f"redis://127.0.0.1:{services.free_port()}/0")
    assert services.status(s)["redis"] == "stopped"
    up = services.up(s)
    try:
        assert up["redis"]["started"] and services.status(s)["redis"] == "running"
        assert up["great_expectations"]["started"] and services.status(s)["gx"] == "running"
        again = services.up(s)  # running already: nothing new started
        assert again["redis"]["started"] is again["great_expectations"]["started"] is False
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
    assert not Path(up["great_expectations"]["socket"]).exists()  # the GX server removed its socket on SIGTERM


def test_session_redis_fixture_is_a_real_server(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server)
    assert client.ping() is True
    assert client.info("server")["redis_version"]

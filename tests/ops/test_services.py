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


def test_the_private_redis_keeps_what_was_written_across_a_restart(settings):
    """`vidrec services down` then `up`: the append-only file in the Redis data folder brings every key back."""
    import os

    import redis

    s = settings.replace(redis_url=f"redis://127.0.0.1:{services.free_port()}/0")
    first = services.redis_up(s)
    try:
        redis.Redis.from_url(s.redis_url).set("reco:home:u1", "a published list")
        assert services.down(s)["redis"] == "stopped"
        os.waitpid(first["pid"], 0)  # our child: a clean exit, the file flushed
        assert services.status(s)["redis"] == "stopped"
        again = services.redis_up(s)
        assert again["started"] and again["pid"] != first["pid"]
        assert redis.Redis.from_url(s.redis_url).get("reco:home:u1") == b"a published list"
        assert any((s.redis_dir / "appendonlydir").iterdir())
    finally:
        services.down(s)


def test_the_demo_refuses_an_api_of_another_data_dir_on_its_port(settings):
    """Another data dir's `vidrec serve` on the port would answer the demo with keys and lists not its own: the
    demo stops with a message that says so (before spawning anything)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from vidrec.ops import demo_api

    class Ready(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):  # quiet: the test reads no request log
            return None

    server = HTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        s = settings.replace(api_host="127.0.0.1", api_port=server.server_address[1])
        with pytest.raises(RuntimeError, match="already answers, but not as the API of"):
            demo_api.start_api(s)
        assert services.running_pid(s, "api") is None  # nothing was started
    finally:
        server.shutdown()

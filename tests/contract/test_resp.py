"""vidrec.recstore.resp.RespClient against a real redis-server: replies, errors, order under concurrency, a
dropped reply after a timeout, the database of the URL, and a restart of Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis

from vidrec.ops import services
from vidrec.recstore.resp import RespClient, RespError

pytestmark = pytest.mark.redis


def test_replies_errors_and_order_under_concurrency(redis_server):
    url = redis_server.rsplit("/", 1)[0] + "/5"
    sync = redis.Redis.from_url(url)
    sync.flushdb()
    sync.mset({f"k{i}": f"v{i}" for i in range(500)})
    sync.hset("h", mapping={"a": "1", "b": "2"})

    async def run():
        client = RespClient(url)
        try:
            values = await asyncio.gather(*(client.call("GET", f"k{i}") for i in range(500)))
            fields = await client.call("HMGET", "h", "b", "missing", "a")
            missing = await client.call("GET", "nope")
            with pytest.raises(RespError, match="WRONGTYPE"):
                await client.call("GET", "h")
            late = asyncio.ensure_future(client.call("BLPOP", "empty-list", "0.2"))  # answers in 0.2 s
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(late), 0.05)
            late.cancel()  # its caller gave up: its reply must not be handed to the next command
            after = await client.call("GET", "k7")
            return values, fields, missing, after
        finally:
            await client.aclose()

    values, fields, missing, after = asyncio.run(run())
    assert values == [f"v{i}".encode() for i in range(500)]  # each caller got its own reply
    assert fields == [b"2", None, b"1"] and missing is None and after == b"v7"


def test_a_restart_of_redis_fails_what_is_in_flight_then_connects_again(tmp_path):
    port = services.free_port()
    proc = services.start_redis(port, tmp_path / "redis")

    async def run():
        client = RespClient(f"redis://127.0.0.1:{port}/0")
        try:
            assert await client.call("SET", "k", "v") == b"OK"
            proc.terminate()
            proc.wait(timeout=10)
            with pytest.raises(OSError):
                await client.call("GET", "k")
            with pytest.raises(OSError):  # nothing listens: the connect fails, fast
                await client.call("GET", "k")
            again = services.start_redis(port, tmp_path / "redis2")
            try:
                return await client.call("PING")
            finally:
                again.terminate()
        finally:
            await client.aclose()

    assert asyncio.run(run()) == b"PONG"

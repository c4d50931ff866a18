"""Contract fixtures: a database of the session's redis-server per test module (its ``DB``), and a store on it
with the module's ``TTL``."""

from __future__ import annotations

import pytest
import redis

from vidrec.recstore.writer import RecoStore


@pytest.fixture
def url(redis_server, request) -> str:
    """Database ``DB`` of the test module on the session's redis-server, emptied for each test."""
    url = redis_server.rsplit("/", 1)[0] + f"/{request.module.DB}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def store(url, request) -> RecoStore:
    return RecoStore.from_url(url, ttl_s=request.module.TTL)

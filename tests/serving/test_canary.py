"""`vidrec publish --canary PCT`, `promote` and `rollback`, through the real CLI and the API: the canary's share of
users gets the new version on every surface, the others the served one; rollback returns them; promote serves it
to everyone. Real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from starlette.testclient import TestClient

from serving.app import create_app
from serving.overlay import DisabledOverlay
from vidrec.recstore.writer import RecoStore

pytestmark = pytest.mark.redis
USERS = [f"user-{i}" for i in range(5000)]
POINTER_TTL_S = 2.0  # the API re-reads the pointer and the canary this often


def vidrec_publish(s, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidrec.ops.cli", "publish", *args], env={**os.environ, **s.as_env()},
                          capture_output=True, text=True, timeout=300)


def versions_served(client, users, surface="home") -> dict:
    out = {}
    for u in users:
        body = client.get(f"/api/v1/recommendations/{surface}", params={"user_id": u, "count": "3"}).json()
        out[u] = (body["version"], body["experiment"], body["arm"])
    return out


def test_a_canary_gets_its_share_of_users_and_rollback_returns_them(published, run):
    run.write(published, "2026-11-02", digest="feedfacecafebeef")
    assert vidrec_publish(published, "--canary", "150").returncode == 1  # not a percentage: refused
    started = vidrec_publish(published, "--canary", "5", "--ds", "2026-11-02")
    assert started.returncode == 0, started.stderr[-2000:]
    canary = json.loads(started.stdout)["version"]
    store = RecoStore.from_url(published.redis_url)
    assert store.active_version() == run.VERSION and store.canary()["version"] == canary
    with TestClient(create_app(published, overlay=DisabledOverlay())) as c:
        served = versions_served(c, USERS)
        share = sum(v == canary for v, _, _ in served.values()) / len(USERS)
        assert abs(share - 0.05) <= 0.01
        assert all((e, a) == ("canary", "canary" if v == canary else "control") for v, e, a in served.values())
        assert {v for v, _, _ in served.values()} == {canary, run.VERSION}
        in_canary = [u for u, (v, _, _) in served.items() if v == canary]
        assert {v for v, _, _ in versions_served(c, in_canary[:20], "trending").values()} == {canary}  # every surface

        rolled = vidrec_publish(published, "rollback")
        assert rolled.returncode == 0 and json.loads(rolled.stdout)["canary_stopped"] == canary
        time.sleep(POINTER_TTL_S + 0.1)
        back = versions_served(c, in_canary)
        assert set(back.values()) == {(run.VERSION, None, None)}  # every canary user is back, no experiment left
    assert store.active_version() == run.VERSION and store.canary() is None
    assert store.meta(canary)["pinned"] == 0  # the withdrawn canary expires by TTL


def test_promote_serves_the_canary_to_everyone(published, run):
    run.write(published, "2026-11-02", digest="feedfacecafebeef")
    assert vidrec_publish(published, "promote").returncode == 1  # no canary: refused, said why
    assert vidrec_publish(published, "--canary", "10", "--ds", "2026-11-02").returncode == 0
    promoted = vidrec_publish(published, "promote")
    assert promoted.returncode == 0, promoted.stderr[-2000:]
    body = json.loads(promoted.stdout)
    store = RecoStore.from_url(published.redis_url)
    assert store.active_version() == body["promoted"] != run.VERSION and store.canary() is None
    assert [v["version"] for v in store.status()["versions"]][:2] == [body["promoted"], run.VERSION]
    with TestClient(create_app(published, overlay=DisabledOverlay())) as c:
        assert set(versions_served(c, USERS[:50]).values()) == {(body["promoted"], None, None)}

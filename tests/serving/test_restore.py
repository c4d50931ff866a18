"""`vidrec publish restore` (vidrec.ops.versions): after Redis lost its data, the newest gated run is served again.

Real redis-server (the session's), real nightly run folders on disk (the serving fixture run), real publish.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis

from vidrec.ops import versions
from vidrec.recstore.writer import RecoStore

pytestmark = pytest.mark.redis


def test_restore_publishes_the_newest_gated_run_only_when_nothing_is_served(settings, redis_url, run):
    s = settings.replace(redis_url=redis_url)
    assert versions.restore(s) == {"restored": False, "active": None, "reason": "no nightly run passed its gate yet"}
    run.write(s, "2026-10-30")
    run.write(s, run.DS)  # the newest gated run
    run.write(s, "2026-11-02", gate={"passed": False, "ndcg@10": 0.01, "min_ndcg@10": 0.2})  # newer, refused
    assert versions.gated_runs(s) == [run.DS, "2026-10-30"]
    first = versions.restore(s)
    store = RecoStore.from_url(redis_url)
    assert first["restored"] and first["ds"] == run.DS and store.active_version() == first["active"]
    home = store.get_list("home", "u1")
    assert [r[0] for r in home.rows][:3] == run.HOME["u1"][:3]
    assert versions.restore(s) == {"restored": False, "active": first["active"], "reason": "a version is served"}
    redis.Redis.from_url(redis_url).flushdb()  # the data folder deleted: everything is gone
    assert store.active_version() is None
    again = versions.restore(s)
    assert again["restored"] and again["ds"] == run.DS and store.get_list("home", "u1").rows == home.rows
    assert again["features"]["skipped"].startswith("no Feast registry")


def test_the_cli_restores_and_says_so(settings, redis_url, run):
    s = settings.replace(redis_url=redis_url)
    run.write(s)
    env = {**__import__("os").environ, **s.as_env()}
    done = subprocess.run([sys.executable, "-m", "vidrec.ops.cli", "publish", "restore"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["restored"] and out["ds"] == run.DS
    assert RecoStore.from_url(redis_url).active_version() == out["active"]


def test_an_api_that_finds_nothing_served_restores_the_newest_gated_run(settings, redis_url, run):
    from starlette.testclient import TestClient

    from serving.app import create_app
    from serving.overlay import DisabledOverlay
    from vidrec.ops import services

    s = settings.replace(redis_url=redis_url)
    run.write(s)
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        assert c.get("/healthz").json()["counters"]["restores_started"] == 1
        assert services.wait_until(lambda: c.get("/readyz").status_code == 200, 120, interval_s=0.5)
        body = c.get("/api/v1/recommendations/home", params={"user_id": "u1", "count": "3"}).json()
    assert [it["video_id"] for it in body["items"]] == run.HOME["u1"][:3] and body["degraded"] is False
    assert "restored" in (s.data_dir / "run" / "restore.log").read_text()

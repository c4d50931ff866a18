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
        assert all((e, a) == (f"canary-{canary}", "canary" if v == canary else "control")
                   for v, e, a in served.values())
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


def test_a_failed_guardrail_in_the_daily_report_withdraws_the_canary(published, run):
    from spark_jobs.experiments import report

    run.write(published, "2026-11-02", digest="feedfacecafebeef")
    assert vidrec_publish(published, "--canary", "5", "--ds", "2026-11-02").returncode == 0
    store = RecoStore.from_url(published.redis_url)
    name = f"canary-{store.canary()['version']}"

    def arm(users: int, not_interested: int) -> dict:  # every user saw 10 items; some marked one not interested
        ni = [1] * not_interested + [0] * (users - not_interested)
        return {"users": users, "sum_impressions": 10.0 * users, "sq_impressions": 100.0 * users,
                **{f"{p}_{m}": 0.0 for p in ("sum", "sq", "xy") for m in ("clicked", "watch_ms", "liked")},
                "sum_not_interested": float(sum(ni)), "sq_not_interested": float(sum(ni)),
                "xy_not_interested": 10.0 * sum(ni)}

    done = report.write(published, name, "2026-11-03", {"control": arm(9500, 100), "canary": arm(500, 60)}, store)
    assert [g["metric"] for g in done["guardrails"]] == ["not_interested_rate"]
    assert done["srm"]["mismatch"] is False and store.canary() is None  # withdrawn
    assert "withdrawn" in (published.artifact_root / "experiments" / name / "2026-11-03" / "report.md").read_text()

"""`make stop && make serve`: the same user gets the same feed, from Redis's append-only file or, when Redis's
data folder is gone, by publishing the newest gated run again. Real redis-server (`vidrec services up`), real
publish, the real API (Starlette's TestClient), a real nightly run folder on disk."""

from __future__ import annotations

import os
import shutil

import pytest
from starlette.testclient import TestClient

from serving.app import create_app
from serving.overlay import DisabledOverlay
from vidrec.ops import services

pytestmark = pytest.mark.redis
USERS = ("u1", "u2", "new-user")  # new-user: the cold-start list


def feeds(settings) -> dict:
    """Each user's home feed from a freshly started API, once it is ready."""
    with TestClient(create_app(settings, overlay=DisabledOverlay())) as c:
        assert services.wait_until(lambda: c.get("/readyz").status_code == 200, 120, interval_s=0.5)
        answers = {u: c.get("/api/v1/recommendations/home", params={"user_id": u, "count": "10"}).json() for u in USERS}
        return {u: {k: v for k, v in a.items() if k != "rec_id"} for u, a in answers.items()}  # new per response


def stop(settings, started: dict) -> None:
    assert services.down(settings)["redis"] == "stopped"
    os.waitpid(started["redis"]["pid"], 0)  # a clean exit: the append-only file is complete


def test_restarts_keep_every_feed_from_the_append_only_file_or_by_publishing_again(settings, run):
    s = settings.replace(redis_url=f"redis://127.0.0.1:{services.free_port()}/0")
    run.write(s)
    try:
        first = services.up(s)
        assert first["restore"]["restored"] and first["restore"]["ds"] == run.DS  # an empty Redis: published
        before = feeds(s)
        assert all(before[u]["items"] and before[u]["degraded"] is False for u in USERS)
        stop(s, first)

        again = services.up(s)  # the append-only file brings everything back: nothing to restore
        assert again["redis"]["started"] and again["restore"]["restored"] is False
        assert feeds(s) == before
        stop(s, again)

        shutil.rmtree(s.redis_dir)  # Redis's data is gone
        third = services.up(s)
        assert third["restore"]["restored"] and third["restore"]["active"] == before["u1"]["version"]
        assert feeds(s) == before
    finally:
        services.down(s)

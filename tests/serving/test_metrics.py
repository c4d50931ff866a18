"""`GET /metrics`: Prometheus counters and histograms of the real API (real redis-server, a published run)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from serving.app import create_app
from serving.overlay import DisabledOverlay
from vidrec import api_keys
from vidrec.ops import services

pytestmark = pytest.mark.redis
HOME = "/api/v1/recommendations/home"


def scrape(client, key: str) -> dict:
    """(name, sorted label items) -> value, from the text format."""
    r = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def test_metrics_count_requests_latency_events_and_the_served_version(published, run):
    s = published.replace(api_auth="keys")
    admin, reader = (api_keys.add(s.api_keys_file, f"k-{r}", r) for r in ("admin", "reader"))
    with TestClient(create_app(s, overlay=DisabledOverlay()), headers={"Authorization": f"Bearer {reader}"}) as c:
        for _ in range(3):
            assert c.get(HOME, params={"user_id": "u1"}).status_code == 200
        assert c.get(HOME, params={"user_id": "u 1"}).status_code == 400
        assert c.get(HOME, params={"user_id": "u1"}, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get("/metrics").status_code == 403  # operations: admin only
        good = {"event_type": "click", "user_id": "u1", "video_id": "v1"}
        event = c.post("/api/v1/events", json=good, headers={"Authorization": f"Bearer {admin}"})
        assert event.status_code == 202
        assert c.post("/api/v1/events", json={"event_type": "click"}, headers={"Authorization": f"Bearer {admin}"}
                      ).status_code == 422
        m = scrape(c, admin)
    home = (("method", "GET"), ("route", HOME))
    assert m[("vidrec_http_requests_total", home + (("status", "200"),))] == 3
    assert m[("vidrec_http_requests_total", home + (("status", "400"),))] == 1
    assert m[("vidrec_http_requests_total", home + (("status", "401"),))] == 1
    assert m[("vidrec_http_requests_total", (("method", "GET"), ("route", "/metrics"), ("status", "403")))] == 1
    assert m[("vidrec_http_request_duration_seconds_count", home)] == 5
    assert m[("vidrec_http_request_duration_seconds_bucket", tuple(sorted(home + (("le", "+Inf"),))))] == 5
    assert m[("vidrec_events_total", (("outcome", "accepted"),))] == 1
    assert m[("vidrec_events_total", (("outcome", "rejected"),))] == 1
    assert m[("vidrec_degraded_responses_total", ())] == 0
    assert m[("vidrec_served_version_info", (("version", run.VERSION),))] == 1
    assert 0 <= m[("vidrec_served_version_age_seconds", ())] < 600


def test_metrics_show_degraded_answers_and_redis_errors_when_redis_is_gone(settings, run, tmp_path):
    from models import publish

    port = services.free_port()
    proc = services.start_redis(port, tmp_path / "redis")
    s = settings.replace(redis_url=f"redis://127.0.0.1:{port}/0")
    run.write(s)
    publish.run(s, run.DS)
    try:
        with TestClient(create_app(s, overlay=DisabledOverlay())) as c:  # VIDREC_API_AUTH=off: no key needed
            assert c.get(HOME, params={"user_id": "u1"}).json()["degraded"] is False
            proc.terminate()
            proc.wait(timeout=10)
            for _ in range(2):
                assert c.get(HOME, params={"user_id": "u1"}).json()["degraded"] is True
            m = scrape(c, "unused")
    finally:
        if proc.poll() is None:
            proc.terminate()
    assert m[("vidrec_degraded_responses_total", ())] == 2
    assert m[("vidrec_redis_errors_total", ())] >= 3  # two feeds and the scrape's own version read
    assert m[("vidrec_served_version_age_seconds", ())] >= 0  # the last value read stays


def test_metrics_add_up_every_workers_figures(published, tmp_path):
    """`vidrec serve --workers 2`: whichever worker answers /metrics shows the requests of both."""
    import os
    import subprocess
    import sys

    import httpx

    prom = tmp_path / "prom"
    prom.mkdir()
    s = published.replace(api_port=services.free_port(), api_metrics_dir=str(prom))  # auth off (conftest.py)
    api = subprocess.Popen([sys.executable, "-m", "vidrec.ops.cli", "serve", "--workers", "2"],
                           env={**os.environ, **s.as_env()},
                           start_new_session=True)
    base = f"http://127.0.0.1:{s.api_port}"
    try:
        assert services.wait_until(lambda: httpx.get(base + "/readyz").status_code == 200, 90, interval_s=0.3,
                                   errors=(httpx.HTTPError,))
        assert services.wait_until(lambda: len({f.stem.rsplit("_", 1)[1] for f in prom.glob("counter_*.db")}) == 2,
                                   60, interval_s=0.3)  # both workers up, each writing its own file
        for i in range(30):  # a new connection each: the kernel spreads them over the workers
            assert httpx.get(base + HOME, params={"user_id": f"u{1 + i % 2}"}).status_code == 200
        totals = set()
        for _ in range(10):
            m = {(x.name, tuple(sorted(x.labels.items()))): x.value for family in text_string_to_metric_families(
                httpx.get(base + "/metrics").text) for x in family.samples}
            totals.add(m[("vidrec_http_requests_total", (("method", "GET"), ("route", HOME), ("status", "200")))])
        assert totals == {30}
    finally:
        os.killpg(api.pid, 15)
        api.wait(timeout=30)


def test_workers_share_a_fresh_metrics_folder_removed_afterwards(monkeypatch):
    import os

    from serving.metrics import MULTIPROC_DIR, WORKERS_DIR, shared_by_workers

    monkeypatch.delenv(WORKERS_DIR, raising=False)
    monkeypatch.setenv(MULTIPROC_DIR, "/elsewhere")  # e.g. set by Feast's import: not the workers' folder
    with shared_by_workers(1) as folder:
        assert folder is None and WORKERS_DIR not in os.environ
    with shared_by_workers(2) as folder:
        assert os.environ[WORKERS_DIR] == os.environ[MULTIPROC_DIR] == folder and os.path.isdir(folder)
    assert WORKERS_DIR not in os.environ and os.environ[MULTIPROC_DIR] == "/elsewhere"
    assert not os.path.exists(folder)
    with shared_by_workers(2, "/tmp/given") as folder:  # the setting's folder: used, kept
        assert folder == os.environ[WORKERS_DIR] == "/tmp/given"

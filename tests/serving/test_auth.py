"""Who is calling: API keys with roles on every route (real redis-server, a published run, the real app), and the
`vidrec keys` command that makes them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from starlette.testclient import TestClient

from serving.app import create_app
from serving.overlay import DisabledOverlay
from vidrec import api_keys
from vidrec.ops import services

pytestmark = pytest.mark.redis
EVENT = {"event_type": "click", "user_id": "u1", "video_id": "v2"}
ROUTES = {  # path -> (method, request kwargs, role it needs or None when open, status when allowed)
    "/api/v1/recommendations/home": ("GET", {"params": {"user_id": "u1"}}, "reader", 200),
    "/api/v1/recommendations/related": ("GET", {"params": {"video_id": "v1"}}, "reader", 200),
    "/api/v1/recommendations/trending": ("GET", {"params": {"region": "eu"}}, "reader", 200),
    "/api/v1/events": ("POST", {"json": EVENT}, "writer", 202),
    "/healthz": ("GET", {}, None, 200),
    "/readyz": ("GET", {}, None, 200),
    "/openapi.json": ("GET", {}, None, 200),
    "/metrics": ("GET", {}, "admin", 200),
    "/api/v1/privacy/forget": ("POST", {"json": {"user_id": "u1"}}, "admin", 202),
}


@pytest.fixture
def guarded(published):
    """Settings with keys on (the default) and one key per role; the published fixture run in Redis."""
    s = published.replace(api_auth="keys")
    return s, {role: api_keys.add(s.api_keys_file, f"k-{role}", role) for role in api_keys.ROLES}


def call(client, path: str, key: str | None):
    method, kwargs, _, _ = ROUTES[path]
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return client.request(method, path, headers=headers, **kwargs)


def test_every_route_answers_401_403_or_its_answer_by_role(guarded):
    s, keys = guarded
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        for path, (_, _, needed, ok) in ROUTES.items():
            for who, key in [("nobody", None), ("stranger", "vidrec_not-a-key"), *keys.items()]:
                expected = (ok if needed is None or who in (needed, "admin")
                            else 401 if who in ("nobody", "stranger") else 403)
                r = call(c, path, key)
                assert r.status_code == expected, (path, who, r.text)
                if expected == 401:
                    assert r.headers["www-authenticate"].startswith("Bearer") and r.json()["error"] == "unauthorized"
                if expected == 403:
                    assert r.json()["error"] == "forbidden" and f"needs {needed}" in r.json()["message"]
        assert call(c, "/api/v1/recommendations/home", "").status_code == 401  # "Bearer " with no key


def test_added_and_revoked_keys_take_effect_without_a_restart(guarded):
    s, keys = guarded
    path = "/api/v1/recommendations/home"
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        assert call(c, path, keys["reader"]).status_code == 200
        api_keys.revoke(s.api_keys_file, "k-reader")
        assert services.wait_until(lambda: call(c, path, keys["reader"]).status_code == 401, 5)
        fresh = api_keys.add(s.api_keys_file, "k-new", "reader")
        assert services.wait_until(lambda: call(c, path, fresh).status_code == 200, 5)
        assert call(c, path, keys["admin"]).status_code == 200  # the others are untouched


def test_the_defaults_never_leave_the_api_open(published):
    s = published.replace(api_auth="keys")  # no key made yet
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        r = c.get("/api/v1/recommendations/home", params={"user_id": "u1"})
        assert r.status_code == 401 and "vidrec keys add" in r.json()["message"]
        doc = c.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["apiKey"] == {**doc["components"]["securitySchemes"]["apiKey"],
                                                              "type": "http", "scheme": "bearer"}
    assert doc["paths"]["/api/v1/recommendations/home"]["get"]["security"] == [{"apiKey": []}]
    assert {"401", "403"} <= set(doc["paths"]["/api/v1/events"]["post"]["responses"])
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    with TestClient(create_app(s.replace(api_auth="off"), overlay=DisabledOverlay())) as c:  # explicitly open
        assert c.get("/api/v1/recommendations/home", params={"user_id": "u1"}).status_code == 200


def vidrec_keys(s, *args):
    env = {**os.environ, **s.as_env()}
    return subprocess.run([sys.executable, "-m", "vidrec.ops.cli", "keys", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_keys_command_prints_a_key_once_and_keeps_only_its_hash(settings):
    made = vidrec_keys(settings, "add", "ingest-bot", "--role", "writer")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert made.stdout == key + "\n" and key.startswith("vidrec_") and len(key) > 40  # alone on standard output
    stored = settings.api_keys_file.read_text()
    assert key not in stored and api_keys.digest(key) in stored
    assert stat.S_IMODE(settings.api_keys_file.stat().st_mode) == 0o600
    assert api_keys.KeyRing(settings.api_keys_file).lookup(key) == ("ingest-bot", "writer")
    listed = json.loads(vidrec_keys(settings, "list").stdout)
    assert [(k["name"], k["role"]) for k in listed] == [("ingest-bot", "writer")] and "sha256" not in listed[0]
    again = vidrec_keys(settings, "add", "ingest-bot")
    assert again.returncode == 2 and "exists" in again.stderr and again.stdout == ""
    assert vidrec_keys(settings, "add", "bad name!").returncode == 2
    assert vidrec_keys(settings, "add", "x", "--role", "root").returncode == 2
    assert json.loads(vidrec_keys(settings, "revoke", "ingest-bot").stdout) == {"revoked": "ingest-bot",
                                                                              "role": "writer"}
    assert api_keys.KeyRing(settings.api_keys_file).lookup(key) is None
    assert vidrec_keys(settings, "revoke", "ingest-bot").returncode == 2

"""POST /api/v1/privacy/forget on the real app (real redis-server, a published run): admin keys queue a request
that names who asked; a bad body gets a 4xx saying what is wrong and queues nothing; then `vidrec privacy`."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from serving.app import create_app
from serving.overlay import DisabledOverlay
from vidrec import api_keys, privacy
from vidrec.ops import cli

pytestmark = pytest.mark.redis


@pytest.fixture
def admin(published):
    s = published.replace(api_auth="keys", pseudonym_key="test-secret")
    key = api_keys.add(s.api_keys_file, "dpo-desk", "admin")
    with TestClient(create_app(s, overlay=DisabledOverlay()), headers={"Authorization": f"Bearer {key}"}) as c:
        yield s, c


def test_an_admin_queues_a_request_that_names_the_key_and_holds_the_id_only_until_done(admin):
    s, client = admin
    resp = client.post("/api/v1/privacy/forget", json={"user_id": "u1"})
    assert resp.status_code == 202 and resp.json()["queued"] is True and "user_id" not in resp.json()
    (request,) = privacy.pending(s)
    assert request["user_id"] == "u1" and request["requested_by"] == "api key dpo-desk"
    privacy.defer(s, request, {"tables": {"events": 3}, "landing": {"deferred": 1}})  # a file still being written
    (request,) = privacy.pending(s)
    record = privacy.finish(s, request, {"tables": {"events": 0, "users": 1}, "landing": {"deferred": 0}})
    assert record["removed"] == {"tables": {"events": 3, "users": 1}, "landing": {"deferred": 1}}
    assert record["runs"] == 2
    assert privacy.pending(s) == [] and not list(privacy.requests_dir(s).iterdir())
    assert record["subject"] == privacy.subject(s, "u1") and len(record["subject"]) == 64
    assert "u1" not in privacy.audit_path(s).read_text().replace(record["subject"], "")  # no clear id in the audit
    assert privacy.subject(s.replace(pseudonym_key="other"), "u1") != record["subject"]  # keyed


@pytest.mark.parametrize("body, status, says", [
    (b"not json", 400, "not JSON"), (b'["u1"]', 422, "user_id"), (b'{"user_id": ""}', 422, "1-128 printable"),
    (b'{"user_id": 7}', 422, "string"), (b'{"user_id": "u1", "why": "x"}', 422, "nothing else"),
    (b'{"user_id": "a b"}', 422, "without spaces"), (json.dumps({"user_id": "x" * 129}).encode(), 422, "1-128"),
])
def test_a_bad_body_gets_a_4xx_that_says_what_is_wrong_and_queues_nothing(admin, body, status, says):
    s, client = admin
    resp = client.post("/api/v1/privacy/forget", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == status and says in resp.json()["message"], resp.text
    assert privacy.pending(s) == []


def test_the_command_queues_and_reports(published, monkeypatch, capsys):
    for name, value in published.as_env().items():
        monkeypatch.setenv(name, value)
    assert cli.main(["privacy", "forget", "u2", "--by", "support ticket 42"]) == 0
    queued = json.loads(capsys.readouterr().out)["queued"]
    assert queued["requested_by"] == "support ticket 42" and "user_id" not in queued
    assert cli.main(["privacy", "status"]) == 0
    assert json.loads(capsys.readouterr().out) == {"pending": 1, "done": 0, "latest": []}
    assert cli.main(["privacy", "forget"]) == 2  # no user given
    assert cli.main(["privacy", "process"]) == 0
    done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (done["requests"], done["done"]) == (1, 1)
    assert done["removed"]["recommendations"]["keys"] == 1  # u2's home list
    metrics = (published.metrics_dir / "vidrec_job_privacy_process.prom").read_text()
    assert 'vidrec_job_output{field="done",job="privacy_process"} 1.0' in metrics

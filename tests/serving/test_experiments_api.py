"""Experiments through the API: every feed response names its experiment, arm and rec_id; an arm serves its
version and its policy; the served log holds every response (and says what it dropped when its writer falls
behind). Real redis-server, the fixture run published."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from serving.app import create_app
from serving.overlay import DisabledOverlay
from serving.served_log import ServedLog, served_folder
from vidrec import experiments
from vidrec.experiments import ExperimentError

pytestmark = pytest.mark.redis

FEEDS = "/api/v1/recommendations/"
USERS = [f"u{i}" for i in range(1, 41)]


def with_experiments(settings, tmp_path: Path, *exps) -> tuple:
    path = tmp_path / "experiments.json"
    path.write_text(json.dumps({"experiments": list(exps)}))
    return settings.replace(experiments_file=str(path)), experiments.parse({"experiments": list(exps)})


def served_lines(settings) -> list[dict]:
    folder = served_folder(settings.landing_dir)
    lines = [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]
    return [{**x, "video_ids": x["video_ids"][:x["shown"]] if x["shown"] is not None else x["video_ids"]}
            for x in lines]  # shown: the first n of a stored list's ids were served


def test_every_feed_names_its_experiment_arm_and_rec_id_and_the_served_log_holds_it(published, tmp_path):
    s, (exp, _) = with_experiments(
        published, tmp_path,
        {"name": "home-test", "salt": "h1", "surfaces": ["home", "category"],
         "arms": [{"name": "control", "share": 0.5}, {"name": "treatment", "share": 0.5}]},
        {"name": "lists", "salt": "t1", "surfaces": ["trending", "related", "fresh"],
         "arms": [{"name": "a", "share": 0.3}, {"name": "b", "share": 0.7}]})
    asked = [("home", {"user_id": u}) for u in USERS] + [
        ("category", {"genre": "music", "user_id": "u3"}), ("trending", {"user_id": "u4"}),
        ("related", {"video_id": "v1", "user_id": "u5"}), ("fresh", {"user_id": "u6"}), ("trending", {}),
        ("related", {"video_id": "v2"})]
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        answers = [(surface, q, c.get(FEEDS + surface, params=q).json()) for surface, q in asked]
    for surface, q, body in answers:
        user = q.get("user_id")
        expected = None if user is None else (exp if surface in exp.surfaces else _).arm_of(user)
        assert body["experiment"] == (expected and (exp if surface in exp.surfaces else _).name)
        assert body["arm"] == (expected and expected.name) and body["rec_id"]
    arms = {body["arm"] for surface, _, body in answers if surface == "home"}
    assert arms == {"control", "treatment"}
    lines = {line["rec_id"]: line for line in served_lines(s)}  # written when the app stopped
    assert len(lines) == len(answers)  # rec_ids are unique, and no response is missing
    for surface, q, body in answers:
        line = lines[body["rec_id"]]
        assert line["video_ids"] == [it["video_id"] for it in body["items"]] and line["surface"] == surface
        assert (line["user_id"], line["experiment"], line["arm"], line["version"]) == (
            q.get("user_id"), body["experiment"], body["arm"], body["version"])


def clustered(user_ids) -> dict:
    """Home lists that break a creator cap: each creator's videos together (creator c = id % 5)."""
    ids = sorted(range(1, 31), key=lambda i: (i % 5, i))
    return {u: [f"v{i}" for i in ids] for u in user_ids}


def test_an_arm_serves_its_version_and_its_policy(published, run, tmp_path):
    from models import publish

    old = run.VERSION
    run.write(published, "2026-11-02", digest="1234567890abcdef", home=clustered(USERS))
    newer = publish.run(published, "2026-11-02")["version"]
    s, (exp,) = with_experiments(
        published.replace(creator_window=3), tmp_path,
        {"name": "ranker", "salt": "r1", "surfaces": ["home"],
         "arms": [{"name": "old", "share": 0.5, "version": old},
                  {"name": "diverse", "share": 0.5,
                   "policy": {"creator_max_per_window": 1, "exploration_share": 0.25}}]})
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        bodies = {u: c.get(FEEDS + "home", params={"user_id": u, "count": "12"}).json() for u in USERS[:8]}
        assert c.get("/healthz").json()["counters"].get("arm_version_missing", 0) == 0
    assert {exp.arm_of(u).name for u in bodies} == {"old", "diverse"}
    capped = lambda creators: all(len(set(creators[k:k + 3])) == 3 for k in range(len(creators) - 2))  # noqa: E731
    for user, body in bodies.items():
        arm, items = exp.arm_of(user).name, body["items"]
        assert body["arm"] == arm and body["version"] == (old if arm == "old" else newer)
        if arm == "old":  # the old run's own list (it had two users; the others get its cold-start list)
            assert [it["video_id"] for it in items] == (run.HOME.get(user) or run.COLDSTART["global"])[:12]
            continue
        assert len(items) == 12
        assert not capped([f"c{int(v[1:]) % 5}" for v in clustered([user])[user][:12]])  # the list as published
        assert capped([it["creator_id"] for it in items])  # at most 1 per creator in any 3 items
        explored = [it["video_id"] for it in items if it["source"] == "exploration"]
        assert len(explored) == 3 and set(explored) == set(run.FRESH["global"])  # a quarter of 12


def test_an_arm_whose_version_is_gone_gets_the_served_one(published, run, tmp_path):
    s, _ = with_experiments(published, tmp_path, {"name": "gone", "salt": "g", "arms": [
        {"name": "only", "share": 1.0, "version": "2020-01-01-deadbeef"}]})
    with TestClient(create_app(s, overlay=DisabledOverlay())) as c:
        body = c.get(FEEDS + "home", params={"user_id": "u1"}).json()
        assert body["arm"] == "only" and body["version"] == run.VERSION
        assert c.get("/healthz").json()["counters"]["arm_version_missing"] == 1


def test_a_wrong_experiments_file_stops_the_api_at_start(published, tmp_path):
    path = tmp_path / "experiments.json"
    path.write_text(json.dumps({"experiments": [{"name": "x", "salt": "s", "arms": [{"name": "a", "share": 0.7}]}]}))
    s = published.replace(experiments_file=str(path))
    with pytest.raises(ExperimentError, match="add up to 1"):
        with TestClient(create_app(s, overlay=DisabledOverlay())):
            pass


def test_a_writer_that_falls_behind_keeps_what_it_can_and_counts_what_it_dropped(tmp_path):
    counted: dict = {}
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    log = ServedLog(blocked / "api", lambda name, n=1: counted.__setitem__(name, counted.get(name, 0) + n),
                    max_pending=5)
    for i in range(8):
        log.record(f"r{i}", "u1", None, None, "home", "v", [f"v{i}"])
    assert log.flush() == 0 and counted == {"served_dropped": 3, "served_write_errors": 1}
    blocked.unlink()  # the disk is back
    assert log.flush() == 5 and counted["served_logged"] == 5
    lines = [json.loads(x) for f in (blocked / "api").glob("*.jsonl") for x in f.read_text().splitlines()]
    assert [x["rec_id"] for x in lines] == ["r3", "r4", "r5", "r6", "r7"]  # the oldest went first


def test_the_api_answers_and_counts_when_the_served_log_cannot_be_written(published):
    served_folder(published.landing_dir).parent.mkdir(parents=True, exist_ok=True)
    served_folder(published.landing_dir).write_text("a file where the folder should be")
    with TestClient(create_app(published, overlay=DisabledOverlay())) as c:
        for _ in range(600):  # past FLUSH_LINES: a write is tried, and fails
            assert c.get(FEEDS + "trending").status_code == 200
        counters = c.get("/healthz").json()["counters"]
        assert counters["served_write_errors"] >= 1 and counters.get("served_logged", 0) == 0
        assert "vidrec_served_log_lines_total{outcome=\"write_errors\"}" in c.get("/metrics").text

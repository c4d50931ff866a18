"""VIDREC_PSEUDONYMIZE end to end: generated landing files -> the real ingest (Spark, GX, Delta) -> the nightly's
model jobs -> publish (real redis-server) -> the API. No clear user id is in the lake or the artifacts, and a
caller's clear id still gets that user's own feed."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from vidrec.privacy import pseudonym

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.redis]
KEY = "e2e-pseudonym-secret"
DS = "2026-11-07"  # the generated week's last day


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, redis_server):
    from models import publish
    from models.evaluation import gate
    from models.ranking import objectives, rank, training_set
    from models.retrieval import als, ann_index, candidates
    from spark_jobs.ingest import batch as ingest
    from vidrec.settings import Settings
    from vidrec.sources import synthetic_events

    tmp = tmp_path_factory.mktemp("pseudonymized")
    s = Settings(data_dir=tmp / "var", redis_url=redis_server.rsplit("/", 1)[0] + "/9", spark_shuffle_partitions=2,
                 spark_driver_memory="1g", spark_remote="", pseudonymize=True, pseudonym_key=KEY, topn=20,
                 candidates_per_user=60, als_factors=8, als_iterations=8, active_days=7, api_auth="off")
    synthetic_events.generate(s.landing_dir, events=20_000, seed=7, days=7, start="2026-11-01")
    clear = set(pq.read_table(next((s.landing_dir / "users").glob("*.parquet"))).column("user_id").to_pylist())
    assert ingest.run_step(s)["accepted"] > 15_000
    training_set.run(s, DS, training_set.TrainingSetParams(label_days=2, negatives_per_user=10, features="none"))
    for job in (als, ann_index, candidates, objectives, rank, gate):
        job.run(s, DS)
    assert publish.run(s, DS)["version"]
    return s, clear


def parsed(text: str):
    """The JSON a string holds (a quarantined raw record, a log line), or None."""
    if text[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def strings(folder):
    """Every string value stored under ``folder``: Parquet cells, .npz elements, Delta log JSON values (and the
    JSON held in strings, such as a quarantined raw record), other text files' words."""
    import numpy as np

    out = set()

    def walk(value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(k), walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            out.add(value)
            walk(parsed(value))

    for path in (p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            walk(pq.read_table(path).to_pylist())
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                walk([str(x) for name in data.files for x in np.ravel(data[name])])
        elif path.suffix in (".json", ".jsonl") or path.parent.name == "_delta_log":
            for line in path.read_text(errors="replace").splitlines():
                walk(line)
    return out


def test_no_clear_user_id_is_in_the_lake_or_the_artifacts(pipeline):
    s, clear = pipeline
    stored = strings(s.lake_root) | strings(s.artifact_root)
    assert not clear & stored, sorted(clear & stored)[:5]
    assert {pseudonym(KEY, u) for u in clear} & stored  # the users are there, under their pseudonyms


def test_the_api_serves_a_clear_id_its_own_feed(pipeline):
    from serving.app import create_app
    from serving.overlay import DisabledOverlay

    s, clear = pipeline
    home = pq.read_table(s.artifact_root / "runs" / DS / "lists" / "home.parquet").to_pandas()
    by_user = home.sort_values("rank").groupby("user_id")["video_id"].apply(list)
    users = [u for u in sorted(clear) if pseudonym(KEY, u) in by_user.index][:3]
    assert len(users) == 3
    with TestClient(create_app(s, overlay=DisabledOverlay())) as client:
        for user in users:
            feed = client.get("/api/v1/recommendations/home", params={"user_id": user, "count": 10}).json()
            assert [i["video_id"] for i in feed["items"]] == by_user[pseudonym(KEY, user)][:10], user
            assert {i["source"] for i in feed["items"]} - {"coldstart", "trending"}  # personal, not a fallback


def test_forgetting_a_clear_id_removes_its_pseudonym_everywhere(pipeline, traces):
    from vidrec import privacy
    from vidrec.ops.privacy import process

    s, clear = pipeline
    erase = s.replace(lake_history_hours=0)
    gone = sorted(clear)[0]  # one of the users the API served above
    privacy.queue(erase, gone, "test")
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)  # the API's served log of this hour is closed
    assert process(erase, now=later)["done"] == 1
    for folder in (s.lake_root, s.artifact_root, s.landing_dir):
        assert traces(folder, pseudonym(KEY, gone)) == [] and traces(folder, gone) == [], folder
    assert traces(s.lake_root, pseudonym(KEY, sorted(clear)[1]))  # the others stay

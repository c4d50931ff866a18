"""Pseudonymization at ingest with real Spark and Delta tables: no clear user id reaches the lake."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from spark_jobs.ingest import batch as ingest
from spark_jobs.ingest.pseudonyms import pseudonym_column
from vidrec.privacy import pseudonym
from vidrec.tables import USER_FIELDS, VIDEO_FIELDS, arrow_schema

pytestmark = pytest.mark.spark
KEY = "ingest-test-secret"
T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("key", [KEY, "k" * 64, "a much longer key than the sixty-four bytes of a SHA-256 block, "
                                 "hashed first", "clé secrète"])
def test_spark_computes_the_same_pseudonym_as_python(spark, key):
    ids = ["u1", "alice@example.com", "ユーザー7", "o'brien", "x" * 300, ""]
    df = spark.createDataFrame([(i,) for i in ids] + [(None,)], "user_id string")
    got = [r[0] for r in df.select(pseudonym_column(df["user_id"], key)).collect()]
    assert got == [pseudonym(key, i) for i in ids] + [None]


def event(i, user, **kw):
    return json.dumps({"event_id": f"e{i}", "user_id": user, "video_id": "v1", "event_type": "watch",
                       "watch_ms": 30_000, "ts": "2026-11-01T12:00:00Z", "session_id": "s1", "device": "web",
                       "region": "us", "surface": "home", **kw})


def test_the_lake_holds_pseudonyms_only_and_the_apis_files_are_read_as_they_are(settings, spark, traces):
    s = settings.replace(pseudonymize=True, pseudonym_key=KEY)
    landing = s.landing_dir
    for kind in ("videos", "users", "events/api"):
        (landing / kind).mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"video_id": "v1", "title": "v1", "creator_id": "c1", "category": "music",
                                          "tags": ["a"], "duration_ms": 60_000, "upload_ts": T0 - dt.timedelta(days=3),
                                          "language": "en"}], schema=arrow_schema(VIDEO_FIELDS)),
                   landing / "videos" / "v.parquet")
    pq.write_table(pa.Table.from_pylist([{"user_id": "alice-77", "region": "us", "age_band": "18-24",
                                          "signup_ts": T0}], schema=arrow_schema(USER_FIELDS)),
                   landing / "users" / "u.parquet")
    (landing / "events" / "producer.jsonl").write_text("\n".join([
        event(1, "alice-77"), event(2, "bob-77", event_type="bogus"),  # quarantined: its raw record too
        '{"event_id": "e3", "user_id": "carol-77", "vid']) + "\n")   # does not parse: the id in its text
    (landing / "events" / "api" / "api-20261101-12-1.jsonl").write_text(event(4, pseudonym(KEY, "alice-77")) + "\n")

    counts = ingest.run_step(s)

    assert (counts["accepted"], counts["quarantined"]) == (2, 2)
    lake = {name: DeltaTable(str(s.lake_root / name)).to_pyarrow_table().to_pylist()
            for name in ("events", "interactions", "users", "events_quarantine")}
    assert {e["user_id"] for e in lake["events"]} == {pseudonym(KEY, "alice-77")}  # both files: one user
    assert {u["user_id"] for u in lake["users"]} == {pseudonym(KEY, "alice-77")}
    raws = sorted(q["raw"] for q in lake["events_quarantine"])
    assert pseudonym(KEY, "bob-77") in raws[1] and pseudonym(KEY, "carol-77") in raws[0], raws
    for clear in ("alice-77", "bob-77", "carol-77"):
        assert traces(s.lake_root, clear) == [], clear

"""The Delta bridge against real Delta tables (delta-rs) and a real local Spark."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from spark_jobs.lake import BridgeLake, UnsupportedTableProtocol, native_delta_available, open_lake, stats
from vidrec.tables import EVENTS, arrow_schema

pytestmark = pytest.mark.spark
UTC = dt.timezone.utc


def events_table(ids, ds="2026-11-01", video="v1"):
    ts = dt.datetime.fromisoformat(ds + "T10:00:00+00:00")
    rows = [{"event_id": i, "user_id": "u1", "video_id": video, "event_type": "watch", "watch_ms": n * 1000, "ts": ts,
             "session_id": "s1", "device": "web", "region": "us", "surface": "home", "ds": ds}
            for n, i in enumerate(ids)]
    return pa.Table.from_pylist(rows, schema=arrow_schema(EVENTS.schema))


def rows_of(df):
    return sorted((r.event_id, r.watch_ms, r.ds, r.ts.replace(tzinfo=UTC)) for r in df.collect())


def test_spark_reads_exactly_what_delta_rs_wrote(settings, spark):
    lake = BridgeLake(settings, spark)
    data = pa.concat_tables([events_table(["a", "b"]), events_table(["c"], ds="2026-11-02")])
    write_deltalake(str(lake.path(EVENTS)), data, partition_by=["ds"])
    expected = sorted((r["event_id"], r["watch_ms"], r["ds"], r["ts"]) for r in data.to_pylist())
    assert rows_of(lake.read(EVENTS)) == expected
    assert [r.event_id for r in lake.read(EVENTS, partitions={"ds": ["2026-11-02"]}).collect()] == ["c"]


def test_time_travel_reads_a_previous_version(settings, spark):
    lake = BridgeLake(settings, spark)
    write_deltalake(str(lake.path(EVENTS)), events_table(["a"]), partition_by=["ds"])
    write_deltalake(str(lake.path(EVENTS)), events_table(["b", "c"]), partition_by=["ds"], mode="append")
    assert lake.version(EVENTS) == 1
    assert [r[0] for r in rows_of(lake.read(EVENTS, version=0))] == ["a"]
    assert [r[0] for r in rows_of(lake.read(EVENTS))] == ["a", "b", "c"]


def test_spark_frames_commit_through_delta_rs_with_the_batch_id(settings, spark):
    lake = BridgeLake(settings, spark)
    df = spark.createDataFrame(events_table(["a", "b"]).to_pandas(), EVENTS.schema)
    assert lake.append(EVENTS, df, batch_id="b1") == 2
    assert DeltaTable(str(lake.path(EVENTS))).to_pyarrow_table().num_rows == 2  # delta-rs sees Spark's rows
    assert lake.committed_batches(EVENTS) == {"b1"}
    more = spark.createDataFrame(events_table(["b", "c"]).to_pandas(), EVENTS.schema)
    assert lake.merge_insert(EVENTS, more, batch_id="b2", partitions=["2026-11-01"]) == 1  # only "c" is new
    assert [r[0] for r in rows_of(lake.read(EVENTS))] == ["a", "b", "c"]
    version = lake.version(EVENTS)
    assert lake.merge_insert(EVENTS, more, batch_id="b3", partitions=["2026-11-01"]) == 0
    assert lake.version(EVENTS) == version  # nothing new: no commit at all


def test_empty_and_missing_tables_read_as_empty_frames_with_the_schema(settings, spark):
    lake = BridgeLake(settings, spark)
    assert lake.read(EVENTS).count() == 0
    lake.ensure(EVENTS)
    df = lake.read(EVENTS)
    assert df.count() == 0 and df.columns == EVENTS.columns


def test_a_table_with_deletion_vectors_is_refused_not_misread(settings, spark):
    lake = BridgeLake(settings, spark)
    write_deltalake(str(lake.path(EVENTS)), events_table(["a", "b"]), partition_by=["ds"],
                    configuration={"delta.enableDeletionVectors": "true"})
    protocol = DeltaTable(str(lake.path(EVENTS))).protocol()
    assert "deletionVectors" in (protocol.reader_features or [])
    with pytest.raises(UnsupportedTableProtocol, match="deletionVectors"):
        lake.read(EVENTS)


def test_stats_count_rows_and_versions_from_the_log(settings, spark):
    lake = BridgeLake(settings, spark)
    write_deltalake(str(lake.path(EVENTS)), events_table(["a", "b", "c"]), partition_by=["ds"])
    s = stats(settings)["tables"]
    assert s["events"]["rows"] == 3 and s["events"]["version"] == 0
    assert s["interactions"] == {"rows": 0, "version": None, "path": str(lake.path("interactions"))}


def test_native_delta_spark_path(settings, spark):
    if not native_delta_available(spark):
        pytest.skip("delta-spark's io.delta jars are not on this Spark's classpath (they come only from Maven, "
                    "unreachable here); the native path runs where the cluster's Spark has them")
    lake = open_lake(settings.replace(delta_mode="native"), spark)
    df = spark.createDataFrame(events_table(["a"]).to_pandas(), EVENTS.schema)
    lake.append(EVENTS, df, batch_id="n1")
    assert [r.event_id for r in lake.read(EVENTS).collect()] == ["a"]


def test_auto_mode_uses_the_bridge_without_the_jars(settings, spark):
    lake = open_lake(settings, spark)
    assert lake.mode == ("native" if native_delta_available(spark) else "bridge")


def test_replace_partition_overwrites_one_day_only(settings, spark):
    lake = BridgeLake(settings, spark)
    two_days = pa.concat_tables([events_table(["a", "b"]), events_table(["c"], ds="2026-11-02")])
    write_deltalake(str(lake.path(EVENTS)), two_days, partition_by=["ds"])
    day1 = spark.createDataFrame(events_table(["x"]).to_pandas(), EVENTS.schema)
    assert lake.replace_partition(EVENTS, day1, "2026-11-01") == 1
    assert lake.replace_partition(EVENTS, day1, "2026-11-01") == 1  # a re-run replaces, never duplicates
    assert [r[0] for r in rows_of(lake.read(EVENTS))] == ["c", "x"]


def test_a_table_made_before_columns_were_declared_gains_them_and_spark_reads_its_old_rows(settings, spark):
    from vidrec.tables import VIDEOS

    declared = arrow_schema(VIDEOS.schema)
    old = pa.table({f.name: pa.array(["v1"] if f.name == "video_id" else [None], f.type) for f in declared
                    if f.name not in ("thumbnail_url", "url")})
    write_deltalake(str(settings.lake_root / "videos"), old)
    lake = open_lake(settings, spark)
    lake.ensure(VIDEOS)
    table = DeltaTable(str(settings.lake_root / "videos"))
    assert table.schema().to_arrow().names == declared.names
    assert table.to_pyarrow_table().column("url").to_pylist() == [None]
    row = lake.read(VIDEOS).collect()[0]
    assert row["video_id"] == "v1" and row["thumbnail_url"] is None

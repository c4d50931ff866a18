"""Outcomes of a batch's rows with real Spark: the suspect keys' shortcut decides exactly what the full shuffle does."""

from __future__ import annotations

import pytest

from spark_jobs.ingest.classify import OUTCOME, REASON, ROW, SOURCE, mark_outcomes, suspect_keys
from spark_jobs.ingest.staging import read_keys, stage_keys

pytestmark = pytest.mark.spark
ROWS_DDL = f"k string, ds string, {REASON} string, {SOURCE} string, {ROW} long"
# (key, ds, reason, source file, row): the key only once; repeated (clean and clean, rejected and clean,
# rejected twice); in the lake on the row's day or on another day; no key at all.
ROWS = [
    ("once", "d1", None, "f1", 1),
    ("twice", "d1", None, "f2", 2), ("twice", "d1", None, "f1", 9),
    ("bad-first", "d1", "rule", "f1", 3), ("bad-first", "d1", None, "f1", 4),
    ("bad-twice", "d1", "rule", "f1", 5), ("bad-twice", "d1", "rule", "f1", 6),
    ("in-lake", "d1", None, "f1", 7), ("lake-other-day", "d2", None, "f1", 8),
    (None, "d1", "missing_k", "f1", 10), (None, "d1", "missing_k", "f1", 11),
]
LAKE = [("in-lake", "d1"), ("lake-other-day", "d1"), ("only-in-lake", "d1")]


def outcomes(df) -> list[tuple]:
    return sorted((r[ROW], r["k"], r[OUTCOME]) for r in df.collect())


def test_suspect_keys_are_the_repeated_ones_and_those_in_the_lake(spark):
    rows, lake = spark.createDataFrame(ROWS, ROWS_DDL), spark.createDataFrame(LAKE, "k string, ds string")
    assert {r.k for r in suspect_keys(rows, "k", lake).collect()} == {"twice", "bad-first", "bad-twice", "in-lake",
                                                                      "lake-other-day"}
    assert {r.k for r in suspect_keys(rows, "k").collect()} == {"twice", "bad-first", "bad-twice"}


@pytest.mark.parametrize("with_lake", [True, False])
def test_only_suspect_rows_are_shuffled_and_every_outcome_is_the_full_shuffles(spark, tmp_path, with_lake):
    rows = spark.createDataFrame(ROWS, ROWS_DDL)
    lake = spark.createDataFrame(LAKE, "k string, ds string") if with_lake else None
    stage_keys(suspect_keys(rows, "k", lake), tmp_path / "suspects")
    suspects = read_keys(spark, tmp_path / "suspects", "k", most=10)
    assert read_keys(spark, tmp_path / "suspects", "k", most=2) is None  # too many to send: shuffle everything
    fast = mark_outcomes(rows, "k", partitions=2, existing=lake, suspects=suspects)
    full = mark_outcomes(rows, "k", partitions=2, existing=lake)
    assert outcomes(fast) == outcomes(full)
    got = {(r, k): o for r, k, o in outcomes(fast)}
    assert got[(1, "once")] == got[(9, "twice")] == got[(4, "bad-first")] == "accepted"
    assert got[(2, "twice")] == "duplicate"  # a later file: f1's row wins, though it comes later in its file
    assert got[(3, "bad-first")] == got[(5, "bad-twice")] == got[(6, "bad-twice")] == got[(10, None)] == "rejected"
    assert got[(7, "in-lake")] == ("duplicate" if with_lake else "accepted")
    assert got[(8, "lake-other-day")] == "accepted"  # in the lake, but on another day


def test_without_suspects_no_row_is_shuffled(spark, tmp_path):
    rows = spark.createDataFrame([r for r in ROWS if r[0] in ("once", None)], ROWS_DDL)
    stage_keys(suspect_keys(rows, "k"), tmp_path / "suspects")
    marked = mark_outcomes(rows, "k", partitions=2, suspects=read_keys(spark, tmp_path / "suspects", "k", most=10))
    assert "Exchange" not in marked._jdf.queryExecution().executedPlan().toString()
    assert outcomes(marked) == [(1, "once", "accepted"), (10, None, "rejected"), (11, None, "rejected")]

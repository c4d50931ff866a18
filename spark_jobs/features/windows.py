"""The time windows every feature job shares, and their read and write sides.

Features of partition ``ds`` are valid from ``event_ts`` = the end of ds (``vidrec.dates.day_end``: ds + 1
day, 00:00 UTC) and see only events with ``event_ts - N days <= ts < event_ts`` (N = 1, 7, 30). Nothing
at or after ``event_ts`` leaks in. A job reads the ``MAX_WINDOW`` interactions partitions ending at ds
(``read_window``) and replaces exactly partition ds of its table (``write_partition``).
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from vidrec.dates import day_end, days_ending
from vidrec.settings import Settings
from vidrec.tables import DS, INTERACTIONS, TS, WINDOWS, Table, split_ddl

log = logging.getLogger("vidrec.features")
EVENT_TS = "event_ts"
MAX_WINDOW = max(WINDOWS)


def as_of(ds: str) -> dt.datetime:
    """When partition ds's features become valid (``vidrec.dates.day_end``), naive UTC: the session runs in UTC."""
    return day_end(ds).replace(tzinfo=None)


def window_partitions(ds: str, days: int = MAX_WINDOW) -> list[str]:
    """The ``days`` interactions partitions ending at ds (ds-days+1 .. ds): what a feature job reads."""
    return days_ending(ds, days)


def ts_literal(t: dt.datetime) -> Column:
    """A timestamp literal parsed in the session time zone (UTC), never the Python process's local zone."""
    return F.lit(t.strftime("%Y-%m-%d %H:%M:%S")).cast("timestamp")


def within(days: int, at: dt.datetime, col: str = TS) -> Column:
    """True for rows with ``at - days <= col < at``."""
    return (F.col(col) >= ts_literal(at - dt.timedelta(days=days))) & (F.col(col) < ts_literal(at))


def conform(df: DataFrame, table: Table) -> DataFrame:
    """The table's columns, in order, cast to the declared types."""
    pairs = [c.split(" ", 1) for c in split_ddl(table.schema)]
    return df.select(*[F.col(name).cast(kind.strip()).alias(name) for name, kind in pairs])


def read_window(settings: Settings, ds: str):
    """(lake, interactions of the MAX_WINDOW partitions ending at ds): the read side every feature job shares."""
    from spark_jobs.lake import open_lake
    from spark_jobs.session import build_spark

    lake = open_lake(settings, build_spark(settings))
    return lake, lake.read(INTERACTIONS, partitions={DS: window_partitions(ds)})


def write_partition(lake, table: Table, df: DataFrame, ds: str) -> dict:
    """Replace partition ds of ``table`` with ``df``; logs and returns {"ds", "table", "rows"}."""
    rows = lake.replace_partition(table, df, ds)
    log.info("%s ds=%s rows=%d", table.name, ds, rows)
    return {"ds": ds, "table": table.name, "rows": rows}

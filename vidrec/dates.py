"""Partition dates: the one definition of "as of day ds" that every stage shares. Stdlib only.

Everything built for partition ``ds`` (feature rows, trending, candidates, ranker features, the lists of
the nightly run) describes the world at the **end** of that day: ``day_end(ds)`` = ds + 1 day, 00:00 UTC.
Feature rows carry it as ``event_ts``, Feast materializes it, models read history strictly before it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone


def parse_ds(ds: str) -> date:
    """``ds`` as a date; ValueError for anything that is not YYYY-MM-DD."""
    return date.fromisoformat(ds)


def shift_ds(ds: str, days: int) -> str:
    """The partition ``days`` after ``ds`` (negative: before)."""
    return (parse_ds(ds) + timedelta(days=days)).isoformat()


def day_end(ds: str) -> datetime:
    """The as-of time of partition ``ds``: ds + 1 day, 00:00 UTC (timezone-aware)."""
    d = parse_ds(ds) + timedelta(days=1)
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def window(ds: str, days: int) -> tuple[str, str]:
    """(first, last) partition of the ``days`` days ending with ``ds``, both included."""
    if days < 1:
        raise ValueError("a window holds at least one day")
    return shift_ds(ds, -(days - 1)), ds


def days_ending(ds: str, days: int) -> list[str]:
    """The ``days`` partitions ending with ``ds``, newest first (ds, ds-1, ...)."""
    return [shift_ds(ds, -i) for i in range(days)]

"""MovieLens 100K through the importer and the real ingest: 100,000 ratings become 100,000 lake events."""

from __future__ import annotations

import pytest

from spark_jobs.ingest import batch as ingest
from spark_jobs.lake import open_lake, stats
from vidrec.sources import movielens
pytestmark = [pytest.mark.spark, pytest.mark.e2e]


def test_movielens_100k_lands_as_100000_events(settings, spark, ml100k):
    summary = movielens.import_movielens(ml100k, settings.landing_dir)
    assert summary["events"] == 100_000
    counts = ingest.run_step(settings)
    assert (counts["read"], counts["accepted"], counts["quarantined"], counts["duplicates"]) == (100_000, 100_000, 0, 0)
    tables = stats(settings)["tables"]
    assert tables["events"]["rows"] == tables["interactions"]["rows"] == 100_000
    assert (tables["videos"]["rows"], tables["users"]["rows"]) == (1682, 943)
    events = open_lake(settings, spark).read("events")
    assert events.count() == 100_000
    assert events.select("ds").distinct().count() > 200  # ratings span months: many daily partitions
    toy = open_lake(settings, spark).read("videos").where("video_id = 'v1'").collect()[0]
    assert toy["url"].startswith("http://us.imdb.com/") and toy["thumbnail_url"] is None  # the links land too

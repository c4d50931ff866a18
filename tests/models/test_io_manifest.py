"""Lake reads through delta-rs (partition pruning, pinned versions, missing tables) and the manifest."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from models import io, manifest
from vidrec import dates
from vidrec.tables import INTERACTIONS, VIDEOS, arrow_schema


def write_interactions(settings, days, users=("u1",)):
    rows = [{"event_id": f"{d}-{u}", "user_id": u, "video_id": "v1", "event_type": "watch",
             "ts": pd.Timestamp(d, tz="UTC"), "watch_ms": 1, "duration_ms": 2, "watch_fraction": 0.5, "weight": 0.5,
             "surface": "home", "region": "us", "device": "ios", "ds": d} for d in days for u in users]
    table = pa.Table.from_pylist(rows, schema=arrow_schema(INTERACTIONS.schema))
    write_deltalake(str(settings.lake_root / "interactions"), table, mode="append", partition_by=["ds"])


def test_window_and_day_end():
    assert dates.window("2026-11-07", 3) == ("2026-11-05", "2026-11-07")
    assert dates.day_end("2026-12-31") == pd.Timestamp("2027-01-01", tz="UTC")
    with pytest.raises(ValueError):
        dates.window("2026-11-07", 0)


def test_read_prunes_by_ds_pins_the_version_and_reads_missing_tables_empty(settings):
    write_interactions(settings, ["2026-11-01", "2026-11-02", "2026-11-03"])
    snap = io.LakeSnapshot(settings)
    got = snap.read("interactions", ["user_id", "ds"], ("2026-11-02", "2026-11-03"))
    assert sorted(got["ds"]) == ["2026-11-02", "2026-11-03"]
    write_interactions(settings, ["2026-11-02"], users=("u2",))      # a later commit ...
    again = snap.read("interactions", ["user_id"], ("2026-11-02", "2026-11-02"))
    assert again["user_id"].tolist() == ["u1"]                        # ... is not seen by the pinned snapshot
    assert sorted(io.read_table(settings, "interactions", ["user_id"], ("2026-11-02", "2026-11-02"))["user_id"]) == [
        "u1", "u2"]
    assert snap.versions == {"interactions": 0}
    empty = snap.read("trending")
    assert empty.empty and list(empty.columns) == ["region", "rank", "video_id", "score", "event_ts", "ds"]
    assert snap.versions["trending"] is None


def test_history_exclusions_reach_back_further_than_the_training_window(settings):
    from models.retrieval.history import load_history

    write_interactions(settings, ["2026-09-01", "2026-11-06", "2026-11-07"])
    write_deltalake(str(settings.lake_root / "videos"), pa.Table.from_pylist(
        [{"video_id": "v1", "title": "V", "creator_id": "k", "category": "Music", "tags": [], "duration_ms": 1,
          "upload_ts": pd.Timestamp("2026-01-01", tz="UTC"), "language": "en"}], schema=arrow_schema(VIDEOS.schema)))
    snap = io.LakeSnapshot(settings)
    hist = load_history(snap, "2026-11-07", lookback_days=2, active_days=2, exclusion_days=365)
    assert sorted(hist.interactions["ds"]) == ["2026-11-06", "2026-11-07"]
    assert sorted(hist.exclusions["user_id"]) == ["u1", "u1", "u1"]          # the September watch too
    assert hist.excluded.values.tolist() == [["u1", "v1"]]
    assert load_history(snap, "2026-11-07", lookback_days=2, active_days=2).exclusions is None


def test_manifest_entries_per_job_and_digests(settings):
    manifest.update_manifest(settings, "2026-11-07", "train_als", params={"factors": 8}, inputs={"interactions": 3},
                             rows={"users": 5})
    m = manifest.update_manifest(settings, "2026-11-07", "build_index", params={"k": 100}, metrics={"recall@100": 1.0})
    assert set(m["jobs"]) == {"train_als", "build_index"}
    assert m["jobs"]["train_als"]["inputs"] == {"interactions": 3} and m["jobs"]["train_als"]["rows"] == {"users": 5}
    assert m["jobs"]["train_als"]["params_digest"] == manifest.params_digest({"factors": 8})
    assert m["code"]["vidrec"] and manifest.read_manifest(settings, "2026-11-07") == m
    changed = manifest.update_manifest(settings, "2026-11-07", "train_als", params={"factors": 16})
    assert changed["params_digest"] != m["params_digest"] and "rows" not in changed["jobs"]["train_als"]
    assert manifest.params_digest({"a": 1, "b": 2}) == manifest.params_digest({"b": 2, "a": 1})


def test_only_evaluate_sets_the_gate_and_a_later_job_it_measured_resets_it(settings):
    m = manifest.update_manifest(settings, "2026-11-07", "train_als", params={})
    assert m["gate"]["passed"] is False
    m = manifest.update_manifest(settings, "2026-11-07", "evaluate", run_fields={"gate": {"passed": True},
                                                                              "metrics": {"ndcg@10": 0.3}})
    assert m["gate"] == {"passed": True} and m["metrics"] == {"ndcg@10": 0.3}
    for job in ("rank", "build_candidates", "train_als"):  # evaluate reads none of their outputs
        m = manifest.update_manifest(settings, "2026-11-07", job, params={})
        assert m["gate"] == {"passed": True}
    for job in manifest.GATE_INPUTS:  # the ranker or the held-out rows changed: evaluate again
        m = manifest.update_manifest(settings, "2026-11-07", "evaluate", run_fields={"gate": {"passed": True}})
        m = manifest.update_manifest(settings, "2026-11-07", job, params={})
        assert m["gate"] == {"passed": False, "reasons": [f"not evaluated since {job} ran"]}


def test_every_job_entry_and_the_run_name_the_parameters_file_and_its_digest(settings):
    from models import parameters

    shipped = {"path": str(parameters.SHIPPED), "sha256": parameters.digest(parameters.SHIPPED)}
    m = manifest.update_manifest(settings, "2026-11-07", "train_als", params={})
    assert m["jobs"]["train_als"]["parameters"] == shipped and m["parameters"] == shipped
    weekly = parameters.tuned_path(settings)  # the weekly tuning replaces the file in the middle of the run
    parameters.write({"params": {"als": {}, "two_stage": {"per_user": 5}}}, weekly)
    m = manifest.update_manifest(settings, "2026-11-07", "rank", params={})
    assert m["jobs"]["rank"]["parameters"] == {"path": str(weekly), "sha256": parameters.digest(weekly)}
    assert m["jobs"]["train_als"]["parameters"] == shipped
    assert m["parameters"] == {**m["jobs"]["rank"]["parameters"], "mixed": True}
    m = manifest.update_manifest(settings, "2026-11-07", "train_als", params={})
    assert m["parameters"] == m["jobs"]["rank"]["parameters"]  # every job read the weekly file now

"""The weekly tuning on a small real lake (models.evaluation.lake_tuning, `vidrec run tune_params`): the time
protocol with the validation carved from the past, and the file replaced only when the new parameters win."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd

from models import manifest, parameters
from models.evaluation import lake_tuning, signals
from models.evaluation.lake_tuning import LakeTuningParams
from models.retrieval.als import AlsParams

DS = "2026-11-07"
FAST = LakeTuningParams(lookback_days=30, valid_days=2, trials=3, changes=20, max_users=1000)


def worse_file(path):
    """The shipped file with a crippled nightly: ALS shrunk to nothing, a one-split ranker, one negative."""
    record = json.loads(parameters.SHIPPED.read_text())
    two_stage = record["params"]["two_stage"]
    two_stage["als"] = {"factors": 2, "regularization": 5000.0, "alpha": 0.1, "iterations": 2}
    two_stage["ranker"] = {"n_estimators": 1, "max_depth": 1, "learning_rate": 0.01}
    two_stage["negatives_per_user"] = 1
    return parameters.write(record, path)


def test_carve_validates_on_the_last_days_and_fits_on_the_days_before(settings, world_big, write_lake):
    write_lake(settings, *world_big)
    rows, catalog = lake_tuning.lake_rows(settings, DS, FAST)
    inter = world_big[0]
    pairs = lambda frame: set(zip(frame["user_id"], frame["video_id"]))  # noqa: E731
    assert signals.has_signals(rows) and pairs(inter[inter["event_type"] == "like"]) == pairs(rows[rows["liked"] == 1])
    only_seen = inter.groupby(["user_id", "video_id"])["event_type"].agg(set).map(lambda k: k <= {"impression", "skip"})
    assert not set(only_seen[only_seen].index) & pairs(rows)  # engaged pairs only
    fit, valid = lake_tuning.carve(rows, DS, 2)
    cut = pd.Timestamp("2026-11-06", tz="UTC").timestamp()
    assert len(fit) and len(valid) and fit["ts"].max() < cut <= valid["ts"].min()
    assert not set(zip(fit["user_id"], fit["video_id"])) & set(zip(valid["user_id"], valid["video_id"]))
    assert set(catalog["video_id"]) == set(world_big[1]["video_id"])  # vnew was uploaded on DS: in the catalog
    sampled, _ = lake_tuning.lake_rows(settings, DS, LakeTuningParams(max_users=10))
    assert sampled["user_id"].nunique() == 10 and len(sampled) < len(rows)


def test_tune_params_replaces_a_worse_file_and_keeps_a_file_nothing_beats(settings, world_big, write_lake):
    write_lake(settings, *world_big)
    weekly = parameters.tuned_path(settings)
    before, worse = parameters.digest(worse_file(weekly)), parameters.load(weekly)["params"]["two_stage"]
    first = lake_tuning.run(settings, DS, FAST)
    assert first["metric"] == "composite_ndcg@10"  # the lake carries likes: the heads' composite is what is tuned
    assert first["replaced"] and first["best"] > first["current"] * (1 + FAST.margin)
    assert first["trials"][0]["two_stage"] == worse  # the current file is measured first, as it is
    assert first["previous"]["sha256"] == before != first["sha256"]
    assert first["sha256"] == parameters.digest(weekly) and first["in_effect"] == first["path"] == str(weekly)
    chosen = parameters.load(weekly)
    assert chosen["chosen_by"].startswith(f"vidrec run tune_params --ds {DS} on the lake")
    assert chosen["params"]["two_stage"]["als"]["regularization"] != 5000.0
    assert AlsParams.from_settings(settings).regularization == chosen["params"]["two_stage"]["als"]["regularization"]
    assert json.loads((weekly.parent / f"tune_params-{DS}.json").read_text())["replaced"] is True

    again = lake_tuning.run(settings, DS, replace(FAST, trials=0))  # the file alone: nothing can beat it
    assert again["current"] == first["best"]  # the new file, measured again on the same validation
    assert not again["replaced"] and parameters.digest(weekly) == first["sha256"] == again["sha256"]
    assert manifest.read_manifest(settings, DS) == {}  # tuning is no part of the nightly run's manifest

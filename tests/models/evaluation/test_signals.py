"""Engagement signals in the offline harness (models.evaluation.signals): events, labels, the composite metrics,
the ``feed`` synthetic set that carries them, and the two-stage recommender's objectives on it."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from models.evaluation import harness, signals, synthetic_sets, tuning
from models.evaluation.baselines import Popularity
from models.evaluation.datasets import load_interactions
from models.evaluation.two_stage import TwoStage, TwoStageParams, frame_history

SIZE = dict(users=300, videos=500, per_user=40)
SMALL = {"als": {"factors": 8, "iterations": 10, "num_threads": 1}, "per_user": 60, "folds": 3,
         "negatives_per_user": 30, "ranker": {"n_estimators": 60, "max_depth": 3, "n_jobs": 1}}
WEIGHTS = {"watch": 1.0, "click": 0.0, "like": 1.0, "share": 0.0, "not_interested": -2.0}


def feed_rows() -> pd.DataFrame:
    return pd.DataFrame({"user_id": [1, 1, 1, 2], "video_id": [10, 20, 30, 10], "ts": [0, 60, 120, 180],
                         "watch_fraction": [0.9, 0.3, 0.05, 0.6], "liked": [1, 0, 0, 0], "shared": [0, 0, 0, 1],
                         "not_interested": [0, 0, 1, 0]})


def test_rows_become_the_pipelines_events_and_its_labels():
    rows = feed_rows()
    events = signals.to_events(rows)
    assert sorted(events["event_type"]) == sorted(["watch"] * 4 + ["like", "share", "not_interested"])
    labels = signals.labels(rows).set_index(["user_id", "video_id"])
    assert labels.loc[(1, 10), "label"] == 2 and labels.loc[(1, 10), "y_like"] == 1
    assert labels.loc[(1, 20), "label"] == 0 and labels.loc[(1, 20), "label_kind"] == "impression"
    assert labels.loc[(1, 30), "label"] == 0 and labels.loc[(1, 30), "y_not_interested"] == 1
    assert labels.loc[(2, 10), "label"] == 2 and labels.loc[(2, 10), "y_share"] == 1
    assert signals.engaged(rows)["video_id"].tolist() == [10, 10]
    hist = frame_history(rows)  # confidence is the watch fraction (plus the like); the rejected video is excluded
    confidence = hist.positives.set_index(["user_id", "video_id"])["confidence"]
    assert confidence[(1, 30)] == pytest.approx(0.05) and confidence[(1, 10)] > 1.0
    assert (1, 30) in set(hist.excluded.itertuples(index=False))
    plain = rows[["user_id", "video_id", "ts"]]
    assert not signals.has_signals(plain) and signals.engaged(plain) is plain
    assert (signals.to_events(plain)["watch_fraction"] == 1.0).all() and (signals.labels(plain)["label"] == 1).all()
    assert tuning.target_metric(rows, 10) == "composite_ndcg@10" and tuning.target_metric(plain, 10) == "ndcg@10"


def test_composite_metrics_match_a_hand_count():
    recs = pd.DataFrame({"user_id": [1, 1, 1, 2], "video_id": [30, 10, 20, 10], "rank": [1, 2, 3, 1]})
    out = signals.composite_metrics(recs, signals.labels(feed_rows()), 3, WEIGHTS)
    # user 1: gains -2 (rejected), 2 (watched and liked), 0 -> DCG -2 + 2/log2(3), ideal 2; user 2: 1 of 1
    assert out["composite_ndcg@3"] == pytest.approx(((-2 + 2 / math.log2(3)) / 2 + 1.0) / 2, abs=1e-6)
    assert out["not_interested@3"] == pytest.approx(1 / 6, abs=1e-6) and out["like@3"] == pytest.approx(1 / 6, abs=1e-6)
    assert out["watch@3"] == pytest.approx((1 / 3 + 1 / 3) / 2, abs=1e-6)
    assert out["share@3"] == pytest.approx(1 / 6, abs=1e-6)


def test_the_feed_set_carries_signals_with_a_rejected_category_per_user():
    rows, catalog = synthetic_sets.make("feed", seed=3, **SIZE)
    assert signals.has_signals(rows) and not signals.has_signals(synthetic_sets.make("quality", seed=3, **SIZE)[0])
    rejected = rows[rows["not_interested"] == 1]
    assert 0.02 < len(rejected) / len(rows) < 0.2 and 0.1 < rows["liked"].mean() < 0.5
    assert (rejected["watch_fraction"] <= 0.1).all() and not rejected[["liked", "shared"]].any().any()
    per_user = rejected.merge(catalog, on="video_id").groupby(["user_id", "category"]).size()
    assert per_user.groupby("user_id").max().sum() / len(rejected) > 0.55  # mostly in one category per user


def test_a_csv_keeps_its_signals_only_when_it_has_all_of_them(tmp_path):
    path = tmp_path / "feed.csv"
    feed_rows().to_csv(path, index=False)
    assert signals.has_signals(load_interactions(path, item_col="video_id", ts_col="ts"))
    feed_rows().drop(columns="shared").to_csv(path, index=False)
    assert load_interactions(path, item_col="video_id").columns.tolist() == ["user_id", "video_id"]
    with pytest.raises(ValueError, match="no column item_id"):
        load_interactions(path, item_col="item_id")


def test_the_harness_scores_the_composite_and_two_stage_learns_every_objective():
    rows, catalog = synthetic_sets.make("feed", seed=3, **SIZE)
    ranker = TwoStage(TwoStageParams.from_dict(SMALL), catalog=catalog, seed=3, weights=WEIGHTS)
    result = harness.evaluate(rows, "msr", 10, 3, {"popularity": Popularity(), "two_stage": ranker},
                              catalog=catalog, weights=WEIGHTS)["recommenders"]
    for name in ("popularity", "two_stage"):
        assert {"composite_ndcg@10", "watch@10", "like@10", "not_interested@10"} <= set(result[name])
        assert -1.0 <= result[name]["composite_ndcg@10"] <= 1.0
    assert all(ranker.objectives[name]["trained"] for name in ("watch", "like", "share", "not_interested"))
    assert result["two_stage"]["composite_ndcg@10"] > result["popularity"]["composite_ndcg@10"]
    assert result["two_stage"]["like@10"] > result["popularity"]["like@10"]
    assert "composite_ndcg@10" in harness.markdown_table({"k": 10, "recommenders": result})

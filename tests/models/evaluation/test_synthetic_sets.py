"""The synthetic stand-in data sets (models.evaluation.synthetic_sets) and the two-stage recommender on them."""

from __future__ import annotations

import pandas as pd
import pytest

from models.evaluation import harness, synthetic_sets

SMALL = {"popularity": None, "als": {"factors": 8, "iterations": 10, "num_threads": 1},
         "two_stage": {"als": {"factors": 8, "iterations": 10, "num_threads": 1}, "per_user": 60, "folds": 3,
                       "negatives_per_user": 30, "ranker": {"n_estimators": 60, "max_depth": 3, "n_jobs": 1}}}
SIZE = dict(users=300, videos=500, per_user=40)


def test_a_set_is_seeded_and_consistent_with_its_catalog():
    ratings, catalog = synthetic_sets.make("quality", seed=5, **SIZE)
    again, _ = synthetic_sets.make("quality", seed=5, **SIZE)
    other, _ = synthetic_sets.make("quality", seed=6, **SIZE)
    pd.testing.assert_frame_equal(ratings, again)
    assert not ratings.equals(other)
    assert ratings["user_id"].nunique() == 300 and set(ratings["video_id"]) <= set(catalog["video_id"])
    assert not ratings.duplicated(["user_id", "video_id"]).any() and ratings["rating"].between(1, 5).all()
    upload = ratings.merge(catalog, on="video_id")["upload_ts"].astype("int64") // 10**9
    assert (ratings["ts"].to_numpy() >= upload.to_numpy() - 1).all()  # nobody watches a video before its upload
    with pytest.raises(ValueError, match="unknown synthetic set"):
        synthetic_sets.make("nope")


def _ndcg(name: str) -> dict:
    ratings, catalog = synthetic_sets.make(name, seed=3, **SIZE)
    params = {k: v for k, v in SMALL.items() if v is not None}
    result = harness.evaluate(ratings, "msr", 10, 3, ["popularity", "als", "two_stage"], catalog=catalog,
                              params=params)
    return {rec: m["ndcg@10"] for rec, m in result["recommenders"].items()}


def test_where_quality_dominates_popularity_is_strong_and_two_stage_is_never_below_it():
    ndcg = _ndcg("quality")
    assert ndcg["popularity"] > ndcg["als"] - 0.05  # the set does what it is for: popularity is hard to beat
    assert ndcg["two_stage"] >= ndcg["popularity"]


def test_where_taste_dominates_personal_models_win_by_far():
    ndcg = _ndcg("taste")
    assert ndcg["als"] > ndcg["popularity"] + 0.1 and ndcg["two_stage"] > ndcg["popularity"] + 0.1

"""The production two-stage recommender in the offline harness (models.evaluation.two_stage), EASE co-watch, tuning."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from models.evaluation import harness, signals
from models.evaluation import tuning
from models.evaluation.baselines import Popularity
from models.evaluation.harness import evaluate, split
from models.evaluation.two_stage import TwoStageParams, frame_history
from models.retrieval.fusion import RANKS
from models.retrieval.pair_features import PAIR_FEATURES
from models.retrieval.similarity import build_cowatch, build_ease, item_similarity

SMALL = {"als": {"factors": 8, "iterations": 8, "num_threads": 1},
         "two_stage": {"als": {"factors": 8, "iterations": 8, "num_threads": 1}, "per_user": 40, "folds": 3,
                       "negatives_per_user": 20, "candidates": {"cowatch_method": "ease", "ease_l2": 5.0,
                                                                "cowatch_neighbours": 100, "recent_videos": 100,
                                                                "recency_decay": 1.0},
                       "ranker": {"n_estimators": 30, "max_depth": 3, "n_jobs": 1}}}


@pytest.fixture(scope="module")
def planted(groups):
    """Groups a and b over disjoint items (b 8 users larger) plus 20 items p_* every user likes 2 of;
    timestamps over 20 days."""
    return partial(groups, seed=7, users_per=40, items_per=15, likes=10, extra=8, days=20, sep="_", shared=20)


def two_stage(seed=3, protocol="msr"):
    return harness.make_recommender("two_stage", seed, protocol, None, SMALL)


def test_ease_rows_are_the_ridge_regression_of_each_item_on_the_others():
    rng = np.random.default_rng(0)
    X = (rng.random((30, 6)) < 0.4).astype(np.float64)
    l2 = 2.0
    B = build_ease(sp.csr_matrix(X), neighbours=6, l2=l2).toarray()
    for j in range(6):  # column j: argmin ||X_j - X_{-j} b||^2 + l2 ||b||^2, independently solved
        others = [i for i in range(6) if i != j]
        A = X[:, others]
        b = np.linalg.solve(A.T @ A + l2 * np.eye(5), A.T @ X[:, j])
        assert B[others, j] == pytest.approx(b, abs=1e-4)
        assert B[j, j] == 0.0


def test_item_similarity_dispatch():
    ui = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=np.float32))
    cosine = build_cowatch(ui, 5).toarray()
    assert item_similarity(ui, 5, "cosine").toarray() == pytest.approx(cosine)
    assert item_similarity(ui, 5, "ease", l2=1.0).toarray() == pytest.approx(build_ease(ui, 5, 1.0).toarray())
    assert item_similarity(ui, 5, "ease", max_items=2).toarray() == pytest.approx(cosine)  # catalog too large
    with pytest.raises(ValueError, match="co-watch method"):
        item_similarity(ui, 5, "svd")


def test_frame_history_turns_rows_into_full_watches_with_the_catalog():
    df = pd.DataFrame({"user_id": [1, 1, 2], "video_id": [10, 11, 10], "ts": [0, 86400, 2 * 86400]})
    catalog = pd.DataFrame({"video_id": [10], "title": ["Ten"], "creator_id": [None], "category": ["Drama"],
                            "upload_ts": [pd.Timestamp("1995-01-01", tz="UTC")]})
    hist = frame_history(df, catalog)
    assert hist.ds == "1970-01-03" and len(hist.positives) == 3
    assert (hist.positives["confidence"] == 1.0).all()
    assert set(hist.excluded.itertuples(index=False, name=None)) == {(1, 10), (1, 11), (2, 10)}
    videos = hist.videos.set_index("video_id")
    assert videos.loc[10, "category"] == "Drama" and videos.loc[10, "creator_id"] == "10"
    assert videos.loc[11, "category"] == "11" and pd.isna(videos.loc[11, "upload_ts"])


def test_graded_history_weighs_each_row_by_its_rating_over_the_mean_and_labels_stay_one_per_row():
    df = pd.DataFrame({"user_id": [1, 1, 2, 2], "video_id": [10, 11, 10, 12], "rating": [5, 1, 4, 0],
                       "ts": [0, 60, 120, 180]})  # mean rating 2.5
    graded = frame_history(df, graded=True).positives.set_index(["user_id", "video_id"])["confidence"]
    assert graded.to_dict() == pytest.approx({(1, 10): 2.0, (1, 11): 0.4, (2, 10): 1.6, (2, 12): 0.1})
    assert (frame_history(df).positives["confidence"] == 1.0).all()  # ungraded: every row a full watch
    assert signals.labels(df)["label"].tolist() == [1, 1, 1, 1]  # what the ranker learns: every row relevant
    flat = df.assign(rating=3)
    assert signals.rating_strength(flat).tolist() == [1.0] * 4  # one rating everywhere: as ungraded
    assert signals.rating_strength(df.drop(columns="rating")).tolist() == [1.0] * 4
    assert signals.rating_strength(df.assign(rating=["5", "x", "1", "0"])).tolist() == pytest.approx([2.5, 1, 0.5, 0.1])
    retrieval, _ = two_stage()._retrieval(df)  # what two_stage fits ALS on: graded unless turned off
    assert retrieval.history.positives["confidence"].tolist() == pytest.approx([2.0, 0.4, 1.6, 0.1])
    off = harness.make_recommender("two_stage", 3, "msr", None, tuning.with_overrides(SMALL, {
        "two_stage.rating_confidence": False}))
    assert off._retrieval(df)[0].history.positives["confidence"].tolist() == [1.0] * 4


@pytest.fixture(scope="module")
def fitted(planted):
    train, test = split(planted(), "msr", seed=3)
    return two_stage().fit(train), train, test


def test_two_stage_is_trained_on_folds_of_train_with_the_nightly_features(fitted):
    rec, train, _ = fitted
    assert rec.fit_rows["parts"] == 3 and rec.fit_rows["valid_pairs"] == len(train)  # each train row labels once
    assert rec.fit_rows["positives"] > 0
    assert {"score_als", "score_cowatch", "retrieval_score", "als_dot", *RANKS[:2]} <= set(rec.features)
    assert set(PAIR_FEATURES) - {"creator_affinity"} <= set(rec.features)


def test_two_stage_beats_popularity_and_never_returns_train_items(fitted):
    rec, train, test = fitted
    users = test["user_id"].unique()
    recs = rec.recommend([*users, "nobody"], 5)
    assert not set(zip(train["user_id"], train["video_id"])) & set(zip(recs["user_id"], recs["video_id"]))
    assert (recs.groupby("user_id")["rank"].max() <= 5).all()
    nobody = recs[recs["user_id"] == "nobody"]["video_id"].tolist()
    assert nobody == Popularity().fit(train).recommend(["nobody"], 5)["video_id"].tolist()
    result = harness.compare(train, test, {"popularity": Popularity(), "two_stage": two_stage()}, k=5)
    assert result["two_stage"]["ndcg@5"] > result["popularity"]["ndcg@5"] + 0.1


def test_time_protocol_carves_the_latest_rows(planted):
    train, _ = split(planted(), "time", seed=1)
    [(inner, valid)] = two_stage(protocol="time").carve(train)
    assert inner["ts"].max() < valid["ts"].min() and len(inner) + len(valid) == len(train)


def test_time_protocol_keeps_the_nightly_windows_and_msr_stretches_them_over_the_history(planted):
    train, _ = split(planted(), "time", seed=1)
    windows = {}
    for protocol in ("time", "msr"):
        _, cparams = two_stage(protocol=protocol)._retrieval(train)
        windows[protocol] = (cparams.popular_days, cparams.trending_days)
    assert windows["time"] == (7, 1)  # CandidateParams' defaults, what the nightly run uses
    span = (train["ts"].max() - train["ts"].min()) // 86400 + 2  # days the train rows touch
    assert windows["msr"] == (span, span) and span > 7


def test_params_from_dict_rejects_unknown_keys():
    assert TwoStageParams.from_dict({"folds": 2, "ranker": {"max_depth": 2}}).ranker.max_depth == 2
    with pytest.raises(TypeError):
        TwoStageParams.from_dict({"candidates": {"no_such": 1}})


def test_tune_never_reads_the_test_split_and_saves_the_chosen_parameters(tmp_path, planted):
    df = planted(users_per=25)
    train, test = split(df, "msr", seed=5)
    result = tuning.tune(df, "msr", seed=5, trials=2, k=5, save=tmp_path / "tuned.json", start=SMALL)
    fit_part, valid = split(train, "msr", seed=6)
    assert result["validation"]["fit_rows"] == len(fit_part) and result["validation"]["valid_rows"] == len(valid)
    assert not set(valid.index) & set(test.index)
    assert [t["recommender"] for t in result["trials"]] == ["als", "als", "two_stage", "two_stage"]
    assert result["trials"][0]["params"] == SMALL["als"]  # the starting point is tried first
    best_als = max(t["ndcg@5"] for t in result["trials"][:2])
    assert result["best"]["als"]["ndcg@5"] == best_als
    assert result["params"]["two_stage"]["als"] == result["params"]["als"]  # retrieval uses the best ALS
    saved = json.loads((tmp_path / "tuned.json").read_text())
    assert saved["params"] == result["params"] and harness.tuned_params(tmp_path / "tuned.json") == saved["params"]
    assert "| als (chosen) |" in tuning.summary(result)


def test_seeds_give_mean_and_spread(planted):
    df = planted(users_per=15)
    out = harness.evaluate_seeds(df, "msr", [1, 2], k=5, recommenders=["popularity"])
    runs = [r["recommenders"]["popularity"]["ndcg@5"] for r in out["runs"]]
    assert out["recommenders"]["popularity"]["ndcg@5"] == pytest.approx(np.mean(runs), abs=1e-6)
    assert out["spread"]["popularity"]["ndcg@5"] == pytest.approx(np.std(runs), abs=1e-6)
    assert "±" in harness.markdown_table(out)


def test_evaluate_reports_category_diversity_with_a_catalog(planted):
    df = planted(users_per=15)
    catalog = pd.DataFrame({"video_id": df["video_id"].unique()})
    catalog["category"] = catalog["video_id"].str[0]
    catalog["creator_id"] = None
    out = evaluate(df, "msr", k=5, seed=1, recommenders=["popularity"], catalog=catalog)["recommenders"]["popularity"]
    assert 0 < out["category_diversity"] <= 1 and out["creator_diversity"] is None


def test_past_max_queries_each_part_labels_a_sample_of_users(planted):
    """The ranker's rows stop growing with the user base: each of the 3 parts labels 10 users at most."""
    df = planted()
    train, _ = split(df, "msr", seed=3)
    params = {**SMALL["two_stage"], "max_queries": 30}
    rec = harness.make_recommender("two_stage", 3, "msr", None, {"two_stage": params}).fit(train)
    assert train["user_id"].nunique() > 10 and rec.fit_rows["queries"] <= 30
    whole = harness.make_recommender("two_stage", 3, "msr", None, SMALL).fit(train)
    assert whole.fit_rows["queries"] == 3 * train["user_id"].nunique()

"""The offline evaluation harness (models.evaluation.harness) on seeded planted data and MovieLens 100K."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from models.retrieval.als import AlsParams
from models.evaluation.datasets import load_interactions
from models.evaluation.baselines import ALS, ItemKNN, Popularity
from models.evaluation.harness import evaluate, markdown_table, metric_keys, split

ML_100K = Path("/work/shared/datasets/ml-100k")
ALS_SMALL = AlsParams(factors=8, iterations=10, num_threads=1)


@pytest.fixture(scope="module")
def two_groups(groups):
    """Groups a and b over disjoint items (b 10 users larger); each user likes ``likes`` of its group."""
    return partial(groups, seed=5, users_per=60, items_per=20, likes=10, extra=10, days=10, sep="_item")


def recommenders(seed=42):
    return {"popularity": Popularity(), "itemknn": ItemKNN(neighbours=20), "als": ALS(params=ALS_SMALL, seed=seed)}


@pytest.fixture(scope="module")
def result(two_groups):
    return evaluate(two_groups(), "msr", k=5, seed=42, recommenders=recommenders(), dataset="planted")


def test_als_and_itemknn_beat_popularity_on_planted_groups(result):
    recs = result["recommenders"]
    assert recs["itemknn"]["ndcg@5"] > recs["popularity"]["ndcg@5"] + 0.1
    assert recs["als"]["ndcg@5"] > recs["popularity"]["ndcg@5"] + 0.1


def test_result_shape_is_exact(result):
    assert set(result) == {"dataset", "protocol", "k", "seed", "recommenders"}
    assert (result["dataset"], result["protocol"], result["k"], result["seed"]) == ("planted", "msr", 5, 42)
    assert list(result["recommenders"]) == ["popularity", "itemknn", "als"]
    for vals in result["recommenders"].values():
        assert set(vals) == set(metric_keys(5)) and metric_keys(5) == [
            "ndcg@5", "precision@5", "recall@5", "map", "map@5", "hit_rate@5", "coverage", "category_diversity",
            "creator_diversity", "mean_popularity", "train_s", "infer_s"]
        assert vals["category_diversity"] is None and vals["creator_diversity"] is None  # no catalog
        numbers = {m: v for m, v in vals.items() if v is not None}
        assert all(isinstance(v, float) and v >= 0 for v in numbers.values())
        assert all(vals[m] <= 1 for m in metric_keys(5)[:7])


def test_default_recommenders_and_k10_keys(two_groups):
    df = two_groups(users_per=15)
    out = evaluate(df, "leave-last-out", seed=1)
    assert list(out["recommenders"]) == ["popularity", "itemknn", "als", "two_stage"]
    assert set(out["recommenders"]["two_stage"]) == set(metric_keys(10))
    assert out["k"] == 10 and out["dataset"] == "custom"


@pytest.mark.parametrize("protocol", ["msr", "time", "leave-last-out"])
def test_recommendations_never_contain_train_items(protocol, two_groups):
    df = two_groups()
    train, test = split(df, protocol, seed=3)
    assert len(test) > 0
    seen = set(zip(train["user_id"], train["video_id"]))
    users = test["user_id"].unique()
    for rec in recommenders(seed=3).values():
        recs = rec.fit(train).recommend(users, 10)
        assert list(recs.columns) == ["user_id", "video_id", "rank"]
        assert not seen & set(zip(recs["user_id"], recs["video_id"]))
        assert recs.groupby("user_id")["rank"].apply(lambda r: list(r) == list(range(1, len(r) + 1))).all()
        assert recs.groupby("user_id").size().max() <= 10


def test_split_protocols(two_groups):
    df = two_groups()
    train, test = split(df, "msr", seed=1)
    assert len(train) + len(test) == len(df)
    assert (train.groupby("user_id").size() == 8).all()  # round(0.75 * 10) per user, halves rounded up
    train, test = split(df, "time", seed=1)
    assert train["ts"].max() < test["ts"].min()
    train, test = split(df, "leave-last-out", seed=1)
    assert test["user_id"].is_unique and len(test) == df["user_id"].nunique()
    with pytest.raises(ValueError):
        split(df, "bogus", seed=1)
    with pytest.raises(ValueError):
        split(df.drop(columns="ts"), "time", seed=1)


def test_markdown_table_one_row_per_recommender(result):
    table = markdown_table(result).strip().splitlines()
    assert table[0].startswith("| recommender | ndcg@5 |")
    assert len(table) == 2 + 3
    assert [line.split("|")[1].strip() for line in table[2:]] == ["popularity", "itemknn", "als"]


def test_load_generic_csv(tmp_path):
    path = tmp_path / "events.tsv"
    path.write_text("uid;item;score;when\n1;10;5;100\n1;11;3;200\n2;10;4;300\n")
    df = load_interactions(path, sep=";", user_col="uid", item_col="item", rating_col="score", ts_col="when")
    assert list(df.columns) == ["user_id", "video_id", "rating", "ts"] and len(df) == 3
    assert df.attrs["name"] == "events"
    only = load_interactions(path, fmt="csv", sep=";", user_col="uid", item_col="item")
    assert list(only.columns) == ["user_id", "video_id"]


def test_load_ml_latest_layout(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,3,3.5,964981247\n")
    df = load_interactions(tmp_path)
    assert list(df.columns) == ["user_id", "video_id", "rating", "ts"] and len(df) == 2


@pytest.mark.skipif(not (ML_100K / "u.data").exists(), reason=f"MovieLens 100K not found at {ML_100K}/u.data")
def test_load_movielens_100k():
    df = load_interactions(ML_100K)
    assert len(df) == 100_000
    assert list(df.columns) == ["user_id", "video_id", "rating", "ts"]
    assert df["user_id"].nunique() == 943 and df["video_id"].nunique() == 1682
    assert df.attrs["name"] == "ml-100k"


def test_users_unknown_at_fit_get_the_popularity_list(two_groups):
    train, _ = split(two_groups(), "msr", seed=2)
    expected = Popularity().fit(train).recommend(["nobody"], 5)
    for rec in (ItemKNN(neighbours=20), ALS(params=ALS_SMALL, seed=2)):
        got = rec.fit(train).recommend(["a0", "nobody", "b1"], 5)
        assert list(got["user_id"].unique()) == ["a0", "nobody", "b1"]
        assert list(got[got["user_id"] == "nobody"]["video_id"]) == list(expected["video_id"])

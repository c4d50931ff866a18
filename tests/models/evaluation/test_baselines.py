"""The baselines (models.evaluation.baselines): popularity's top-k without a dense matrix, confidence
weights and extra exclusions (what the nightly gate uses)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from models.evaluation.baselines import ALS, ItemKNN, Popularity, top_k, top_popular
from models.retrieval.als import AlsParams


@pytest.mark.parametrize("seed", range(6))
def test_top_popular_equals_the_dense_top_k_ties_and_all(seed):
    rng = np.random.default_rng(seed)
    n_rows, n_items = 300, 400
    popularity = rng.integers(0, 6, n_items).astype(float)  # many ties
    blocked = sp.vstack([sp.csr_matrix(np.ones((1, n_items))),  # a row with everything blocked
                         sp.random(n_rows - 1, n_items, density=0.05 * (seed % 3), random_state=seed)], format="csr")
    for k in (1, 10, 50, n_items + 5):
        dense = top_k(np.broadcast_to(popularity, (n_rows, n_items)), blocked, k)
        fast = top_popular(popularity, blocked, k)
        assert all(np.array_equal(a, b) for a, b in zip(dense, fast))
    assert [len(a) for a in top_popular(popularity, blocked, 0)] == [0, 0]


def test_popularity_weighs_by_confidence_and_drops_extra_pairs():
    train = pd.DataFrame({"user_id": ["a", "b", "b", "c"], "video_id": ["x", "y", "z", "z"],
                          "confidence": [5.0, 0.5, 1.0, 1.0]})
    rec = Popularity().fit(train)
    assert rec.popularity.tolist() == [5.0, 0.5, 2.0]  # x, y, z
    recs = rec.recommend(["new", "a"], 3)
    assert recs.values.tolist() == [["new", "x", 1], ["new", "z", 2], ["new", "y", 3], ["a", "z", 1], ["a", "y", 2]]
    exclude = pd.DataFrame({"user_id": ["new", "a", "other"], "video_id": ["x", "y", "z"]})
    assert rec.recommend(["new", "a"], 3, exclude=exclude).values.tolist() == [
        ["new", "z", 1], ["new", "y", 2], ["a", "z", 1]]
    counted = Popularity().fit(train.drop(columns="confidence"))  # without weights each pair counts 1
    assert counted.popularity.tolist() == [1.0, 1.0, 2.0]


@pytest.mark.parametrize("make", [lambda: ItemKNN(neighbours=5),
                                  lambda: ALS(params=AlsParams(factors=4, iterations=5, num_threads=1), seed=1)])
def test_item_knn_and_als_honour_extra_exclusions(make, groups):
    df = groups(seed=2, users_per=20, items_per=12, likes=5, extra=2, days=3, sep="_")
    rec = make().fit(df)
    users = ["a0", "b1", "nobody"]
    first = rec.recommend(users, 4)
    exclude = first[first["rank"] <= 2][["user_id", "video_id"]]
    again = rec.recommend(users, 4, exclude=exclude)
    assert not set(zip(again["user_id"], again["video_id"])) & set(zip(exclude["user_id"], exclude["video_id"]))
    assert (again.groupby("user_id").size() == 4).all()
    expect = first.groupby("user_id")["video_id"].apply(list).to_dict()
    got = again.groupby("user_id")["video_id"].apply(list).to_dict()
    assert all(got[u][:2] == expect[u][2:] for u in users)  # the rest of the list moves up

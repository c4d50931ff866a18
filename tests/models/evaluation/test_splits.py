"""models.evaluation.splits: seeded per-user random split, global time cut, leave-last-out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.evaluation import splits
USERS = 40


@pytest.fixture(scope="module")
def ratings():
    """(user_id, video_id, ts): user i has 1 + i % 12 distinct videos at random seconds over 10 days."""
    rng = np.random.default_rng(3)
    rows = [(f"u{i}", f"v{j}", int(rng.integers(10 * splits.DAY_SECONDS)))
            for i in range(USERS) for j in rng.choice(200, 1 + i % 12, replace=False)]
    df = pd.DataFrame(rows, columns=["user_id", "video_id", "ts"])
    return df.assign(ts=pd.to_datetime(df["ts"], unit="s"))


def pairs(frame):
    return set(zip(frame["user_id"], frame["video_id"]))


def assert_partition(df, train, test):
    assert not pairs(train) & pairs(test)
    assert len(train) + len(test) == len(df)  # distinct pairs: nothing dropped
    assert set(train.index) | set(test.index) == set(df.index)


def test_random_split_is_deterministic_and_seeded(ratings):
    a_train, a_test = splits.random_split_per_user(ratings, seed=42)
    b_train, b_test = splits.random_split_per_user(ratings, seed=42)
    pd.testing.assert_frame_equal(a_test, b_test)
    pd.testing.assert_frame_equal(a_train, b_train)
    _, c_test = splits.random_split_per_user(ratings, seed=7)
    assert not a_test.index.equals(c_test.index)


def test_random_split_ratio_per_user(ratings):
    train, test = splits.random_split_per_user(ratings, ratio=0.75)
    assert_partition(ratings, train, test)
    n = ratings.groupby("user_id").size()
    n_train = train.groupby("user_id").size().reindex(n.index, fill_value=0)
    assert ((n_train - 0.75 * n).abs() <= 1).all()
    assert (n_train >= 1).all()
    singles = n[n == 1].index
    assert len(singles) and not test["user_id"].isin(singles).any()
    assert len(test) > 0


def test_random_split_drops_test_pairs_seen_in_train():
    # one pair repeated 4 times for one user: the repeats that land in test are dropped
    df = pd.DataFrame({"user_id": ["u"] * 4, "video_id": ["a"] * 4})
    train, test = splits.random_split_per_user(df)
    assert len(train) == 3 and test.empty


def test_time_split_default_is_last_day(ratings):
    train, test = splits.time_split(ratings)
    assert_partition(ratings, train, test)
    assert test["ts"].min() >= train["ts"].max()
    last_day = ratings["ts"].max().floor("D")
    assert (test["ts"] >= last_day).all() and (train["ts"] < last_day).all()
    assert len(test) == int((ratings["ts"] >= last_day).sum()) > 0


def test_time_split_explicit_cut_and_unix_seconds(ratings):
    cut = pd.Timestamp("1970-01-06")
    train, test = splits.time_split(ratings, cut=cut)
    assert (test["ts"] >= cut).all() and (train["ts"] < cut).all()
    secs = ratings.assign(ts=ratings["ts"].astype("int64") // 10**9)
    s_train, s_test = splits.time_split(secs)
    d_train, d_test = splits.time_split(ratings)
    assert s_test.index.equals(d_test.index) and s_train.index.equals(d_train.index)


def test_leave_last_out(ratings):
    train, test = splits.leave_last_out(ratings)
    assert_partition(ratings, train, test)
    n = ratings.groupby("user_id").size()
    per_user = test.groupby("user_id").size()
    assert set(per_user.index) == set(n[n >= 2].index)
    assert (per_user == 1).all()
    latest = train.groupby("user_id")["ts"].max()
    assert (test.set_index("user_id")["ts"] >= latest.reindex(test["user_id"]).to_numpy()).all()


def test_leave_last_out_ties_and_custom_columns():
    df = pd.DataFrame({"uid": ["u", "u", "u", "w"], "iid": ["a", "b", "c", "a"], "t": [1, 2, 2, 5]},
                      index=[10, 10, 11, 12])  # duplicate index labels are fine
    train, test = splits.leave_last_out(df, ts_col="t", user_col="uid", item_col="iid")
    assert test["iid"].tolist() == ["c"]  # tie at t=2: the later row
    assert train["iid"].tolist() == ["a", "b", "a"]

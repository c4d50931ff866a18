"""Train/test splits of an interaction frame for offline evaluation (pure, vectorized, seeded).

Each split returns (train, test), row subsets of ``df`` with their original index. No (user, item)
pair is in both: a test row whose pair also appears in train is dropped from test (kept in train).
For MovieLens-style ratings (msr) every row is a distinct pair, so nothing is dropped there; it only
matters for event logs with repeated (user, item) rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vidrec.tables import TS, USER_ID, VIDEO_ID

USER_COL = USER_ID
ITEM_COL = VIDEO_ID
TS_COL = TS
DAY_SECONDS = 86400


def _unseen(train: pd.DataFrame, test: pd.DataFrame, user_col: str, item_col: str) -> pd.DataFrame:
    """``test`` without the rows whose (user, item) pair appears in ``train``."""
    seen = pd.MultiIndex.from_frame(train[[user_col, item_col]])
    return test[~pd.MultiIndex.from_frame(test[[user_col, item_col]]).isin(seen)]


def random_split_per_user(df: pd.DataFrame, ratio: float = 0.75, seed: int = 42, user_col: str = USER_COL,
                          item_col: str = ITEM_COL) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified random split: each user's n rows get a seeded random key; the round(ratio * n) (at
    least 1) with the smallest keys go to train, the rest to test. A user with one row stays in train."""
    users = df[user_col].to_numpy()
    key = pd.Series(np.random.default_rng(seed).random(len(df)))
    pos = key.groupby(users).rank(method="first").to_numpy()
    n = key.groupby(users).transform("size").to_numpy()
    in_train = pos <= np.maximum(np.floor(ratio * n + 0.5), 1)
    train, test = df[in_train], df[~in_train]
    return train, _unseen(train, test, user_col, item_col)


def _default_cut(ts: pd.Series):
    """Start of the day of the latest timestamp (datetimes; numbers are taken as Unix seconds)."""
    if pd.api.types.is_datetime64_any_dtype(ts):
        return ts.max().floor("D")
    latest = ts.max()
    return latest - latest % DAY_SECONDS


def time_split(df: pd.DataFrame, cut=None, ts_col: str = TS_COL, user_col: str = USER_COL,
               item_col: str = ITEM_COL) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global time cut: rows with ``ts_col`` >= ``cut`` are test, earlier rows train. ``cut`` defaults
    to the start of the last day present, so the test set is the last day's interactions."""
    cut = _default_cut(df[ts_col]) if cut is None else cut
    after = (df[ts_col] >= cut).to_numpy()
    train, test = df[~after], df[after]
    return train, _unseen(train, test, user_col, item_col)


def leave_last_out(df: pd.DataFrame, ts_col: str = TS_COL, user_col: str = USER_COL,
                   item_col: str = ITEM_COL) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's latest row (ties: the later row of ``df``) is test when the user has >= 2 rows;
    everything else is train. A last row repeating an earlier pair is dropped (see module doc)."""
    rows = pd.DataFrame({"u": df[user_col].to_numpy(), "t": df[ts_col].to_numpy(), "p": np.arange(len(df))})
    rows = rows.sort_values(["u", "t", "p"], kind="mergesort")
    last = ~rows["u"].duplicated(keep="last") & (rows.groupby("u")["p"].transform("size") >= 2)
    in_test = np.zeros(len(df), dtype=bool)
    in_test[rows["p"].to_numpy()[last.to_numpy()]] = True
    train, test = df[~in_test], df[in_test]
    return train, _unseen(train, test, user_col, item_col)

"""The final order of a user's candidates: the ranker's score blended with the retrieval models' own scores.

The ranker learns from candidates that retrieval fitted on part of the history produced (the training set's
day, or the harness's validation folds), then scores candidates of retrieval fitted on all of it. Its two
strongest inputs are steadier than what it learned about them, so the order adds them back:

    z(ranker score) + weight x z(z(co-watch score) + als x z(ALS inner product))

each z taken over the user's own candidates (so only the order within a user matters and the chunks of the
nightly, which hold whole users, give the same lists as one piece). A candidate without a co-watch score or
an ALS vector gets the user's lowest one. ``weight`` 0 is the ranker's order alone.

On ML-100K (msr protocol, three seeds) the ranker alone gives nDCG@10 0.4901, the retrieval blend alone
0.4926 and the two together (weight 0.5) 0.4943 (bench/results/ml100k-msr.md, session 6). ``weight`` and ``als`` are the
ranker section's ``blend_weight`` and ``blend_als`` in the parameters file, so ``vidrec eval --tune`` and the
weekly lake tuning choose them per data set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vidrec.tables import USER_ID

COWATCH, ALS = "score_cowatch", "als_dot"


def per_user_z(users, values) -> np.ndarray:
    """``values`` standardized within each user's rows; a missing value first takes its user's lowest, and a
    user whose values are all equal (or all missing) gets 0."""
    return _z(pd.factorize(np.asarray(users))[0], values)


def retrieval_score(frame: pd.DataFrame, als: float) -> np.ndarray:
    """z(z(co-watch score) + ``als`` x z(ALS inner product)) per row, within each user (a missing column
    counts 0), so that it weighs like the ranker's z whatever ``als`` is."""
    return _retrieval(pd.factorize(frame[USER_ID])[0], frame, als)


def final_score(frame: pd.DataFrame, score, weight: float, als: float) -> np.ndarray:
    """What the user's candidates are ordered by: ``score`` itself when ``weight`` is 0, else
    z(score) + ``weight`` x ``retrieval_score``."""
    score = np.asarray(score, dtype=np.float64)
    if not weight or frame.empty:
        return score
    codes = pd.factorize(frame[USER_ID])[0]  # once for the four z's (rank runs this on every candidate row)
    return _z(codes, score) + weight * _retrieval(codes, frame, als)


def _retrieval(codes: np.ndarray, frame: pd.DataFrame, als: float) -> np.ndarray:
    out = np.zeros(len(frame))
    for column, weight in ((COWATCH, 1.0), (ALS, als)):
        if column in frame.columns and weight:
            out += weight * _z(codes, frame[column])
    return _z(codes, out)


def _z(codes: np.ndarray, values) -> np.ndarray:
    """``per_user_z`` over user codes 0..n-1 (``pd.factorize``): per-user sums by ``np.bincount``."""
    x = pd.Series(values, copy=False).to_numpy(dtype=np.float64, na_value=np.nan)
    n = int(codes.max()) + 1 if len(codes) else 0
    missing = np.isnan(x)
    if missing.any():
        lowest = pd.Series(x).groupby(codes).min().to_numpy()  # NaN for a user with no value at all
        x = np.where(missing, lowest[codes], x)
    ok = ~np.isnan(x)
    x0 = np.where(ok, x, 0.0)
    count = np.bincount(codes, weights=ok, minlength=n)
    mean = np.bincount(codes, weights=x0, minlength=n) / np.maximum(count, 1)
    centered = np.where(ok, x0 - mean[codes], 0.0)
    sd = np.sqrt(np.bincount(codes, weights=centered ** 2, minlength=n) / np.maximum(count - 1, 1))
    return np.nan_to_num(centered / np.where(sd > 0, sd, np.inf)[codes], nan=0.0)

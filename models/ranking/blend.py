"""The final order of a user's candidates: the ranker's score blended with the retrieval models' own scores.

The ranker learns from candidates that retrieval fitted on part of the history produced (the training set's
day, or the harness's validation folds), then scores candidates of retrieval fitted on all of it. Its two
strongest inputs are steadier than what it learned about them, so the order adds them back:

    z(ranker score) + weight x z(z(co-watch score) + als x z(ALS inner product))

each z taken over the user's own candidates (so only the order within a user matters and the chunks of the
nightly, which hold whole users, give the same lists as one piece). A candidate without a co-watch score or
an ALS vector gets the user's lowest one. ``weight`` 0 is the ranker's order alone.

On ML-100K (msr protocol, three seeds) the ranker alone gives nDCG@10 0.4913, the retrieval blend alone
0.4926 and the two together 0.496 (bench/results/ml100k-msr.md). ``weight`` and ``als`` are the
ranker section's ``blend_weight`` and ``blend_als`` in the parameters file, so ``vidrec eval --tune`` and the
weekly lake tuning choose them per data set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vidrec.tables import USER_ID

COWATCH, ALS = "score_cowatch", "als_dot"


def per_user_z(users: pd.Series, values) -> np.ndarray:
    """``values`` standardized within each user's rows; a missing value first takes its user's lowest, and a
    user whose values are all equal (or all missing) gets 0."""
    x = pd.Series(np.asarray(values, dtype=np.float64), index=users.index)
    groups = x.groupby(users.to_numpy(), sort=False)
    x = x.fillna(groups.transform("min"))
    groups = x.groupby(users.to_numpy(), sort=False)
    sd = groups.transform("std").to_numpy()
    z = (x.to_numpy() - groups.transform("mean").to_numpy()) / np.where(sd > 0, sd, np.inf)
    return np.nan_to_num(z, nan=0.0)


def retrieval_score(frame: pd.DataFrame, als: float) -> np.ndarray:
    """z(z(co-watch score) + ``als`` x z(ALS inner product)) per row, within each user (a missing column
    counts 0), so that it weighs like the ranker's z whatever ``als`` is."""
    out = np.zeros(len(frame))
    for column, weight in ((COWATCH, 1.0), (ALS, als)):
        if column in frame.columns and weight:
            out += weight * per_user_z(frame[USER_ID], frame[column])
    return per_user_z(frame[USER_ID], out)


def final_score(frame: pd.DataFrame, score, weight: float, als: float) -> np.ndarray:
    """What the user's candidates are ordered by: ``score`` itself when ``weight`` is 0, else
    z(score) + ``weight`` x ``retrieval_score``."""
    score = np.asarray(score, dtype=np.float64)
    if not weight or frame.empty:
        return score
    return per_user_z(frame[USER_ID], score) + weight * retrieval_score(frame, als)

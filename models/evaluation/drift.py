"""Feature drift: the population stability index (PSI) of every ranker feature between the rows of the ranker's
last training day and the rows of the latest day, which it is evaluated on (the day before, not every training
day: features that follow the calendar, such as a video's age, move a little every day by design).

PSI = sum over bins of (a - e) * ln(a / e), where e and a are the shares of the training and the latest rows in
each bin. Bins: the training values' deciles (fewer when values repeat; a feature with a handful of values gets
one bin per value), plus one bin for missing values; shares are floored at EPSILON so an empty bin counts
instead of dividing by zero. The usual reading: below 0.1 stable, 0.1-0.25 a shift worth a look (WARN_ABOVE:
the gate notes it), above that the model sees a population it was not trained on (``Settings.drift_max_psi``:
the gate fails). On fewer than MIN_ROWS rows a side PSI is mostly sampling noise (about bins / rows), so it is
not computed, and the report says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BINS = 10
EPSILON = 1e-4
WARN_ABOVE = 0.1
MIN_ROWS = 1000


def psi(expected, actual, bins: int = BINS) -> float:
    """The PSI of ``actual`` against ``expected`` (1-d arrays; NaN is a bin of its own)."""
    e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    if not len(e) or not len(a):
        return 0.0
    known = e[~np.isnan(e)]
    values = np.unique(known)
    if len(values) <= bins:  # few distinct values: one bin each (the midpoints between them are the edges)
        edges = (values[1:] + values[:-1]) / 2
    else:
        edges = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(x: np.ndarray) -> np.ndarray:
        nan = np.isnan(x)
        counts = np.bincount(np.searchsorted(edges, x[~nan], side="right"), minlength=len(edges) + 1)
        return np.maximum(np.append(counts, nan.sum()) / len(x), EPSILON)

    pe, pa = shares(e), shares(a)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def feature_psi(train: pd.DataFrame, latest: pd.DataFrame, features: list[str]) -> dict[str, float]:
    """PSI per feature, rounded to 4 decimals."""
    return {f: round(psi(train[f].to_numpy(dtype=float), latest[f].to_numpy(dtype=float)), 4) for f in features}


def drift_report(values: dict[str, float], max_psi: float) -> dict:
    """The PSI values, the features above WARN_ABOVE (``warned``) and above ``max_psi`` (``failed``)."""
    return {"psi": values, "warn_above": WARN_ABOVE, "max_psi": max_psi,
            "warned": sorted(f for f, v in values.items() if v > WARN_ABOVE),
            "failed": sorted(f for f, v in values.items() if v > max_psi)}


def training_drift(rows: pd.DataFrame, ds: str, features: list[str], max_psi: float, min_rows: int = MIN_ROWS) -> dict:
    """``drift_report`` of the training set's last training day against its rows of ``ds`` (split valid); with
    fewer than ``min_rows`` rows on a side, no values and the reason."""
    train = rows[rows["split"] == "train"]
    reference = train[train["label_ds"] == train["label_ds"].max()] if len(train) else train
    latest = rows[(rows["split"] == "valid") & (rows["label_ds"] == ds)]
    if min(len(reference), len(latest)) < min_rows:
        return {**drift_report({}, max_psi), "skipped": f"{len(reference)} and {len(latest)} rows (< {min_rows})"}
    day = str(reference["label_ds"].iloc[0])
    return {**drift_report(feature_psi(reference, latest, features), max_psi), "reference_day": day}

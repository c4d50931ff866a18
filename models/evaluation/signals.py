"""Engagement signals in the offline harness: data that says more than "this user met this video".

A frame of the harness may carry, per (user_id, video_id) row, a feed's signals (``SIGNALS``):
``watch_fraction`` (0..1), ``liked``, ``shared`` and ``not_interested`` (0/1). Such a frame (``has_signals``;
the ``feed`` synthetic set has them, and a CSV with those columns) is learned and measured the way the
nightly does it:

- ``to_events``: each row becomes the pipeline's events, a ``watch`` at its watch fraction plus a ``like``,
  ``share`` or ``not_interested`` event where flagged (a frame without signals: one full watch per row, or
  with ``graded`` a watch as strong as the row's rating: ``rating_strength``), so retrieval's confidence,
  exclusions and rejections read them as they read the lake;
- ``labels``: ``models.ranking.training_set.label_events`` of those events, the nightly's graded label and
  each objective's target (``y_click``, ``y_like``, ``y_share``, ``y_not_interested``);
- ``engaged``: the rows that count as relevant for the accuracy metrics (label > 0: watched at least half,
  liked or shared, and not marked not interested);
- ``composite_metrics`` (of labeled pairs: the test's ``labels``, or the nightly gate's holdout day): per
  objective, the share of the top k the user went on to do it to in the test (``watch@k`` is engaged),
  and ``composite_ndcg@k``: the DCG of the gain sum_o weight_o x y_o (the product's
  ``VIDREC_OBJECTIVE_WEIGHTS``; not interested weighs negative) over the top k, divided by the ideal DCG of
  the user's test rows; averaged over the test users with a positive ideal (a list that shows rejected
  videos can score below 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.metrics import ranking_metrics
from models.ranking.objectives import TARGETS
from models.ranking.training_set import LABEL, TARGET_EVENTS, label_events
from models.retrieval.matrix import isin_pairs
from vidrec.tables import EVENT_TYPE, TS, USER_ID, VIDEO_ID, WATCH_FRACTION

SIGNALS = (WATCH_FRACTION, "liked", "shared", "not_interested")
RATING = "rating"  # a ratings frame's optional graded column (MovieLens stars, or a CSV's rating column)
MIN_STRENGTH = 0.1  # a row's watch weighs at least this: every row of a ratings frame is a positive
FLAG_EVENTS = {"liked": "like", "shared": "share", "not_interested": "not_interested"}  # the event a flag becomes
# the lake's events that set each flag (``models.evaluation.lake_tuning``): the targets' own events
FLAG_SOURCES = {"liked": TARGET_EVENTS["y_like"], "shared": TARGET_EVENTS["y_share"],
                "not_interested": TARGET_EVENTS["y_not_interested"]}


def has_signals(frame: pd.DataFrame) -> bool:
    return all(column in frame.columns for column in SIGNALS)


def rating_strength(frame: pd.DataFrame) -> np.ndarray:
    """Per row of a ratings frame: its rating over the frame's mean rating (at least ``MIN_STRENGTH``), the watch
    fraction its watch gets when graded; 1 for every row without a positive mean rating.

    Relative to the mean, a frame's average row weighs 1, as an ungraded one does, so ALS's tuned ``alpha`` keeps
    its meaning; a rating above the mean counts like a replay and one below like a partial watch, and retrieval's
    ``WATCH_WEIGHT_CAP`` bounds what an outlier (a play count, say) can weigh. On ML-100K (msr, the msr split of
    each training split of seeds 42-44) ALS alone scores nDCG@10 0.2779 on the validation parts with it and
    0.2744 without."""
    rating = pd.to_numeric(frame[RATING], errors="coerce").to_numpy(float) if RATING in frame.columns else None
    mean = np.nanmean(rating) if rating is not None and len(rating) else np.nan
    if not mean > 0:
        return np.ones(len(frame))
    return np.maximum(np.nan_to_num(rating / mean, nan=1.0), MIN_STRENGTH)


def to_events(frame: pd.DataFrame, graded: bool = False) -> pd.DataFrame:
    """(user_id, video_id, event_type, watch_fraction[, ts]) per event of ``frame``'s rows, in row order
    (a row's watch first, then its flags). Without signals each row is one full watch, or with ``graded`` a watch
    of fraction ``rating_strength``."""
    keep, flagged_too = [c for c in (USER_ID, VIDEO_ID, TS) if c in frame.columns], has_signals(frame)
    fraction = (frame[WATCH_FRACTION].to_numpy(float) if flagged_too
                else rating_strength(frame) if graded else np.ones(len(frame)))
    parts = [frame[keep].assign(**{EVENT_TYPE: "watch", WATCH_FRACTION: fraction, "_row": np.arange(len(frame))})]
    if flagged_too:
        for column, event in FLAG_EVENTS.items():
            flagged = frame[column].to_numpy() > 0
            parts.append(frame.loc[flagged, keep].assign(**{EVENT_TYPE: event, WATCH_FRACTION: np.nan,
                                                             "_row": np.flatnonzero(flagged)}))
    events = pd.concat(parts, ignore_index=True).sort_values("_row", kind="stable")
    return events.drop(columns="_row").reset_index(drop=True)


def labels(frame: pd.DataFrame) -> pd.DataFrame:
    """(user_id, video_id, label, label_kind, y_click, y_like, y_share, y_not_interested) per pair of ``frame``."""
    return label_events(to_events(frame))


def engaged(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` that are relevant: every row without signals; with them, those whose pair's
    label (``labels``) is positive."""
    if not has_signals(frame):
        return frame
    good = labels(frame)
    good = good[good[LABEL] > 0]
    return frame[isin_pairs(frame[USER_ID], frame[VIDEO_ID], good[USER_ID], good[VIDEO_ID])]


def gains(labeled: pd.DataFrame, weights: dict) -> pd.DataFrame:
    """(user_id, video_id, gain, <objective> 0/1 ...) per pair of ``labeled`` (``labels``' or the nightly's
    ``label_events``' columns): gain = sum_o weight_o x y_o."""
    ys = {name: (labeled[column].to_numpy() > 0).astype(float) for name, column in TARGETS.items()}
    gain = sum(weights.get(name, 0.0) * y for name, y in ys.items())
    return pd.DataFrame({USER_ID: labeled[USER_ID].to_numpy(), VIDEO_ID: labeled[VIDEO_ID].to_numpy(), "gain": gain,
                         **ys})


def composite_metrics(recs: pd.DataFrame, labeled: pd.DataFrame, k: int, weights: dict) -> dict:
    """``<objective>@k`` (share of the top k per user of ``labeled``, averaged over them) and ``composite_ndcg@k``
    of the lists ``recs`` against the labeled pairs ``labeled`` (``labels`` of a test frame; the nightly gate
    passes its holdout day's ``label_events``)."""
    table = gains(labeled, weights)
    users = table[USER_ID].unique()
    top = recs[(recs["rank"] <= k) & recs[USER_ID].isin(users)].merge(table, on=[USER_ID, VIDEO_ID], how="left")
    top = top.fillna(dict.fromkeys(TARGETS, 0.0))
    out = {f"{name}@{k}": float((top.groupby(USER_ID)[name].sum().reindex(users, fill_value=0.0) / k).mean())
           for name in TARGETS} if len(users) else dict.fromkeys((f"{name}@{k}" for name in TARGETS), 0.0)
    truth = table[[USER_ID, VIDEO_ID]].assign(relevance=table["gain"])
    out[f"composite_ndcg@{k}"] = ranking_metrics(recs, truth, k)[f"ndcg@{k}"]  # negative gains lower the DCG
    return {name: round(value, 6) for name, value in out.items()}

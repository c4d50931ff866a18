"""The ranker's labeled rows, from a time split: what retrieval offered as of day L-1, labeled by day L.

For the nightly run of ``ds`` and each label day L among the last ``label_days`` days up to ``ds``:
retrieval is rebuilt as the run of L-1 would have built it (history up to L-1, ALS fitted on it,
candidates; ``candidates.retrieval_as_of``), and each candidate of a user who had any event on L gets

- ``label`` 2: liked or shared on L; 1: watched with watch_fraction >= 0.5 (and neither disliked nor
  marked not interested); 0 otherwise;
- ``label_kind``: ``positive``, ``negative`` (skip, dislike, not_interested), ``impression`` (shown,
  clicked or briefly watched, not engaged) or ``not_engaged`` (offered by retrieval, no event on L);
- ``y_click``, ``y_like``, ``y_share``, ``y_not_interested``: 0/1, the other objectives' targets
  (``TARGET_EVENTS``; ``models.ranking.objectives``).

The last label day (``ds``) is the validation split and keeps every candidate, so evaluation ranks the
same lists serving would; earlier days are the training split, where ``not_engaged`` rows are sampled
down to ``negatives_per_user`` per user (seeded). Features: the retrieval scores and pair features of
``candidates``, plus Feast's ``ranker_v1`` point-in-time features at ``event_timestamp`` = end of L-1
(``fetch_features``, the single place to switch the feature source).

Artifact: ``runs/<ds>/training_set.parquet``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from models import io, manifest, parameters
from models.ranking.features import EVENT_TIMESTAMP, FeatureCache, entity_columns
from models.retrieval.candidates import CandidateParams, iter_candidates, retrieval_as_of
from models.retrieval.history import load_histories
from models.retrieval.matrix import isin_pairs
from vidrec import dates
from vidrec.settings import Settings
from vidrec.tables import EVENT_TYPE, USER_ID, VIDEO_ID, WATCH_FRACTION

log = logging.getLogger("vidrec.training_set")
FEATURE_SERVICE = "ranker_v1"
LABEL, LABEL_KIND, LABEL_DS, SPLIT = "label", "label_kind", "label_ds", "split"
# The other objectives' 0/1 targets (models.ranking.objectives; watch's is label > 0): the events that make each.
NEGATIVE_SAMPLING = ("uniform", "popularity")
POPULARITY_POWER = 0.75
TARGET_EVENTS = {"y_click": ["click", "watch"], "y_like": ["like"], "y_share": ["share"],
                 "y_not_interested": ["not_interested", "dislike"]}


@dataclass(frozen=True)
class TrainingSetParams:
    label_days: int = 3                # label days up to ds; the last one is the validation split
    negatives_per_user: int = 50       # not_engaged rows kept per (user, training day)
    negative_sampling: str = "uniform"  # how they are drawn (negative_weights)
    positive_watch_fraction: float = 0.5
    features: str = "feast"            # "feast" (service ranker_v1) or "none" (see fetch_features)
    train_users: int = 10_000          # users sampled per training day (seeded) and, for the validation
    valid_users: int = 5_000           # day, in all: the set stops growing with the user base


def label_events(day: pd.DataFrame, params: TrainingSetParams = TrainingSetParams()) -> pd.DataFrame:
    """One day's interactions -> (user_id, video_id, label, label_kind) per engaged pair."""
    kind = day[EVENT_TYPE]
    frame = pd.DataFrame({
        USER_ID: day[USER_ID].to_numpy(), VIDEO_ID: day[VIDEO_ID].to_numpy(),
        "strong": kind.isin(["like", "share"]).to_numpy(),
        "watched": ((kind == "watch") & (day[WATCH_FRACTION].fillna(0) >= params.positive_watch_fraction)).to_numpy(),
        "veto": kind.isin(["dislike", "not_interested"]).to_numpy(),
        "negative": kind.isin(["skip", "dislike", "not_interested"]).to_numpy(),
        **{target: kind.isin(events).to_numpy() for target, events in TARGET_EVENTS.items()},
    })
    per = frame.groupby([USER_ID, VIDEO_ID], sort=True).any().reset_index()
    label = np.where(per["veto"], 0, np.where(per["strong"], 2, np.where(per["watched"], 1, 0)))
    kinds = np.where(label > 0, "positive", np.where(per["negative"], "negative", "impression"))
    return pd.DataFrame({USER_ID: per[USER_ID], VIDEO_ID: per[VIDEO_ID], LABEL: label.astype(np.int8),
                         LABEL_KIND: kinds, **{t: per[t].to_numpy(np.int8) for t in TARGET_EVENTS}})


def negative_weights(cands: pd.DataFrame, sampling: str) -> np.ndarray | None:
    """Per candidate row, its weight when ``not_engaged`` rows are sampled (None: uniform). ``popularity``:
    (1 + the video's positive confidence) ** ``POPULARITY_POWER`` (from ``video_popularity`` = log1p of it),
    so the ranker sees the popular videos a user passed over about as often as retrieval offers them."""
    if sampling == "uniform":
        return None
    if sampling != "popularity":
        raise ValueError(f"negative sampling {sampling!r}: one of {NEGATIVE_SAMPLING}")
    return np.exp(POPULARITY_POWER * cands["video_popularity"].fillna(0.0).to_numpy(float))


def label_candidates(cands: pd.DataFrame, labels: pd.DataFrame, *, sample: int | None, seed: int,
                     sampling: str = "uniform") -> pd.DataFrame:
    """Candidates of the users present in ``labels`` with their label (``not_engaged``/0 when absent);
    with ``sample``, at most that many ``not_engaged`` rows per user, drawn without replacement (seeded)
    with the weights of ``negative_weights`` (weighted reservoir keys; ``uniform``: every row alike)."""
    present = cands[USER_ID].isin(labels[USER_ID]).to_numpy()
    rows = (cands if present.all() else cands[present]).merge(labels, on=[USER_ID, VIDEO_ID], how="left")
    rows[LABEL] = rows[LABEL].fillna(0).astype(np.int8)
    for target in TARGET_EVENTS.keys() & set(rows.columns):
        rows[target] = rows[target].fillna(0).astype(np.int8)
    rows[LABEL_KIND] = rows[LABEL_KIND].fillna("not_engaged")
    if sample is not None:
        idle = (rows[LABEL_KIND] == "not_engaged").to_numpy()
        draw, weights = np.random.default_rng(seed).random(len(rows)), negative_weights(rows, sampling)
        if weights is not None:  # Efraimidis-Spirakis: the smallest keys -(1-u)^(1/w) form a weighted sample
            draw = -np.power(1.0 - draw, 1.0 / np.maximum(weights, 1e-12))
        key = pd.Series(draw, index=rows.index)
        order = key[idle].groupby(rows.loc[idle, USER_ID]).rank(method="first")
        keep = ~idle
        keep[np.flatnonzero(idle)[order.to_numpy() <= sample]] = True
        rows = rows[keep]
    return rows.set_axis(pd.RangeIndex(len(rows)), axis=0, copy=False)


def fetch_features(settings: Settings, rows: pd.DataFrame, source: str = "feast",
                   cache: FeatureCache | None = None) -> tuple[pd.DataFrame, str]:
    """``rows`` (user_id, video_id, event_timestamp, ...) plus the ranker's point-in-time features
    (``feature_values``), and the name of the feature source used."""
    values, name = feature_values(settings, rows, source, cache)
    if source == "none":
        return rows, name
    out = rows.set_axis(pd.RangeIndex(len(rows)), axis=0, copy=False)  # rows' columns are not copied
    for column, array in values.items():  # nor are the features gathered into one block
        out[column] = array
    return out, name


def feature_values(settings: Settings, rows: pd.DataFrame, source: str = "feast",
                   cache: FeatureCache | None = None) -> tuple[dict, str]:
    """The ranker's point-in-time features of ``rows`` (user_id, video_id, event_timestamp) that ``rows``
    does not already hold, as {column: array in the rows' order}, and the name of the feature source used:
    the one place that decides where ranker features come from. rank.py calls it with the source the ranker
    was trained with, so training and scoring never see features computed two ways.

    ``source="feast"``: Feast service ``ranker_v1`` through ``models.ranking.features.entity_columns``,
    which joins each feature view once per distinct (user or video, event_timestamp) and spreads the
    answers back over the rows, in the rows' order. Only numeric features are kept: the ranker cannot use
    the service's lists and strings (top_categories, category, ...); the pair features of candidates.py
    carry that information (``cache``: see ``FeatureCache``). ``source="none"``: no features (the ranker then
    uses retrieval and pair features only; for tests and for lakes without feature tables).
    """
    if source == "none":
        return {}, "none"
    if source != "feast":
        raise ValueError(f"unknown feature source {source!r}")
    values = entity_columns(settings, rows[[USER_ID, VIDEO_ID, EVENT_TIMESTAMP]].reset_index(drop=True),
                            service=FEATURE_SERVICE, cache=cache)
    numeric = {c: v for c, v in values.items() if c not in rows.columns
               and (pd.api.types.is_numeric_dtype(v.dtype) or pd.api.types.is_bool_dtype(v.dtype))}
    return numeric, f"feast:{FEATURE_SERVICE}"


def build_day(settings: Settings, retrieval, snapshot: io.LakeSnapshot, label_ds: str, *, sample: int | None,
              params: CandidateParams, seed: int, max_users: int,
              sampling: str = "uniform") -> tuple[pd.DataFrame, dict]:
    """Labeled candidates for one label day from ``retrieval`` as of the day before (``retrieval_as_of``),
    for at most ``max_users`` of the users with events on the day (seeded sample); plus counts."""
    asof = retrieval.history.ds
    day = snapshot.read("interactions", [USER_ID, VIDEO_ID, EVENT_TYPE, WATCH_FRACTION], (label_ds, label_ds))
    labels = label_events(day)
    users = np.intersect1d(retrieval.history.active_users, labels[USER_ID].unique())
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))
    retrieval.history.focus(users)  # per-user aggregates of the sampled users only
    chunks = iter_candidates(retrieval, params, parameters.per_user(settings), users=users)
    rows = pd.concat([label_candidates(cands, labels, sample=sample, seed=seed * 7919 + i, sampling=sampling)
                      for i, cands in enumerate(chunks)], ignore_index=True)
    rows[LABEL_DS] = label_ds
    rows[EVENT_TIMESTAMP] = pd.Timestamp(dates.day_end(asof))
    positives = labels[(labels[LABEL] > 0) & labels[USER_ID].isin(users)]
    ex = retrieval.history.excluded
    positives = positives[~isin_pairs(positives[USER_ID], positives[VIDEO_ID], ex[USER_ID], ex[VIDEO_ID])]
    # (re-watches are never candidates, so they do not count against retrieval)
    found = int((rows[LABEL] > 0).sum())
    counts = {"users": int(rows[USER_ID].nunique()), "rows": len(rows), "positives": len(positives),
              "positives_retrieved": found, "retrieval_recall": round(found / max(len(positives), 1), 4)}
    return rows, counts


def labeled_days(settings: Settings, snap: io.LakeSnapshot, ds: str, params: TrainingSetParams,
                 cparams: CandidateParams):
    """(label day, its labeled rows with the split, counts) for each label day, oldest first. The as-of
    histories come from one read of the lake (``load_histories``); retrieval is refitted for each day."""
    days = dates.days_ending(ds, params.label_days)[::-1]
    histories = load_histories(snap, [dates.shift_ds(d, -1) for d in days], lookback_days=cparams.lookback_days,
                               active_days=settings.active_days, exclusion_days=cparams.exclusion_days)
    for i, (label_ds, hist) in enumerate(zip(days, histories)):
        valid = label_ds == ds
        retrieval = retrieval_as_of(settings, snap, hist.ds, cparams, history=hist)
        rows, counts = build_day(settings, retrieval, snap, label_ds, params=cparams, seed=settings.seed + i,
                                 sample=None if valid else params.negatives_per_user,
                                 max_users=params.valid_users if valid else params.train_users,
                                 sampling=params.negative_sampling)
        yield label_ds, rows.assign(**{SPLIT: "valid" if valid else "train"}), counts


def run(settings: Settings, ds: str, params: TrainingSetParams | None = None,
        cparams: CandidateParams | None = None) -> dict:
    """Label days ds-label_days+1 .. ds; writes runs/<ds>/training_set.parquet with a train/valid split."""
    started = time.monotonic()
    params = params or TrainingSetParams(
        negatives_per_user=parameters.negatives_per_user(settings, TrainingSetParams.negatives_per_user),
        negative_sampling=parameters.negative_sampling(settings))
    cparams = cparams or CandidateParams.from_settings(settings)
    snap = io.LakeSnapshot(settings)
    frames, per_day = [], {}
    for label_ds, rows, per_day[label_ds] in labeled_days(settings, snap, ds, params, cparams):
        frames.append(rows)
    rows = pd.concat(frames, ignore_index=True)
    rows, source = fetch_features(settings, rows, params.features)
    io.write_parquet(rows, io.run_dir(settings, ds) / "training_set.parquet")
    counts = {"rows": len(rows), "train": int((rows[SPLIT] == "train").sum()),
              "valid": int((rows[SPLIT] == "valid").sum()), "days": per_day}
    seconds = round(time.monotonic() - started, 2)
    manifest.update_manifest(settings, ds, "build_training_set",
                             params={**asdict(params), "candidates": asdict(cparams), "seed": settings.seed},
                             inputs=snap.versions, rows=counts, feature_source=source, seconds=seconds)
    log.info("build_training_set %s: %s (features: %s) in %.1f s", ds, counts, source, seconds)
    return {"ds": ds, **counts, "feature_source": source, "seconds": seconds}

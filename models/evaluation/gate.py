"""Offline evaluation on the held-out last day, and the publish gate.

The metrics are ``models.metrics``'s plain functions on pandas frames: ``recs`` (user_id,
video_id, rank from 1) against ``truth`` (user_id, video_id); users are those with a relevant video.

``run(settings, ds)`` is the offline harness's ``time`` protocol applied to the lake, with the cut at the
start of day ``ds``: everything before is what the models learned from, day ``ds`` is the test, and the
numbers are the harness's (``models.metrics.metrics_of``: nDCG, precision, recall, MAP, hit rate,
coverage, diversity, popularity of the lists). The validation split of the run's training set holds
what retrieval as of ``ds - 1`` offered the users who came back on ``ds``; the run's ranker (which never
trained on ``ds``) orders them, and the top-k are compared with every video those users watched
(>= half), liked or shared on ``ds`` that they had not already watched before, whether or not retrieval
found it. The popularity baseline (the harness's ``models.evaluation.baselines.Popularity``) recommends
the most popular videos of the days before ``ds`` (same filter). The serving model is the newest earlier
run whose gate passed; when its ranker can score today's rows, it is re-measured on the same holdout,
otherwise its stored metrics are used. Results go to ``runs/<ds>/evaluation.json`` and the manifest
(top-level ``gate`` and ``metrics``, which publish reads); a failed gate logs the rejected model's numbers
beside the serving model's and popularity's, and raises ``GateFailed`` after writing them, so the DAG
stops before publishing and the serving version stays.

Every list is also scored on all the holdout day's labeled pairs by the product's objectives
(``models.evaluation.signals.composite_metrics`` under ``VIDREC_OBJECTIVE_WEIGHTS``: ``like@k``,
``not_interested@k``, ... and ``composite_ndcg@k``; reported, not gated).

The request context model's weight is chosen on the same holdout (``models.evaluation.context_gate``: the
nDCG of re-sorting each user's list by the context of each of their holdout requests); ``metrics["context"]``
reports it and the manifest's ``context`` holds the model publish serves (weight 0: not applied).

Beside the ranking metrics: ``watch_time`` (the holdout day's watch time of the videos the model's lists and
popularity's recommended, per user, and the model's lift) and ``drift`` (``models.evaluation.drift``: each ranker
feature's PSI between the training rows and the latest day's; above ``VIDREC_DRIFT_MAX_PSI`` the gate fails).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from models import io, manifest
from models.evaluation import context_gate, drift, signals
from models.evaluation.baselines import Popularity
from models.metrics import metrics_of
from models.ranking.objectives import load_scorer
from models.ranking.ranker import feature_columns
from models.ranking.training_set import LABEL, label_events
from models.retrieval.candidates import CandidateParams
from models.retrieval.history import History, load_history
from models.retrieval.matrix import isin_pairs
from vidrec import dates
from vidrec.settings import Settings
from vidrec.tables import USER_ID, VIDEO_ID

log = logging.getLogger("vidrec.evaluate")
K = 10
GATED = ("ndcg", "recall")
TOLERANCE = 0.02
MIN_USERS = 50  # fewer holdout users than this is too little evidence to compare models


@dataclass(frozen=True)
class EvalParams:
    k: int = K
    tolerance: float = TOLERANCE
    min_users: int = MIN_USERS
    drift_min_rows: int = drift.MIN_ROWS


class GateFailed(RuntimeError):
    """The new model is worse than the serving one beyond tolerance, or does not beat popularity."""


def top_k(frame: pd.DataFrame, score: str, k: int) -> pd.DataFrame:
    """(user_id, video_id, rank): each user's ``k`` rows with the highest ``score`` (ties: video_id)."""
    ordered = frame.sort_values([USER_ID, score, VIDEO_ID], ascending=[True, False, True], kind="mergesort")
    ordered = ordered.assign(rank=ordered.groupby(USER_ID).cumcount() + 1)
    return ordered[ordered["rank"] <= k][[USER_ID, VIDEO_ID, "rank"]].reset_index(drop=True)


def gate_failures(metrics: dict, previous: dict | None, tolerance: float = TOLERANCE, k: int = K,
                  min_users: int = MIN_USERS) -> list[str]:
    """Why the gate refuses (empty: it passes). For ndcg@k and recall@k the new model must beat
    popularity (``metrics["popularity"]``) and must not fall below the serving model's value by more
    than ``tolerance`` relative to it (``new >= previous * (1 - tolerance)``).

    With fewer than ``min_users`` holdout users (``metrics["users"]``) the numbers are noise: a first
    model (nothing serving, ``previous`` None) passes so the product can start, a replacement is refused.
    """
    users = metrics.get("users", 0)
    if users < min_users:
        return [] if previous is None else [
            f"only {users} holdout users (< {min_users}): too little evidence to replace the serving model"]
    reasons = []
    for name in (f"{m}@{k}" for m in GATED):
        new = metrics.get(name)
        if new is None:
            reasons.append(f"{name} missing")
            continue
        pop = (metrics.get("popularity") or {}).get(name)
        if pop is None or not new > pop:
            reasons.append(f"{name} {new:.4f} does not beat popularity {pop}")
        old = (previous or {}).get(name)
        if old is not None and new < old * (1.0 - tolerance):
            reasons.append(f"{name} {new:.4f} is below the serving model's {old:.4f} beyond {tolerance:.0%}")
    return reasons


def passes_gate(metrics: dict, previous_metrics: dict | None, tolerance: float = TOLERANCE, k: int = K,
                min_users: int = MIN_USERS) -> bool:
    """True when the new model may replace the serving one (see ``gate_failures``)."""
    return not gate_failures(metrics, previous_metrics, tolerance, k, min_users)


def holdout_labels(settings: Settings, snapshot: io.LakeSnapshot, ds: str, users) -> tuple[pd.DataFrame, History]:
    """(labeled, history as of ds-1): the ``users``' pairs of ``ds`` they had not watched before, with the
    nightly's labels and targets (``label_events``); the truth is those with a positive label."""
    params = CandidateParams.from_settings(settings)
    hist = load_history(snapshot, dates.shift_ds(ds, -1), lookback_days=params.lookback_days,
                        active_days=settings.active_days, exclusion_days=params.exclusion_days)
    day = snapshot.read("interactions", [USER_ID, VIDEO_ID, "event_type", "watch_fraction"], (ds, ds))
    labeled = label_events(day)
    labeled = labeled[labeled[USER_ID].isin(users)]
    ex = hist.excluded
    seen = isin_pairs(labeled[USER_ID], labeled[VIDEO_ID], ex[USER_ID], ex[VIDEO_ID])
    return labeled[~seen].reset_index(drop=True), hist


def popularity_recs(hist: History, users, k: int, days: int = 7) -> pd.DataFrame:
    """The baseline: ``models.evaluation.baselines.Popularity`` fitted on the positives of the last ``days``
    (weighted by their confidence); each user's ``k`` most popular videos they have not excluded."""
    end = pd.Timestamp(dates.day_end(hist.ds))
    pos = hist.positives[hist.positives["last_ts"] >= end - pd.Timedelta(days=days)]
    return Popularity().fit(pos).recommend(users, k, exclude=hist.excluded)


def serving_run(settings: Settings, ds: str) -> str | None:
    """The newest run before ``ds`` whose evaluation passed the gate (the model serving now)."""
    runs = Path(settings.artifact_root) / "runs"
    for path in sorted(runs.glob("*/evaluation.json"), reverse=True):
        if path.parent.name < ds and io.read_json(path).get("gate", {}).get("passed"):
            return path.parent.name
    return None


def measure(recs: pd.DataFrame, labeled: pd.DataFrame, k: int, hist=None, weights: dict | None = None) -> dict:
    """The offline harness's metrics (``models.metrics.metrics_of``) of ``recs`` on the holdout's positives,
    with coverage and mean popularity against the history's positives, the number of holdout users and, with
    ``weights``, the composite metrics of every labeled pair (``models.evaluation.signals.composite_metrics``:
    each objective's share of the top k, the composite's nDCG)."""
    train = None if hist is None else hist.positives[[USER_ID, VIDEO_ID]]
    catalog = None if hist is None else hist.videos
    truth = labeled[labeled[LABEL] > 0][[USER_ID, VIDEO_ID]]
    out = {**metrics_of(recs, truth, k, train, catalog), "users": int(truth[USER_ID].nunique())}
    return out if weights is None else {**out, **signals.composite_metrics(recs, labeled, k, weights)}


def model_scores(model_dir: Path, valid: pd.DataFrame, weights: dict):
    """The ranker's score of these rows: the objectives' composite with ``weights`` (what rank serves); None if it
    needs missing features."""
    scorer, meta = load_scorer(model_dir, weights)
    return scorer.score(valid) if set(meta["features"]) <= set(valid.columns) else None


def model_recs(model_dir: Path, valid: pd.DataFrame, k: int, weights: dict, scores=None) -> pd.DataFrame | None:
    """The ranker's top ``k`` of these rows per user (user_id, video_id, rank; ``scores``: ``model_scores``, when
    known); None if it needs missing features."""
    scores = model_scores(model_dir, valid, weights) if scores is None else scores
    return None if scores is None else top_k(valid.assign(rank_score=scores), "rank_score", k)


def watch_time_lift(snapshot: io.LakeSnapshot, ds: str, recs: pd.DataFrame, popular: pd.DataFrame, users) -> dict:
    """Watch time on ``ds`` of the videos each list recommended, per holdout user, and the model's lift over
    popularity (the bar one design sets: at least +10%)."""
    day = snapshot.read("interactions", [USER_ID, VIDEO_ID, "event_type", "watch_ms"], (ds, ds))
    watched = day[day["event_type"] == "watch"].groupby([USER_ID, VIDEO_ID], as_index=False)["watch_ms"].sum()

    def per_user(lists: pd.DataFrame) -> float:
        hits = lists[[USER_ID, VIDEO_ID]].merge(watched, on=[USER_ID, VIDEO_ID])
        return float(hits["watch_ms"].sum()) / max(len(users), 1)

    model, base = per_user(recs), per_user(popular)
    return {"model_ms_per_user": round(model, 1), "popularity_ms_per_user": round(base, 1),
            "lift": round(model / base - 1.0, 4) if base else None}


def model_metrics(model_dir: Path, valid: pd.DataFrame, labeled: pd.DataFrame, k: int, weights: dict,
                  hist=None) -> dict | None:
    """Metrics of the ranker in ``model_dir`` on these holdout rows (None if it needs missing features)."""
    recs = model_recs(model_dir, valid, k, weights)
    return None if recs is None else measure(recs, labeled, k, hist, weights)


def run(settings: Settings, ds: str, params: EvalParams | None = None) -> dict:
    """Hold out ``ds``; metrics of this run's ranker, of retrieval order and of popularity; the gate."""
    started, p = time.monotonic(), params or EvalParams()
    out, snap = io.run_dir(settings, ds), io.LakeSnapshot(settings)
    rows = io.read_parquet(out / "training_set.parquet")
    valid = rows[(rows["split"] == "valid") & (rows["label_ds"] == ds)]
    users = valid[USER_ID].unique()
    labeled, hist, weights = *holdout_labels(settings, snap, ds, users), settings.weights()
    scores = model_scores(out / "ranker", valid, weights)
    recs = model_recs(out / "ranker", valid, p.k, weights, scores)
    metrics = measure(recs, labeled, p.k, hist, weights)
    context, metrics["context"] = context_gate.choose(snap, ds, valid, scores, labeled, p.k)
    metrics["retrieval"] = measure(top_k(valid, "retrieval_score", p.k), labeled, p.k, hist, weights)
    popular = popularity_recs(hist, users, p.k)
    metrics["popularity"] = measure(popular, labeled, p.k, hist, weights)
    metrics["watch_time"] = watch_time_lift(snap, ds, recs, popular, users)
    previous = previous_metrics(settings, ds, valid, labeled, p.k, hist)
    drifted = drift.training_drift(rows, ds, feature_columns(rows), settings.drift_max_psi, p.drift_min_rows)
    drifts = [f"feature drift: {f} has PSI {drifted['psi'][f]} > {drifted['max_psi']} between "
              f"{drifted['reference_day']} (training) and {ds}" for f in drifted["failed"]]
    # With nothing serving, the alternative is the popularity fallback, which the metrics compare already;
    # a young lake's history features (days since, days between) drift every day until it covers the lookback.
    reasons = gate_failures(metrics, previous, p.tolerance, p.k, p.min_users) + (drifts if previous else [])
    notes = [f"bootstrap: {metrics['users']} holdout users (< {p.min_users}) and nothing serving; published "
             "without evidence"] if metrics["users"] < p.min_users and previous is None else []
    notes += [] if previous else [f"{d} (nothing serving: not enforced)" for d in drifts]
    notes += [f"drift: {f} has PSI {drifted['psi'][f]} > {drift.WARN_ABOVE}" for f in drifted["warned"]
              if f not in drifted["failed"]]
    gate = {"passed": not reasons, "reasons": reasons, "notes": notes, **asdict(p)}
    io.write_json({"ds": ds, "metrics": metrics, "previous": previous, "gate": gate, "drift": drifted},
                  out / "evaluation.json")
    seconds = round(time.monotonic() - started, 2)
    manifest.update_manifest(settings, ds, "evaluate", params={**asdict(p), "gated": list(GATED)},
                             inputs=snap.versions, previous=previous, seconds=seconds,
                             run_fields={"gate": gate, "metrics": metrics, "drift": drifted,
                                         "context": context and context.to_json()})
    log.info("evaluate %s: %s; gate %s", ds, metrics, gate)
    if reasons:
        log.error("evaluate %s: model rejected, the serving model (%s) stays: %s; new %s; serving %s; popularity %s",
                  ds, (previous or {}).get("ds"), "; ".join(reasons), _headline(metrics, p.k),
                  _headline(previous or {}, p.k), _headline(metrics["popularity"], p.k))
        raise GateFailed(f"run {ds} must not be published: " + "; ".join(reasons))
    return {"ds": ds, **metrics, "previous": previous, "gate": gate, "seconds": seconds}


def _headline(metrics: dict, k: int) -> dict:
    return {m: metrics.get(m) for m in (f"ndcg@{k}", f"recall@{k}", f"precision@{k}", "users")}


def previous_metrics(settings: Settings, ds: str, valid: pd.DataFrame, labeled: pd.DataFrame, k: int,
                     hist=None) -> dict | None:
    """The serving run's metrics: re-measured on this holdout when its ranker can score these rows, else
    as stored with it (``same_holdout`` says which); None when nothing serves."""
    prev_ds = serving_run(settings, ds)
    if prev_ds is None:
        return None
    same = model_metrics(io.run_dir(settings, prev_ds) / "ranker", valid, labeled, k, settings.weights(), hist)
    stored = io.read_json(io.run_dir(settings, prev_ds) / "evaluation.json")["metrics"]
    return {**(same or stored), "ds": prev_ds, "same_holdout": same is not None}

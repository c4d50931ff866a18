"""The ranker's objectives and the composite score the nightly ranks by.

One head per objective (``vidrec.settings.OBJECTIVES``), trained on the training set's train split:

- ``watch``: the LambdaMART ranker over the graded label (``models.ranking.ranker.fit_ranker``: 2 liked or
  shared, 1 watched at least half), its margin turned into p(label > 0) by Platt scaling (a logistic fit of
  the label on the margin over the heads' sample of train rows);
- ``click``, ``like``, ``share``, ``not_interested``: an XGBoost binary classifier each (``HEAD_TREES`` trees,
  at most ``HEAD_ROWS`` rows sampled, one quantized matrix shared) on its 0/1 target
  (``models.ranking.training_set.TARGET_EVENTS``), trained when the train split holds at least
  ``MIN_POSITIVES`` of it and the rows are not all positive; otherwise skipped, and its weight counts for nothing.

``Scorer.score`` is the composite: sum over the heads of weight x probability, the weights being the
product's (``Settings.weights``, ``VIDREC_OBJECTIVE_WEIGHTS``; negative for not_interested), plus the retrieval
scores when the ranker parameters' ``blend_weight`` is above 0 (``models.ranking.blend``; kept in ranker.json's
``params``, so rank and evaluate order as training chose). Every head reads the same feature matrix, so
training and scoring see the features one way.

Artifacts beside the ranker's (``runs/<ds>/ranker/``): ``heads/<objective>.json`` (XGBoost's JSON), and in
``ranker.json`` ``calibration`` [a, b] and ``objectives`` (per head: trained, positives, validation AUC).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from models import io, manifest
from models.metrics import ndcg_of_scores
from models.ranking.blend import final_score
from models.ranking.ranker import (RankerParams, feature_columns, feature_matrix, fit_ranker, load_ranker, save_ranker,
                                   validation_metrics)
from models.ranking.training_set import LABEL, SPLIT, TARGET_EVENTS
from vidrec.settings import OBJECTIVES, Settings

log = logging.getLogger("vidrec.ranker")

MIN_POSITIVES = 50
HEAD_TREES = 60  # per binary head: the heads' cost at rank time is rows x trees, like the ranker's
HEAD_ROWS = 400_000  # rows the heads and the calibration learn from at most
TARGETS = {"watch": LABEL, **{name: f"y_{name}" for name in OBJECTIVES[1:]}}
assert set(TARGETS.values()) - {LABEL} == set(TARGET_EVENTS)


def target(frame: pd.DataFrame, objective: str) -> np.ndarray | None:
    """0/1 per row of ``frame`` for ``objective`` (None when the frame does not carry it)."""
    column = TARGETS[objective]
    return None if column not in frame.columns else (frame[column].to_numpy() > 0).astype(np.int8)


@dataclass
class Scorer:
    """The trained heads and the weights that combine them."""

    watch: object
    features: list[str]
    calibration: tuple[float, float] = (1.0, 0.0)
    heads: dict = field(default_factory=dict)      # objective -> xgboost.Booster (binary:logistic)
    weights: dict = field(default_factory=lambda: {"watch": 1.0})
    blend: tuple[float, float] = (0.0, 2.0)  # (weight, als) of models.ranking.blend.final_score

    def probabilities(self, frame: pd.DataFrame, extra: dict | None = None) -> dict[str, np.ndarray]:
        """{objective: probability per row of ``frame``} for every trained head."""
        if frame.empty:
            return {name: np.empty(0) for name in ["watch", *self.heads]}
        X = feature_matrix(frame, self.features, extra)
        a, b = self.calibration
        out = {"watch": _sigmoid(a * self.watch.predict(X).astype(np.float64) + b)}
        for name, head in self.heads.items():
            out[name] = head.inplace_predict(X).astype(np.float64)
        return out

    def score(self, frame: pd.DataFrame, extra: dict | None = None) -> np.ndarray:
        """What ``frame``'s rows are ordered by: the composite (``combine`` of ``probabilities``) blended with
        the retrieval scores within each user (``blended``)."""
        return self.blended(frame, self.combine(self.probabilities(frame, extra), len(frame)))

    def blended(self, frame: pd.DataFrame, composite: np.ndarray) -> np.ndarray:
        """``composite`` with the retrieval scores added back (``models.ranking.blend.final_score``)."""
        return final_score(frame, composite, *self.blend)

    def combine(self, probabilities: dict[str, np.ndarray], rows: int) -> np.ndarray:
        """The composite: sum of weight x probability over the trained heads."""
        total = np.zeros(rows)
        for name, p in probabilities.items():
            total += self.weights.get(name, 0.0) * p
        return total

    def with_weights(self, weights: dict) -> "Scorer":
        return replace(self, weights=dict(weights))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def calibrate(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: (a, b) of p = sigmoid(a * margin + b) fitted to ``y`` (identity when y is all one class)."""
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():
        return 1.0, 0.0
    fit = LogisticRegression(C=1e4).fit(margin.reshape(-1, 1).astype(np.float64), y)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def fit_heads(train: pd.DataFrame, features: list[str], params: RankerParams, *, seed: int,
              weights: dict | None = None, head_rows: int = HEAD_ROWS) -> tuple[Scorer, dict]:
    """The watch ranker, its calibration and every binary head ``train`` can support; and per objective
    {"trained": bool, "positives": n[, "skipped": why]}. The calibration and the heads learn from at most
    ``head_rows`` rows (a seeded uniform sample, so probabilities stay calibrated), quantized once for all heads."""
    import xgboost as xgb

    watch = fit_ranker(train, features, params, seed=seed)
    if len(train) > head_rows:
        train = train.iloc[np.sort(np.random.default_rng(seed).choice(len(train), head_rows, replace=False))]
    X = feature_matrix(train, features).copy()  # every head reads the same rows
    y = target(train, "watch")
    calibration = calibrate(watch.predict(X), y)
    report, heads, data = {"watch": {"trained": True, "positives": int(y.sum())}}, {}, None
    booster = {"objective": "binary:logistic", "tree_method": "hist", "seed": seed, "nthread": params.n_jobs,
               "max_depth": params.max_depth, "eta": params.learning_rate, "subsample": params.subsample,
               "colsample_bytree": params.colsample_bytree}
    for name in OBJECTIVES[1:]:
        y = target(train, name)
        positives = 0 if y is None else int(y.sum())
        report[name] = {"trained": False, "positives": positives}
        if y is None or positives < MIN_POSITIVES or positives == len(y):
            report[name]["skipped"] = (f"{positives} positives (< {MIN_POSITIVES})" if positives < MIN_POSITIVES
                                       else "every row is positive")
            continue
        if data is None:
            data = xgb.QuantileDMatrix(X, label=y)
        data.set_label(y)
        heads[name] = xgb.train(booster, data, num_boost_round=HEAD_TREES)
        report[name]["trained"] = True
    return Scorer(watch, list(features), calibration, heads, dict(weights or {"watch": 1.0}),
                  (params.blend_weight, params.blend_als)), report


def validation(probabilities: dict[str, np.ndarray], valid: pd.DataFrame, report: dict) -> dict:
    """``report`` with each trained head's AUC on ``valid`` (its ``probabilities``; None when the day has one
    class only)."""
    from sklearn.metrics import roc_auc_score

    out = {name: dict(entry) for name, entry in report.items()}
    if valid.empty:
        return out
    for name, p in probabilities.items():
        y = target(valid, name)
        ok = y is not None and 0 < y.sum() < len(y)
        out[name]["auc"] = round(float(roc_auc_score(y, p)), 4) if ok else None
    return out


def save_scorer(scorer: Scorer, meta: dict, directory: Path) -> Path:
    """The watch ranker (``save_ranker``), the heads under heads/, the calibration in ranker.json."""
    save_ranker(scorer.watch, {**meta, "calibration": list(scorer.calibration)}, directory)
    (directory / "heads").mkdir(exist_ok=True)
    for name, head in scorer.heads.items():
        head.save_model(str(directory / "heads" / f"{name}.json"))
    return directory


def load_scorer(directory: Path, weights: dict) -> tuple[Scorer, dict]:
    """(Scorer with ``weights``, the ranker's meta) from ``save_scorer``'s folder; a ranker saved without
    heads (older runs) scores by its calibrated watch head alone."""
    import xgboost as xgb

    watch, meta = load_ranker(directory)
    heads = {}
    for name in OBJECTIVES[1:]:
        path = directory / "heads" / f"{name}.json"
        if path.exists():
            heads[name] = xgb.Booster(model_file=str(path))
    calibration = tuple(meta.get("calibration", (1.0, 0.0)))
    trained = meta.get("params", {})
    blend = (trained.get("blend_weight", 0.0), trained.get("blend_als", 2.0))  # older runs: the ranker alone
    return Scorer(watch, meta["features"], calibration, heads, dict(weights), blend), meta


def run(settings: Settings, ds: str) -> dict:
    """The nightly's train_ranker job: every head fitted on runs/<ds>/training_set.parquet's train split and
    measured on its valid split (per-objective AUC, the watch head's and the composite's nDCG); writes
    runs/<ds>/ranker/."""
    started = time.monotonic()
    out, params, weights = io.run_dir(settings, ds), RankerParams.from_settings(settings), settings.weights()
    rows = io.read_parquet(out / "training_set.parquet")
    source = manifest.read_manifest(settings, ds).get("jobs", {}).get("build_training_set", {}).get("feature_source")
    if source is None:
        raise RuntimeError(f"the manifest of run {ds} does not say which features the training set has")
    features = feature_columns(rows)
    train, valid = rows[rows[SPLIT] == "train"], rows[rows[SPLIT] == "valid"]
    scorer, report = fit_heads(train, features, params, seed=settings.seed, weights=weights)
    metrics = validation_metrics(scorer.watch, valid, features, params.eval_k)
    probabilities = scorer.probabilities(valid)  # once, for the composite and every head's AUC
    if not valid.empty:
        composite = scorer.blended(valid, scorer.combine(probabilities, len(valid)))
        metrics[f"composite_ndcg@{params.eval_k}"] = ndcg_of_scores(valid, composite, params.eval_k)
    heads = validation(probabilities, valid, report)
    meta = {"features": features, "feature_source": source, "params": asdict(params), "seed": settings.seed,
            "validation": metrics, "objectives": heads, "weights": weights}
    save_scorer(scorer, meta, out / "ranker")
    seconds = round(time.monotonic() - started, 2)
    counts = {"train": len(train), "valid": len(valid), "features": len(features)}
    manifest.update_manifest(settings, ds, "train_ranker", params={**asdict(params), "seed": settings.seed},
                             rows=counts, metrics=metrics, features=features, feature_source=source, seconds=seconds,
                             objectives=heads, weights=weights)
    log.info("train_ranker %s: %s %s objectives %s in %.1f s", ds, counts, metrics, heads, seconds)
    return {"ds": ds, **counts, **metrics, "objectives": heads, "weights": weights, "seconds": seconds}

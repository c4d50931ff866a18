"""Offline evaluation harness behind ``vidrec eval``: public datasets, splits, baselines, one metrics table.

``models.evaluation.datasets`` reads MovieLens 100K (a folder with ``u.data``), ml-latest-small (a folder with
``ratings.csv``) or any CSV into (user_id, video_id[, rating][, ts]), and catalogs. Every row counts as an implicit
positive (Microsoft Recommenders' practice for ranking metrics on MovieLens); the rating is kept for
reference only. ``split`` applies one protocol of ``models.evaluation.splits``; ``evaluate`` fits each recommender
on train, recommends the top-k unseen items for every test user and scores them with
``models.metrics``.

Recommenders share one interface: ``fit(train)`` then ``recommend(users, k)`` -> (user_id, video_id,
rank), never returning an item the user has in train. Built in: the baselines of ``models.evaluation.baselines``
(``Popularity``, ``ItemKNN``: cosine co-occurrence neighbours, ``ALS``: ``models.retrieval.als.fit_als``) and
the production recommender ``two_stage`` (``models.evaluation.two_stage``: the nightly retrieval and ranker code).
Parameters come from the one parameters file the nightly also reads (``models.parameters.resolve``: by
default ``models/tuned/two_stage.json``, written by ``vidrec eval ... --tune --save``, ``models.evaluation.tuning``);
other recommenders plug in as instances: ``evaluate(..., recommenders={...})``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from models import parameters
from models.evaluation import signals
from models.evaluation.baselines import ALS, ItemKNN, Popularity
from models.evaluation.splits import leave_last_out, random_split_per_user, time_split
from models.evaluation.two_stage import TwoStage, TwoStageParams
from models.metrics import metrics_of
from models.retrieval.als import AlsParams
from vidrec.settings import Settings
from vidrec.tables import TS, USER_ID

TUNED = parameters.SHIPPED  # the shipped file; the one in effect is parameters.resolve(settings)
PROTOCOLS = ("msr", "time", "leave-last-out")
TRAIN_RATIO = 0.75


# ----------------------------------------------------------------------------------------------- splits

def split(df: pd.DataFrame, protocol: str, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) by ``protocol``: "msr" random 75/25 per user (seeded), "time" a global cut at the
    75% quantile of ``ts`` (earlier rows train), "leave-last-out" each user's latest row as test."""
    if protocol == "msr":
        return random_split_per_user(df, TRAIN_RATIO, seed)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: one of {PROTOCOLS}")
    if TS not in df.columns:
        raise ValueError(f"protocol {protocol!r} needs a {TS!r} column")
    if protocol == "time":
        return time_split(df, cut=df[TS].quantile(TRAIN_RATIO, interpolation="higher"))
    return leave_last_out(df)


# --------------------------------------------------------------------------------------------- recommenders

RECOMMENDERS = {"popularity": Popularity, "itemknn": ItemKNN, "als": ALS, "two_stage": TwoStage}


def tuned_params(path: Path | None = None, settings: Settings | None = None) -> dict:
    """The ``params`` (``{"als": {...}, "two_stage": {...}}``) of the file at ``path``; by default the file the
    nightly reads for ``settings`` (``Settings.from_env()`` when None; ``models.parameters.resolve``)."""
    if path is None:
        path = parameters.resolve(settings if settings is not None else Settings.from_env())
    return parameters.load(path)["params"]


def make_recommender(name: str, seed: int = 42, protocol: str = "msr", catalog: pd.DataFrame | None = None,
                     params: dict | None = None, weights: dict | None = None):
    """A fresh recommender ``name`` with the tuned parameters (``params`` overrides them); ``two_stage``
    combines its objectives by ``weights`` on data with signals."""
    if name not in RECOMMENDERS:
        raise ValueError(f"unknown recommender {name!r}: one of {sorted(RECOMMENDERS)}")
    params = tuned_params() if params is None else params
    if name == "als":
        return ALS(params=AlsParams(**params.get("als", {})), seed=seed)
    if name == "two_stage":
        return TwoStage(TwoStageParams.from_dict(params.get("two_stage", {})), catalog=catalog, protocol=protocol,
                        seed=seed, weights=weights)
    return RECOMMENDERS[name]()


# ---------------------------------------------------------------------------------------------- evaluate

def objective_weights(weights: dict | None) -> dict:
    """``weights``, or when None the product's (``Settings.weights``: ``VIDREC_OBJECTIVE_WEIGHTS``)."""
    return weights if weights is not None else Settings.from_env().weights()


def metric_keys(k: int) -> list[str]:
    return [f"ndcg@{k}", f"precision@{k}", f"recall@{k}", "map", f"map@{k}", f"hit_rate@{k}", "coverage",
            "category_diversity", "creator_diversity", "mean_popularity", "train_s", "infer_s"]


def compare(train: pd.DataFrame, test: pd.DataFrame, recommenders: dict, k: int = 10,
            catalog: pd.DataFrame | None = None, weights: dict | None = None) -> dict:
    """name -> metrics of each recommender fitted on ``train`` and scored on ``test``'s users.

    On data with engagement signals (``models.evaluation.signals``) the accuracy metrics count the engaged
    test rows only, and ``composite_metrics`` under ``weights`` (default: the settings' objective weights) are
    added: each objective's share of the top k and the composite's nDCG.

    ``coverage`` is distinct items in the top-k lists / items in train; ``category_diversity`` and
    ``creator_diversity`` the intra-list diversity of the catalog's column (None without a catalog or
    the column); ``mean_popularity`` the mean train count of recommended items. Times in seconds
    (``time.perf_counter``), rounded to 3 decimals; metrics rounded to 6.
    """
    users, with_signals = test[USER_ID].unique(), signals.has_signals(test)
    weights = objective_weights(weights) if with_signals else weights
    labeled, truth, out = signals.labels(test) if with_signals else None, signals.engaged(test), {}
    for name, rec in recommenders.items():
        t0 = time.perf_counter()
        rec.fit(train)
        t1 = time.perf_counter()
        recs = rec.recommend(users, k)
        t2 = time.perf_counter()
        out[name] = {**metrics_of(recs, truth, k, train, catalog), "train_s": round(t1 - t0, 3),
                     "infer_s": round(t2 - t1, 3)}
        if with_signals:
            out[name].update(signals.composite_metrics(recs, labeled, k, weights))
    return out


def evaluate(df: pd.DataFrame, protocol: str, k: int = 10, seed: int = 42, recommenders=None,
             dataset: str | None = None, catalog: pd.DataFrame | None = None, params: dict | None = None,
             weights: dict | None = None) -> dict:
    """Split ``df`` by ``protocol`` (seeded) and ``compare`` the recommenders on it.

    ``recommenders``: None (all of ``RECOMMENDERS``), names, or a mapping name -> Recommender instance;
    named ones get ``params`` (default: ``tuned_params()``, the file in effect) and the seed; ``weights``:
    the objectives' (data with signals; default: the settings').
    """
    train, test = split(df, protocol, seed)
    weights = objective_weights(weights) if signals.has_signals(df) else weights
    if recommenders is None:
        recommenders = list(RECOMMENDERS)
    if not isinstance(recommenders, dict):
        recommenders = {name: make_recommender(name, seed, protocol, catalog, params, weights)
                        for name in recommenders}
    return {"dataset": dataset or df.attrs.get("name", "custom"), "protocol": protocol, "k": k, "seed": seed,
            "recommenders": compare(train, test, recommenders, k, catalog, weights)}


def evaluate_seeds(df: pd.DataFrame, protocol: str, seeds, k: int = 10, recommenders=None,
                   dataset: str | None = None, catalog: pd.DataFrame | None = None, params: dict | None = None,
                   weights: dict | None = None) -> dict:
    """``evaluate`` once per seed (split and models); ``recommenders`` holds the mean of each metric over
    the seeds, ``spread`` the standard deviation (ddof 0), ``runs`` each seed's result."""
    runs = [evaluate(df, protocol, k, seed, recommenders, dataset, catalog, params, weights) for seed in seeds]
    means, spread = {}, {}
    for name in runs[0]["recommenders"]:
        table = pd.DataFrame([r["recommenders"][name] for r in runs], dtype=float)
        means[name] = {m: None if np.isnan(v) else round(float(v), 6) for m, v in table.mean().items()}
        spread[name] = {m: None if np.isnan(v) else round(float(v), 6) for m, v in table.std(ddof=0).items()}
    return {**{key: runs[0][key] for key in ("dataset", "protocol", "k")}, "seeds": list(seeds),
            "recommenders": means, "spread": spread, "runs": runs}


def markdown_table(result: dict) -> str:
    """A GitHub markdown table of ``evaluate``'s result, one row per recommender."""
    keys, spread = metric_keys(result["k"]), result.get("spread", {})
    keys += [m for m in next(iter(result["recommenders"].values()), {}) if m not in keys]  # composite metrics
    lines = ["| recommender | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, vals in result["recommenders"].items():
        cells = ["-" if vals.get(m) is None else f"{vals[m]:.3f}" if m.endswith("_s") or m == "mean_popularity"
                 else f"{vals[m]:.4f}" for m in keys]
        if name in spread:  # mean ± standard deviation over seeds
            cells = [c if spread[name].get(m) is None else f"{c} ± {spread[name][m]:.{3 if m.endswith('_s') else 4}f}"
                     for c, m in zip(cells, keys)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

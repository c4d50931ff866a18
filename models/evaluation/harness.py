"""Offline evaluation harness behind ``vidrec eval``: public datasets, splits, baselines, one metrics table.

``models.evaluation.datasets`` reads MovieLens 100K (a folder with ``u.data``), ml-latest-small (a folder with
``ratings.csv``) or any CSV into (user_id, video_id[, rating][, ts]), and catalogs. Every row counts as an implicit
positive (Microsoft Recommenders' practice for ranking metrics on MovieLens); the rating is kept for
reference only. ``split`` applies one protocol of ``models.evaluation.splits``; ``evaluate`` fits each recommender
on train, recommends the top-k unseen items for every test user and scores them with
``models.metrics``.

Recommenders share one interface: ``fit(train)`` then ``recommend(users, k)`` -> (user_id, video_id,
rank), never returning an item the user has in train. Built in: ``Popularity``, ``ItemKNN`` (cosine
co-occurrence neighbours, ``models.retrieval.matrix.build_cowatch``), ``ALS`` (``models.retrieval.als.fit_als``) and the
production recommender ``two_stage`` (``models.evaluation.two_stage``: the nightly retrieval and ranker code).
Parameters come from ``models/tuned/two_stage.json``, written by ``vidrec eval tune --save``
(``models.evaluation.tuning``); other recommenders plug in as instances: ``evaluate(..., recommenders={...})``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.retrieval.als import AlsParams, fit_als
from models.retrieval.matrix import CONFIDENCE, IdMap, build_cowatch, build_user_items
from models.metrics import metrics_of
from models.evaluation.splits import leave_last_out, random_split_per_user, time_split
from models.evaluation.two_stage import TwoStage, TwoStageParams
from vidrec.tables import TS, USER_ID, VIDEO_ID

TUNED = Path(__file__).resolve().parents[1] / "tuned" / "two_stage.json"
PROTOCOLS = ("msr", "time", "leave-last-out")
TRAIN_RATIO = 0.75
BATCH_USERS = 2048


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

def _top_k(scores: np.ndarray, seen: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of each row's ``k`` best columns of dense ``scores`` in rank order, skipping the
    nonzeros of ``seen`` (same shape); rows with fewer unseen columns get fewer."""
    scores = scores.astype(np.float64, copy=True)
    r, c = seen.nonzero()
    scores[r, c] = -np.inf
    kk = min(k, scores.shape[1])
    if kk == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)  # score desc, then column asc
    cols = np.take_along_axis(part, order, axis=1)
    ok = np.isfinite(np.take_along_axis(part_scores, order, axis=1))
    rows = np.broadcast_to(np.arange(scores.shape[0])[:, None], cols.shape)
    return rows[ok], cols[ok]


class Recommender:
    """Base: ``fit`` builds the binary users x items train matrix and its IdMap (``models.retrieval.matrix``);
    subclasses score users in ``_scores``. Users unknown at fit time have no train items (cold)."""

    name = "base"

    def fit(self, train: pd.DataFrame) -> "Recommender":
        pairs = train[[USER_ID, VIDEO_ID]].drop_duplicates().assign(**{CONFIDENCE: 1.0})
        self.user_items, self.idmap = build_user_items(pairs)
        self.popularity = np.asarray(self.user_items.sum(axis=0)).ravel()
        self._fit()
        return self

    def _fit(self) -> None:
        pass

    def _scores(self, rows: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def _seen(self, rows: np.ndarray) -> sp.csr_matrix:
        known = np.where(rows >= 0, rows, 0)
        seen = self.user_items[known].tocsr()
        return sp.diags((rows >= 0).astype(np.float32)) @ seen

    def recommend(self, users, k: int) -> pd.DataFrame:
        """Top ``k`` (user_id, video_id, rank from 1) per user, excluding the user's train items."""
        users = pd.unique(np.asarray(users, dtype=object))
        out = []
        for start in range(0, len(users), BATCH_USERS):
            batch = users[start:start + BATCH_USERS]
            rows = self.idmap.user_rows(batch)
            seen = self._seen(rows).tocsr()
            r, c = self._top_k(rows, seen, k)
            frame = pd.DataFrame({USER_ID: batch[r], VIDEO_ID: self.idmap.videos[c]})
            out.append(frame.assign(rank=frame.groupby(USER_ID, sort=False).cumcount() + 1))
        if not out:
            return pd.DataFrame({USER_ID: [], VIDEO_ID: [], "rank": []})
        return _restore_dtypes(pd.concat(out, ignore_index=True), self.idmap)

    def _top_k(self, rows, seen, k):
        return _top_k(self._scores(rows, seen), seen, k)


def _restore_dtypes(recs: pd.DataFrame, idmap: IdMap) -> pd.DataFrame:
    """IdMap holds object arrays; give the id columns back a numeric dtype when the ids are numbers."""
    for col in (USER_ID, VIDEO_ID):
        try:
            recs[col] = pd.to_numeric(recs[col]) if len(recs) else recs[col]
        except (ValueError, TypeError):
            pass
    recs["rank"] = recs["rank"].astype(np.int64)
    return recs


class Popularity(Recommender):
    """The most-interacted train items the user has not seen (ties: lower column, i.e. smaller id)."""

    name = "popularity"

    def _scores(self, rows, seen):
        return np.broadcast_to(self.popularity.astype(np.float64), (len(rows), len(self.popularity)))


@dataclass
class ItemKNN(Recommender):
    """Item-item cosine co-occurrence: score(u, j) = sum over the user's train items i of sim(i, j),
    each item keeping its ``neighbours`` most similar items (``models.retrieval.matrix.build_cowatch``). Ties and
    users without neighbour scores fall back to popularity (a 1e-9 tie-break)."""

    neighbours: int = 100
    name = "itemknn"

    def _fit(self):
        self.similarity = build_cowatch(self.user_items, self.neighbours).tocsr()

    def _scores(self, rows, seen):
        knn = np.asarray((seen @ self.similarity).todense(), dtype=np.float64)
        tie = self.popularity / max(self.popularity.max(), 1.0) * 1e-9
        return knn + tie


@dataclass
class ALS(Recommender):
    """implicit's ALS through ``models.retrieval.als.fit_als`` (CPU, seeded) on the binary train matrix; batch
    ``recommend`` with ``filter_already_liked_items=True``. Users unknown at fit time (no factors) get the
    popularity list, as they do from ``Popularity`` and ``ItemKNN``."""

    params: AlsParams | None = None  # None: AlsParams() defaults
    seed: int = 42
    name = "als"

    def _fit(self):
        self.model = fit_als(self.user_items, self.params or AlsParams(), use_gpu=False, seed=self.seed)

    def _top_k(self, rows, seen, k):
        known, cold = np.flatnonzero(rows >= 0), np.flatnonzero(rows < 0)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        out_r, out_c = [], []
        if len(known):
            ids, scores = self.model.recommend(rows[known], self.user_items[rows[known]], N=k,
                                               filter_already_liked_items=True)
            ids, scores = np.atleast_2d(ids), np.atleast_2d(scores)
            ok = (ids >= 0) & np.isfinite(scores) & (scores > -1e30)
            out_r.append(np.broadcast_to(known[:, None], ids.shape)[ok])
            out_c.append(ids[ok])
        if len(cold):  # no factors for users unseen at fit time: popularity, as the other baselines do
            pop = np.broadcast_to(self.popularity.astype(np.float64), (len(cold), len(self.popularity)))
            r, c = _top_k(pop, sp.csr_matrix(pop.shape, dtype=np.float32), k)
            out_r.append(cold[r])
            out_c.append(c)
        r, c = np.concatenate(out_r), np.concatenate(out_c)
        order = np.argsort(r, kind="stable")  # users back in input order, ranks kept within each user
        return r[order], c[order]


RECOMMENDERS = {"popularity": Popularity, "itemknn": ItemKNN, "als": ALS, "two_stage": TwoStage}


def tuned_params(path: Path = TUNED) -> dict:
    """The parameters ``vidrec eval tune --save`` chose (``{"als": {...}, "two_stage": {...}}``); {} if none."""
    import json

    return json.loads(path.read_text())["params"] if path.exists() else {}


def make_recommender(name: str, seed: int = 42, protocol: str = "msr", catalog: pd.DataFrame | None = None,
                     params: dict | None = None):
    """A fresh recommender ``name`` with the tuned parameters (``params`` overrides them)."""
    if name not in RECOMMENDERS:
        raise ValueError(f"unknown recommender {name!r}: one of {sorted(RECOMMENDERS)}")
    params = tuned_params() if params is None else params
    if name == "als":
        return ALS(params=AlsParams(**params.get("als", {})), seed=seed)
    if name == "two_stage":
        return TwoStage(TwoStageParams.from_dict(params.get("two_stage", {})), catalog=catalog, protocol=protocol,
                        seed=seed)
    return RECOMMENDERS[name]()


# ---------------------------------------------------------------------------------------------- evaluate

def metric_keys(k: int) -> list[str]:
    return [f"ndcg@{k}", f"precision@{k}", f"recall@{k}", "map", f"map@{k}", f"hit_rate@{k}", "coverage",
            "category_diversity", "creator_diversity", "mean_popularity", "train_s", "infer_s"]


def compare(train: pd.DataFrame, test: pd.DataFrame, recommenders: dict, k: int = 10,
            catalog: pd.DataFrame | None = None) -> dict:
    """name -> metrics of each recommender fitted on ``train`` and scored on ``test``'s users.

    ``coverage`` is distinct items in the top-k lists / items in train; ``category_diversity`` and
    ``creator_diversity`` the intra-list diversity of the catalog's column (None without a catalog or
    the column); ``mean_popularity`` the mean train count of recommended items. Times in seconds
    (``time.perf_counter``), rounded to 3 decimals; metrics rounded to 6.
    """
    users = test[USER_ID].unique()
    out = {}
    for name, rec in recommenders.items():
        t0 = time.perf_counter()
        rec.fit(train)
        t1 = time.perf_counter()
        recs = rec.recommend(users, k)
        t2 = time.perf_counter()
        out[name] = {**metrics_of(recs, test, k, train, catalog), "train_s": round(t1 - t0, 3),
                     "infer_s": round(t2 - t1, 3)}
    return out


def evaluate(df: pd.DataFrame, protocol: str, k: int = 10, seed: int = 42, recommenders=None,
             dataset: str | None = None, catalog: pd.DataFrame | None = None, params: dict | None = None) -> dict:
    """Split ``df`` by ``protocol`` (seeded) and ``compare`` the recommenders on it.

    ``recommenders``: None (all of ``RECOMMENDERS``), names, or a mapping name -> Recommender instance;
    named ones get ``params`` (default: the tuned file) and the seed.
    """
    train, test = split(df, protocol, seed)
    if recommenders is None:
        recommenders = list(RECOMMENDERS)
    if not isinstance(recommenders, dict):
        recommenders = {name: make_recommender(name, seed, protocol, catalog, params) for name in recommenders}
    return {"dataset": dataset or df.attrs.get("name", "custom"), "protocol": protocol, "k": k, "seed": seed,
            "recommenders": compare(train, test, recommenders, k, catalog)}


def evaluate_seeds(df: pd.DataFrame, protocol: str, seeds, k: int = 10, recommenders=None,
                   dataset: str | None = None, catalog: pd.DataFrame | None = None) -> dict:
    """``evaluate`` once per seed (split and models); ``recommenders`` holds the mean of each metric over
    the seeds, ``spread`` the standard deviation (ddof 0), ``runs`` each seed's result."""
    runs = [evaluate(df, protocol, k, seed, recommenders, dataset, catalog) for seed in seeds]
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
    lines = ["| recommender | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, vals in result["recommenders"].items():
        cells = ["-" if vals.get(m) is None else f"{vals[m]:.3f}" if m.endswith("_s") or m == "mean_popularity"
                 else f"{vals[m]:.4f}" for m in keys]
        if name in spread:  # mean ± standard deviation over seeds
            cells = [c if spread[name].get(m) is None else f"{c} ± {spread[name][m]:.{3 if m.endswith('_s') else 4}f}"
                     for c, m in zip(cells, keys)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

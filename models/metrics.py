"""Offline ranking and beyond-accuracy metrics on pandas frames (Microsoft Recommenders' definitions).

``truth`` holds (user, item) test interactions, all relevant (binary relevance, duplicates ignored);
``recs`` holds (user, item, rank) with rank 1..k. Accuracy metrics are averaged over the users of
``truth`` (every user there has at least one relevant item); a user without recommendations scores 0,
recommendations for users absent from ``truth`` are ignored. (Recommenders averages over the users in
both frames; counting the missing ones as 0 is what the gate needs.) ``ranking_metrics`` computes
precision@k, recall@k and ndcg@k (with graded ``relevance`` when given), ``ndcg_of_scores`` the ranker's
nDCG of scored rows through it; ``metrics_of`` is the whole set the harness (``models.evaluation.harness``)
and the nightly gate (``models.evaluation.gate``) report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vidrec.tables import USER_ID, VIDEO_ID

USER_COL = USER_ID
ITEM_COL = VIDEO_ID
RANK_COL = "rank"


def ranking_metrics(recs: pd.DataFrame, truth: pd.DataFrame, k: int, per_user: bool = False) -> dict:
    """precision@k, recall@k, ndcg@k averaged over the users of ``truth`` with a relevant item (users without
    recs score 0). A negative ``relevance`` (a gain that counts against a list: the composite's rejected
    videos, ``models.evaluation.signals``) lowers the DCG of a list that shows it and is never relevant.
    ``per_user``: also each user's nDCG@k (``ndcg_per_user``, a Series by user), for paired comparisons."""
    truth = truth.drop_duplicates([USER_ID, VIDEO_ID])
    if "relevance" not in truth.columns:
        truth = truth.assign(relevance=1.0)
    graded, truth = truth[truth["relevance"] != 0], truth[truth["relevance"] > 0]
    users = truth[USER_ID].unique()
    if len(users) == 0:
        empty = {f"precision@{k}": 0.0, f"recall@{k}": 0.0, f"ndcg@{k}": 0.0, "users": 0}
        return {**empty, "ndcg_per_user": pd.Series(dtype=float)} if per_user else empty
    top = recs[(recs["rank"] <= k) & recs[USER_ID].isin(users)]
    hit = top.merge(graded, on=[USER_ID, VIDEO_ID], how="inner")
    hits = (hit["relevance"] > 0).groupby(hit[USER_ID]).sum().reindex(users, fill_value=0)
    dcg = (hit["relevance"] / np.log2(hit["rank"] + 1)).groupby(hit[USER_ID]).sum().reindex(users, fill_value=0.0)
    ideal = truth.sort_values([USER_ID, "relevance"], ascending=[True, False])
    pos = ideal.groupby(USER_ID).cumcount() + 1
    ideal = ideal[pos <= k].assign(pos=pos[pos <= k])
    idcg = (ideal["relevance"] / np.log2(ideal["pos"] + 1)).groupby(ideal[USER_ID]).sum().reindex(users)
    n_rel = truth.groupby(USER_ID).size().reindex(users)
    out = {f"precision@{k}": float((hits / k).mean()), f"recall@{k}": float((hits / n_rel).mean()),
           f"ndcg@{k}": float((dcg / idcg).mean()), "users": int(len(users))}
    return {**out, "ndcg_per_user": dcg / idcg} if per_user else out


def ndcg_of_scores(frame: pd.DataFrame, scores, k: int, per_query: bool = False):
    """Mean NDCG@k of ordering each query's rows by ``scores`` (ties: input order), with graded gain
    2^label - 1 (column ``label``); queries are (label_ds, user_id), or user_id without ``label_ds``;
    queries without a positive label are skipped. ``ranking_metrics`` with the query as the user and the
    row as the item (the ranker's validation and the gate's tests use it). ``per_query``: each query's nDCG@k
    instead of the mean (a Series by query number, in the order of first appearance)."""
    keys = [c for c in ("label_ds", USER_ID) if c in frame.columns]
    if len(frame) == 0:
        return pd.Series(dtype=float) if per_query else 0.0
    q = frame.groupby(keys, sort=False).ngroup().to_numpy()
    order = np.lexsort((np.arange(len(q)), -np.asarray(scores, float), q))
    qs = q[order]
    rank = np.arange(len(qs)) - np.searchsorted(qs, qs, side="left") + 1
    recs = pd.DataFrame({USER_ID: qs, VIDEO_ID: order, "rank": rank})
    label = frame["label"].to_numpy(float)
    rows = np.flatnonzero(label > 0)
    truth = pd.DataFrame({USER_ID: q[rows], VIDEO_ID: rows, "relevance": np.exp2(label[rows]) - 1.0})
    out = ranking_metrics(recs, truth, k, per_user=per_query)
    return out["ndcg_per_user"].sort_index() if per_query else out[f"ndcg@{k}"]


def _evaluate(truth, recs, k, user_col, item_col, rank_col) -> dict:
    """``ranking_metrics`` on binary truth, whatever the column names."""
    names = {user_col: USER_ID, item_col: VIDEO_ID, rank_col: "rank"}
    t = truth[[user_col, item_col]].rename(columns=names)
    r = recs[[user_col, item_col, rank_col]].rename(columns=names)
    return ranking_metrics(r, t, k)


def precision_at_k(truth, recs, k, user_col=USER_COL, item_col=ITEM_COL, rank_col=RANK_COL) -> float:
    """Mean over truth users of hits in the top ``k`` / ``k`` (a shorter list still divides by ``k``)."""
    return _evaluate(truth, recs, k, user_col, item_col, rank_col)[f"precision@{k}"]


def recall_at_k(truth, recs, k, user_col=USER_COL, item_col=ITEM_COL, rank_col=RANK_COL) -> float:
    """Mean over truth users of hits in the top ``k`` / number of relevant items."""
    return _evaluate(truth, recs, k, user_col, item_col, rank_col)[f"recall@{k}"]


def ndcg_at_k(truth, recs, k, user_col=USER_COL, item_col=ITEM_COL, rank_col=RANK_COL) -> float:
    """Mean over truth users of DCG@k / ideal DCG@k, gain 1 per hit discounted by log2(rank + 1)."""
    return _evaluate(truth, recs, k, user_col, item_col, rank_col)[f"ndcg@{k}"]


def _hits(truth, recs, k, user_col, item_col, rank_col):
    """(hits, users, n_rel): the top-``k`` rows that are relevant, sorted by user and rank, with the
    hit's position among the user's hits (``hit_no``); the truth users; relevant items per user."""
    truth = truth[[user_col, item_col]].drop_duplicates()
    users = truth[user_col].unique()
    top = recs[(recs[rank_col] <= k) & recs[user_col].isin(users)][[user_col, item_col, rank_col]]
    hits = top.drop_duplicates([user_col, item_col]).merge(truth, on=[user_col, item_col])
    hits = hits.sort_values([user_col, rank_col], kind="mergesort")
    hits = hits.assign(hit_no=hits.groupby(user_col).cumcount() + 1)
    return hits, users, truth.groupby(user_col).size().reindex(users)


def _average_precision_sum(hits, users, user_col, rank_col) -> pd.Series:
    """Per truth user: sum over hits of precision at the hit's rank (hit_no / rank); 0 without hits."""
    prec = hits["hit_no"] / hits[rank_col]
    return prec.groupby(hits[user_col]).sum().reindex(users, fill_value=0.0)


def map_at_k(truth, recs, k, user_col=USER_COL, item_col=ITEM_COL, rank_col=RANK_COL) -> float:
    """MAP@k: mean over truth users of (sum of precision@rank at each hit in the top ``k``)
    / min(k, number of relevant items)."""
    hits, users, n_rel = _hits(truth, recs, k, user_col, item_col, rank_col)
    if len(users) == 0:
        return 0.0
    ap = _average_precision_sum(hits, users, user_col, rank_col) / np.minimum(n_rel, k)
    return float(ap.mean())


def map_full(truth, recs, k, user_col=USER_COL, item_col=ITEM_COL, rank_col=RANK_COL) -> float:
    """Recommenders' ``map``: as ``map_at_k`` but divided by the number of relevant items, so a user
    with more than ``k`` relevant items cannot reach 1."""
    hits, users, n_rel = _hits(truth, recs, k, user_col, item_col, rank_col)
    if len(users) == 0:
        return 0.0
    return float((_average_precision_sum(hits, users, user_col, rank_col) / n_rel).mean())


def hit_rate_at_k(truth, recs, k, user_col=USER_COL, item_col=ITEM_COL, rank_col=RANK_COL) -> float:
    """Share of truth users with at least one relevant item in their top ``k``."""
    hits, users, _ = _hits(truth, recs, k, user_col, item_col, rank_col)
    if len(users) == 0:
        return 0.0
    return float(hits[user_col].nunique() / len(users))


def catalog_coverage(recs, n_items: int, k: int | None = None, item_col=ITEM_COL, rank_col=RANK_COL) -> float:
    """Distinct items recommended (in the top ``k``, or all rows when None) / ``n_items``."""
    top = recs if k is None else recs[recs[rank_col] <= k]
    return float(top[item_col].nunique() / n_items) if n_items else 0.0


def intra_list_diversity(recs, item_attr, attr_col, k: int | None = None, user_col=USER_COL,
                         item_col=ITEM_COL, rank_col=RANK_COL) -> float:
    """1 - same-attribute pair rate, averaged over lists: for a list of n items, of its n(n-1)/2 pairs
    the share whose ``attr_col`` values are equal is c(c-1)/2 summed over the value counts c, / pairs.

    ``item_attr`` maps item_col -> attr_col; items without an attribute are left out of their list and
    lists with fewer than 2 attributed items (no pairs) are skipped. 0.0 when no list qualifies.
    """
    top = recs if k is None else recs[recs[rank_col] <= k]
    top = top[[user_col, item_col]].merge(item_attr[[item_col, attr_col]].drop_duplicates(item_col), on=item_col)
    top = top.dropna(subset=[attr_col])
    counts = top.groupby([user_col, attr_col]).size()
    same = (counts * (counts - 1) / 2).groupby(level=0).sum()
    n = counts.groupby(level=0).sum()
    pairs = n * (n - 1) / 2
    ok = pairs > 0
    return float((1.0 - same[ok] / pairs[ok]).mean()) if ok.any() else 0.0


def mean_popularity(recs, train, k: int | None = None, user_col=USER_COL, item_col=ITEM_COL,
                    rank_col=RANK_COL) -> float:
    """Mean over users of the mean popularity of their recommended items, popularity being the number
    of ``train`` rows of the item (0 for items not in ``train``). 0.0 without recommendations."""
    top = recs if k is None else recs[recs[rank_col] <= k]
    if top.empty:
        return 0.0
    pop = train.groupby(item_col).size()
    per_row = top[item_col].map(pop).fillna(0).astype(float)
    return float(per_row.groupby(top[user_col]).mean().mean())


def metrics_of(recs: pd.DataFrame, test: pd.DataFrame, k: int, train: pd.DataFrame | None = None,
               catalog: pd.DataFrame | None = None) -> dict:
    """The harness's metrics of top-k lists ``recs`` (user_id, video_id, rank) against ``test`` (user_id,
    video_id), rounded to 6 decimals: the accuracy metrics, and with ``train`` catalog coverage (distinct
    recommended items / items in train) and mean popularity (train rows per recommended item), with a
    ``catalog`` the intra-list category and creator diversity (None where unknown). The nightly gate
    (``models.evaluation.gate``) measures its holdout day with this function too."""
    base = ranking_metrics(recs, test[[USER_ID, VIDEO_ID]], k)
    values = {f"ndcg@{k}": base[f"ndcg@{k}"], f"precision@{k}": base[f"precision@{k}"],
              f"recall@{k}": base[f"recall@{k}"], "map": map_full(test, recs, k),
              f"map@{k}": map_at_k(test, recs, k), f"hit_rate@{k}": hit_rate_at_k(test, recs, k)}
    if train is not None:
        values["coverage"] = catalog_coverage(recs, train[VIDEO_ID].nunique(), k)
        values["mean_popularity"] = mean_popularity(recs, train, k)
    for col in ("category", "creator_id"):
        has = catalog is not None and col in catalog.columns and catalog[col].notna().any()
        values[f"{col.removesuffix('_id')}_diversity"] = intra_list_diversity(recs, catalog, col, k) if has else None
    return {m: None if v is None else round(float(v), 6) for m, v in values.items()}

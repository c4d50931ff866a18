"""What each (user, video) candidate carries beyond its retrieval scores: the recent video that explains
it (``attach_seeds``: "because you watched X") and the ranker's pair features (``add_pair_features``).
Both are vectorized over all candidates; ``models.retrieval.candidates.build_candidates`` calls them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.retrieval.history import History, within_users
from models.retrieval.matrix import IdMap, PairSet
from vidrec import dates
from vidrec.tables import USER_ID, VIDEO_ID

PAIR_FEATURES = ["als_dot", "category_affinity", "creator_affinity", "category_rejections", "age_days",
                 "video_popularity", "user_positives", "user_idle_days", "video_lead_days"]
DAY = pd.Timedelta(days=1)


def _best_seed(pairs: pd.DataFrame, seeds: pd.DataFrame, strength, chunk: int = 50_000) -> np.ndarray:
    """For each (u, v) row of ``pairs``: the ``seed`` of the ``seeds`` row (u, s, w, seed) maximizing
    w * strength(s, v) (ties: the first such row of ``seeds``); None when the user has no seed or every
    strength is 0. Each pair is expanded into its user's seed rows by position (no join, no sort), ``chunk``
    pairs at a time, so at most chunk x recent_videos rows exist at once."""
    out = np.full(len(pairs), None, dtype=object)
    order = np.argsort(seeds["u"].to_numpy(), kind="stable")
    su, ss = seeds["u"].to_numpy()[order], seeds["s"].to_numpy()[order]
    sw, names = seeds["w"].to_numpy(float)[order], seeds["seed"].to_numpy()[order]
    pu, pv = pairs["u"].to_numpy(), pairs["v"].to_numpy()
    lo_all, hi_all = np.searchsorted(su, pu, "left"), np.searchsorted(su, pu, "right")
    for start in range(0, len(pairs), chunk):
        lo, n = lo_all[start:start + chunk], (hi_all - lo_all)[start:start + chunk]
        total = int(n.sum())
        if not total:
            continue
        first_row = np.cumsum(n) - n  # of each pair's run in the expanded rows
        pos = np.repeat(np.arange(len(n)), n)
        rows = lo[pos] + np.arange(total) - first_row[pos]
        value = sw[rows] * strength(ss[rows], pv[start:start + chunk][pos])
        value[~(value > 0)] = 0.0  # NaN and non-positive never explain
        best = np.zeros(len(n))
        best[n > 0] = np.maximum.reduceat(value, first_row[n > 0])
        hit = np.flatnonzero((value == best[pos]) & (value > 0))
        hit = hit[np.r_[True, pos[hit][1:] != pos[hit][:-1]]] if len(hit) else hit  # the first per pair
        out[start + pos[hit]] = names[rows[hit]]
    return out


def attach_seeds(cands: pd.DataFrame, seeds: sp.csr_matrix, user_pos: np.ndarray, model, idmap: IdMap,
                 cowatch) -> pd.DataFrame:
    """``seed_video_id`` for als/cowatch rows: the recent video (weighted by recency) most similar to the
    candidate (ALS: cosine of item factors, so popular seeds do not explain everything; cowatch: co-watch
    similarity). ``user_pos``: each row's user as a row of ``seeds`` (-1: none). Rows of other sources
    keep None."""
    seed_coo = seeds.tocoo()
    seed_frame = pd.DataFrame({"u": seed_coo.row, "s": seed_coo.col, "w": seed_coo.data,
                               "seed": idmap.videos[seed_coo.col]})
    cands = cands.assign(seed_video_id=None)
    norms = np.linalg.norm(model.item_factors, axis=1, keepdims=True)
    unit = model.item_factors / np.where(norms > 0, norms, 1.0)
    strengths = {"als": lambda s, v: np.einsum("ij,ij->i", unit[s], unit[v]).clip(min=0),
                 "cowatch": lambda s, v: np.asarray(cowatch[s, v]).ravel()}
    for source, strength in strengths.items():
        mask = (cands["best_source"] == source).to_numpy() & (user_pos >= 0)
        pairs = pd.DataFrame({"u": user_pos[mask], "v": idmap.video_rows(cands.loc[mask, VIDEO_ID])})
        ok = pairs["v"].to_numpy() >= 0
        seeds_found = np.full(len(pairs), None, dtype=object)
        seeds_found[ok] = _best_seed(pairs[ok].reset_index(drop=True), seed_frame, strength)
        cands.loc[mask, "seed_video_id"] = seeds_found
    return cands


def add_pair_features(cands: pd.DataFrame, history: History, quality: pd.DataFrame, model, idmap: IdMap,
                      chunk: int = 500_000) -> pd.DataFrame:
    """Ranker features of each (user, video): ALS inner product (NaN when either is unknown to ALS), the
    user's share of positives in the video's category and of its creator, how many videos of its category
    the user marked not interested or disliked (``category_rejections``), the video's age in days, its
    popularity (log1p positive confidence in ``popular_days``), the user's number of positive videos, the
    days since the user's latest positive (``user_idle_days``) and how many days after it the video's
    first positive in the window came (``video_lead_days``; negative: the video was around before the
    user's last visit; NaN for a video without positives)."""
    u, v = idmap.user_rows(cands[USER_ID]), idmap.video_rows(cands[VIDEO_ID])
    dot = np.full(len(cands), np.nan)
    known = np.flatnonzero((u >= 0) & (v >= 0))
    for start in range(0, len(known), chunk):
        at = known[start:start + chunk]
        dot[at] = np.einsum("ij,ij->i", model.user_factors[u[at]], model.item_factors[v[at]])
    at = pd.Index(quality[VIDEO_ID], dtype=object).get_indexer(cands[VIDEO_ID])  # -1: not in the catalog (NaN)
    video = {c: quality[c].reset_index(drop=True).reindex(at).to_numpy()
             for c in ("category", "creator_id", "age_days", "video_popularity")}
    # New columns are added to a shallow copy one by one: the candidates' own columns are not copied.
    out = cands.copy(deep=False) if isinstance(cands.index, pd.RangeIndex) else cands.reset_index(drop=True)
    out["als_dot"], out["age_days"], out["video_popularity"] = dot, video["age_days"], video["video_popularity"]
    activity, user_ids = history.user_activity, out[USER_ID]
    out["user_positives"] = user_ids.map(activity["positives"]).fillna(0).to_numpy(float)
    user_last = user_ids.map(activity["last_ts"])
    out["user_idle_days"] = ((pd.Timestamp(dates.day_end(history.ds)) - user_last) / DAY).to_numpy()
    out["video_lead_days"] = ((out[VIDEO_ID].map(history.video_first_ts) - user_last) / DAY).to_numpy()
    users = user_ids.unique()
    for column, name, per_user, field in (("category", "category_affinity", history.affinity, "share"),
                                          ("creator_id", "creator_affinity", history.affinity, "share"),
                                          ("category", "category_rejections", history.rejections, "count")):
        per = within_users(per_user(column), users)  # one row per (user, value)
        row = PairSet(per[USER_ID], per[column]).positions(user_ids, video[column])
        value = np.zeros(len(out))
        value[row >= 0] = per[field].to_numpy(float)[row[row >= 0]]
        out[name] = value
    return out

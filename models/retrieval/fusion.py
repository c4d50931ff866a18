"""Reciprocal-rank fusion of the candidate sources (``fuse``), shared by user candidates, related videos
and the cold-start lists.

Each source produces (key, item, score) rows (``source_frame``); scores are comparable only within a
source. ``fuse`` keeps, per (key, item), the best score of each source (``score_<source>``, NaN where the
source did not retrieve it) and its rank in the key's list of that source (``rank_<source>``), and
scores the pair ``retrieval_score = sum_s 1 / (RRF_K + rank_s)``; ``best_source`` is the source that
ranked it best.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.retrieval.matrix import group_order, rank_in_groups
from vidrec.tables import USER_ID, VIDEO_ID

SOURCES = ("als", "cowatch", "content", "trending", "fresh")
SCORES = [f"score_{s}" for s in SOURCES]
RANKS = [f"rank_{s}" for s in SOURCES]
RRF_K = 60.0


def source_frame(users, videos, scores, **extra) -> pd.DataFrame:
    """One source's rows: (user_id, video_id, score float64) plus ``extra`` columns."""
    return pd.DataFrame({USER_ID: users, VIDEO_ID: videos, "score": np.asarray(scores, np.float64), **extra})


def fuse(frames: dict[str, pd.DataFrame], key: str, item: str, per_key: int) -> pd.DataFrame:
    """Union of per-source (key, item, score) frames: one row per (key, item) with ``score_<source>`` (the
    source's best score), ``rank_<source>`` (its rank in the key's list of that source, from 1; scale-free,
    so the ranker can compare users whose scores differ in scale), ``retrieval_score`` (reciprocal-rank
    fusion), ``best_source``, ``n_sources``; the best ``per_key`` rows of each key, sorted by key then
    retrieval_score (ties: item id).

    Other columns of a source frame (``trend_region``) are kept from that source's best row of the pair.
    Runs on integer codes with numpy sorts; no per-row Python.
    """
    frames = {s: f for s, f in frames.items() if len(f)}
    if not frames:
        return pd.DataFrame(columns=[key, item, *SCORES, *RANKS, "retrieval_score", "best_source", "n_sources"])
    long = pd.concat([f.assign(_src=SOURCES.index(s)) for s, f in frames.items()], ignore_index=True)
    kc, keys = pd.factorize(long[key], sort=True)
    ic, items = pd.factorize(long[item], sort=True)
    src, score = long["_src"].to_numpy(), long["score"].to_numpy(float)
    pair = kc.astype(np.int64) * len(items) + ic
    # the best row of each (source, key, item), then its rank within (source, key) by score
    by_score = np.argsort(-score, kind="stable")
    _, first = np.unique((src.astype(np.int64) * len(keys) + kc)[by_score] * len(items) + ic[by_score],
                         return_index=True)
    kept = by_score[first]
    group = src[kept].astype(np.int64) * len(keys) + kc[kept]
    order = kept[group_order(group, score[kept])]
    rank = rank_in_groups(src[order].astype(np.int64) * len(keys) + kc[order])
    rrf = 1.0 / (RRF_K + rank)
    pairs, inv = np.unique(pair[order], return_inverse=True)
    wide, wide_rank = np.full((len(pairs), len(SOURCES)), np.nan), np.full((len(pairs), len(SOURCES)), np.nan)
    wide[inv, src[order]] = score[order]
    wide_rank[inv, src[order]] = rank
    fused = np.bincount(inv, weights=rrf, minlength=len(pairs))
    best = group_order(inv, rrf)  # ties: lower source index (``order`` is sorted by source)
    best = best[rank_in_groups(inv[best]) == 1]
    out = pd.DataFrame({key: keys[pairs // len(items)], item: items[pairs % len(items)]})
    out[SCORES] = wide
    out[RANKS] = wide_rank
    out["retrieval_score"] = fused
    out["best_source"] = np.asarray(SOURCES, dtype=object)[src[order][best]]
    out["n_sources"] = np.bincount(inv, minlength=len(pairs))
    for col in [c for c in long.columns if c not in (key, item, "score", "_src")]:
        vals = long[col].to_numpy()[order]
        has = np.flatnonzero(pd.notna(vals))
        pair_of, first = np.unique(inv[has], return_index=True)  # the pair's first non-null row wins
        column = np.full(len(pairs), None, dtype=object)
        column[pair_of] = vals[has[first]]
        out[col] = column
    top = group_order(pairs // len(items), fused)  # ties: lower item id (pairs are sorted)
    return out.iloc[top[rank_in_groups((pairs // len(items))[top]) <= per_key]].reset_index(drop=True)

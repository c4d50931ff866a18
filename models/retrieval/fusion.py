"""Reciprocal-rank fusion of the candidate sources (``fuse``), shared by user candidates, related videos
and the cold-start lists.

Each source produces (key, item, score) rows; scores are comparable only within a source. Retrieval's
sources produce them as integers (``source_frame``: the user's position in the chunk of users, the
video's code in the as-of catalog, ``models.retrieval.history.History.video_ids``), so that excluding and
fusing never hash a string; ``fuse`` takes any key and item columns. ``fuse`` keeps, per (key, item), the
best score of each source (``score_<source>``, NaN where the source did not retrieve it) and its rank in
the key's list of that source (``rank_<source>``), and scores the pair
``retrieval_score = sum_s 1 / (RRF_K + rank_s)``; ``best_source`` is the source that ranked it best.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.retrieval.matrix import compiled

SOURCES = ("als", "cowatch", "content", "trending", "fresh", "text")
SCORES = [f"score_{s}" for s in SOURCES]
RANKS = [f"rank_{s}" for s in SOURCES]
RRF_K = 60.0
RESERVE = 10  # each source's top items always kept (when per_key allows: sources x RESERVE <= per_key)


U, V = "u", "v"  # a source row's user (position in the chunk's users) and video (code in the as-of catalog)


def source_frame(users, videos, scores, **extra) -> pd.DataFrame:
    """One source's rows: (u, v, score float64) plus ``extra`` columns; ``users`` are positions in the chunk
    of users and ``videos`` catalog codes (both int64; -1: a video outside the as-of catalog)."""
    return pd.DataFrame({U: np.asarray(users, np.int64), V: np.asarray(videos, np.int64),
                         "score": np.asarray(scores, np.float64), **extra})


def fuse(frames: dict[str, pd.DataFrame], key: str, item: str, per_key: int, reserve: int = RESERVE) -> pd.DataFrame:
    """Union of per-source (key, item, score) frames: one row per (key, item) with ``score_<source>`` (the
    source's best score), ``rank_<source>`` (its rank in the key's list of that source, from 1; scale-free,
    so the ranker can compare users whose scores differ in scale), ``retrieval_score`` (reciprocal-rank
    fusion), ``best_source``, ``n_sources``; ``per_key`` rows of each key: every source's top ``reserve``
    (a strong source is never buried by items that several weaker ones agree on), then the best by
    retrieval_score; sorted by key then retrieval_score (ties: item id). Within a source, equal scores rank
    by item id.

    Other columns of a source frame (``trend_region``) are kept from that source's best row of the pair
    (the first source, in SOURCES order, whose row has a value). The rows are sorted by key once; each
    key's lists are then fused in compiled code (``_fuse_keys``), and only the kept pairs become a frame.
    """
    frames = {s: f for s, f in frames.items() if len(f)}
    if not frames:
        return pd.DataFrame(columns=[key, item, *SCORES, *RANKS, "retrieval_score", "best_source", "n_sources"])
    long = _stacked(frames)
    kc, keys = _codes(long[key])
    ic, items = _codes(long[item])
    by_key = np.argsort(kc, kind="stable")
    starts = np.searchsorted(kc[by_key], np.arange(len(keys) + 1))
    out_key, out_item, wide, wide_rank, fused, best, n_src, rows = compiled("fuse_keys", _fuse_keys)(
        starts.astype(np.int64), by_key.astype(np.int64), long["_src"], ic.astype(np.int64),
        np.asarray(long["score"], np.float64), len(SOURCES), int(per_key), len(items), int(reserve))
    out = pd.DataFrame({key: keys.take(out_key), item: items.take(out_item)})
    out[SCORES] = wide
    out[RANKS] = wide_rank
    out["retrieval_score"] = fused
    out["best_source"] = np.asarray(SOURCES, dtype=object)[best]
    out["n_sources"] = n_src
    for col in [c for c in long if c not in (key, item, "score", "_src")]:
        vals = long[col]
        column = np.full(len(out), None, dtype=object)
        for s in range(len(SOURCES)):  # the first source whose best row of the pair has a value
            at = np.flatnonzero(pd.isna(column) & (rows[:, s] >= 0))
            got = vals[rows[at, s]]
            has = pd.notna(got)
            column[at[has]] = got[has]
        out[col] = column
    return out


def _stacked(frames: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """The frames' rows one after the other, {column: array} (what ``pd.concat`` gives, without copying each
    frame first), plus ``_src``: the source of each row (its position in SOURCES). A column that some frames
    lack is None in their rows."""
    columns = list(dict.fromkeys(c for f in frames.values() for c in f.columns))
    out = {c: np.concatenate([f[c].to_numpy() if c in f.columns else np.full(len(f), None, dtype=object)
                              for f in frames.values()]) for c in columns}
    out["_src"] = np.repeat(np.array([SOURCES.index(s) for s in frames], np.int64), [len(f) for f in frames.values()])
    return out


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values, sort=True)``; non-negative integers up to a few times their count (the codes of
    retrieval's sources) are their own codes (unused codes have no rows)."""
    if values.dtype.kind in "iu" and len(values) and values.min() >= 0 and values.max() < 4 * len(values) + 1024:
        return values.astype(np.int64, copy=False), np.arange(int(values.max()) + 1)
    return pd.factorize(values, sort=True)


def _fuse_keys(starts, by_key, src, item, score, n_sources, per_key, n_items, reserve):
    """Per key (rows ``by_key[starts[k]:starts[k + 1]]``): the best row of each (source, item), its rank in
    the source's list (score descending, then item), reciprocal-rank fusion per item, and ``per_key`` items:
    the top ``reserve`` of every source, then the best by fused score; in fused order (then item). Returns per
    kept pair: key, item, score and rank per source (NaN when absent), fused score, best source, number of
    sources, best row per source (-1)."""
    n_keys = len(starts) - 1
    cap = min(len(by_key), n_keys * per_key)
    o_key, o_item = np.empty(cap, np.int64), np.empty(cap, np.int64)
    o_wide, o_rank = np.full((cap, n_sources), np.nan), np.full((cap, n_sources), np.nan)
    o_fused, o_best = np.empty(cap), np.empty(cap, np.int64)
    o_n, o_rows = np.empty(cap, np.int64), np.full((cap, n_sources), -1, np.int64)
    n = 0
    for k in range(n_keys):
        rows = by_key[starts[k]:starts[k + 1]]
        if len(rows) == 0:
            continue
        # rows by (source, item), best score first (ties: input order): each group's first row is its best
        rows = rows[np.argsort(-score[rows], kind="mergesort")]
        rows = rows[np.argsort(src[rows] * n_items + item[rows], kind="mergesort")]
        first = np.ones(len(rows), np.bool_)
        for j in range(1, len(rows)):
            first[j] = src[rows[j]] != src[rows[j - 1]] or item[rows[j]] != item[rows[j - 1]]
        best_rows = rows[first]  # sorted by (source, item)
        # rank within each source: score descending, ties by item (stable on the item order)
        best_rows = best_rows[np.argsort(-score[best_rows], kind="mergesort")]
        best_rows = best_rows[np.argsort(src[best_rows], kind="mergesort")]
        items_k = np.unique(item[best_rows])
        m = len(items_k)
        fused, wide, wrank = np.zeros(m), np.full((m, n_sources), np.nan), np.full((m, n_sources), np.nan)
        wrow, count = np.full((m, n_sources), -1, np.int64), np.zeros(m, np.int64)
        best_src, best_rrf = np.full(m, -1, np.int64), np.full(m, -1.0)
        r, prev = 0, -1
        for row in best_rows:
            s = src[row]
            r = r + 1 if s == prev else 1
            prev = s
            at = np.searchsorted(items_k, item[row])
            rrf = 1.0 / (RRF_K + r)
            fused[at] += rrf
            wide[at, s], wrank[at, s], wrow[at, s] = score[row], r, row
            count[at] += 1
            if rrf > best_rrf[at]:  # sources come in ascending order: ties keep the lower one
                best_rrf[at], best_src[at] = rrf, s
        # kept: each source's top ``reserve`` first (no source is buried by the others' agreement), then by fused
        reserved = best_rrf >= 1.0 / (RRF_K + reserve) - 1e-12
        kept = np.sort(np.argsort(-(fused + reserved), kind="mergesort")[:per_key])
        top = kept[np.argsort(-fused[kept], kind="mergesort")]  # items_k ascending: ties keep the lower item
        for t in top:
            o_key[n], o_item[n], o_fused[n], o_best[n], o_n[n] = k, items_k[t], fused[t], best_src[t], count[t]
            o_wide[n], o_rank[n], o_rows[n] = wide[t], wrank[t], wrow[t]
            n += 1
    return o_key[:n], o_item[:n], o_wide[:n], o_rank[:n], o_fused[:n], o_best[:n], o_n[:n], o_rows[:n]

"""Retrieval: every active user's candidate videos from five sources, and related videos per video.

Sources (each row is tagged with its source; scores are comparable only within a source):

- ``als``: ScaNN top-k over the ALS item factors for the user's ALS vector (inner product);
- ``cowatch``: the user's recent positive videos x the co-watch similarity (one sparse product);
- ``content``: popular-and-fresh videos of the user's top categories, and of the creators of the videos
  the user liked; a video with no interactions yet ranks by freshness, so it is retrievable on day one;
- ``trending``: the trending list of the user's region and the global one (the ``trending`` table for
  the day when present, else positive events of the last ``trending_days``);
- ``fresh``: uploads of the last ``fresh_days`` in the user's top categories, newest first.

The union keeps, per (user, video), the best score of each source (``score_<source>``, NaN where the
source did not retrieve it). Sources are fused by reciprocal rank (``retrieval_score = sum_s 1 / (60 +
rank_s)``, the rank within the user's list of source s); ``best_source`` is the source that ranked the
video best. Videos the user watched/disliked/marked not interested, and creators marked not interested,
are dropped; each user keeps ``candidates_per_user`` rows by ``retrieval_score``. ``seed_video_id`` is the
recent video that explains an als/cowatch candidate, and every row gets the ranker's pair features
(both in ``models.retrieval.pair_features``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models import io, manifest
from models.retrieval.matrix import (CONFIDENCE, History, IdMap, build_user_items, confidence, group_order, isin_pairs,
                           item_similarity, load_history, rank_in_groups, top_per_row)
from models.retrieval.pair_features import add_pair_features, attach_seeds
from vidrec.settings import Settings
from vidrec.tables import GLOBAL_REGION, USER_ID, VIDEO_ID

log = logging.getLogger("vidrec.candidates")
SOURCES = ("als", "cowatch", "content", "trending", "fresh")
SCORES = [f"score_{s}" for s in SOURCES]
RANKS = [f"rank_{s}" for s in SOURCES]
RRF_K = 60.0
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class CandidateParams:
    als_k: int = 200
    cowatch_k: int = 100
    cowatch_neighbours: int = 50   # co-watch neighbours kept per video
    cowatch_method: str = "cosine" # "cosine" co-occurrence or "ease" (models.retrieval.matrix.item_similarity)
    ease_l2: float = 500.0         # EASE's L2 penalty (cowatch_method "ease")
    recent_videos: int = 10        # a user's latest positive videos: co-watch seeds
    reason_videos: int = 10        # a user's latest positive videos a reason may name (<= recent_videos)
    recency_decay: float = 0.85    # weight of the n-th latest seed: decay ** n
    top_categories: int = 3
    top_creators: int = 3
    content_k: int = 60            # per category; and content_k // 3 per creator
    popular_days: int = 7
    trending_k: int = 50
    trending_days: int = 1
    fresh_days: int = 7
    fresh_k: int = 50              # per category
    related_k: int = 50
    lookback_days: int = io.DEFAULT_LOOKBACK_DAYS
    exclusion_days: int = io.DEFAULT_EXCLUSION_DAYS

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> "CandidateParams":
        return cls(**{"lookback_days": io.lookback_days(settings), "cowatch_method": settings.cowatch_method,
                      **overrides})


def _frame(users, videos, scores, **extra) -> pd.DataFrame:
    return pd.DataFrame({USER_ID: users, VIDEO_ID: videos, "score": np.asarray(scores, np.float64), **extra})


def top_per_group(frame: pd.DataFrame, group: str, score: str, k: int, tiebreak: str = VIDEO_ID) -> pd.DataFrame:
    """The ``k`` best rows by ``score`` of each ``group`` (ties broken by ``tiebreak``), sorted."""
    g = pd.factorize(frame[group], sort=True)[0]
    pre = np.argsort(pd.factorize(frame[tiebreak], sort=True)[0], kind="stable")
    order = pre[group_order(g[pre], frame[score].to_numpy(float)[pre])]
    return frame.iloc[order[rank_in_groups(g[order]) <= k]].reset_index(drop=True)


# ------------------------------------------------------------------ sources


def als_source(users, model, idmap: IdMap, index, k: int) -> pd.DataFrame:
    """Top ``k`` videos per user by inner product, from the index (users unknown to ALS get none)."""
    rows = idmap.user_rows(users)
    known = rows >= 0
    found, scores = index.search(model.user_factors[rows[known]], min(2 * k, index.n_items))
    ok = found >= 0
    user_ids = np.repeat(np.asarray(users, dtype=object)[known], found.shape[1]).reshape(found.shape)
    return _frame(user_ids[ok], idmap.videos[found[ok]], scores[ok])


def seed_matrix(history: History, idmap: IdMap, params: CandidateParams, users) -> sp.csr_matrix:
    """Users x videos weights of each user's recent positive videos (decay ** recency); row i = users[i]."""
    recent = history.recent_videos(params.recent_videos)
    u = pd.Index(users).get_indexer(recent[USER_ID])
    v = idmap.video_rows(recent[VIDEO_ID])
    ok = (u >= 0) & (v >= 0)
    w = params.recency_decay ** recent["recency"].to_numpy(float)[ok]
    return sp.csr_matrix((w, (u[ok], v[ok])), shape=(len(users), len(idmap.videos)), dtype=np.float32)


def cowatch_matrix(history: History, idmap: IdMap, params: CandidateParams, neighbours: int) -> sp.csr_matrix:
    """Videos x videos co-watch weights over the history's positives (``params.cowatch_method``)."""
    user_items = build_user_items(history.positives, idmap)[0]
    return item_similarity(user_items, neighbours, params.cowatch_method, params.ease_l2)


def cowatch_source(seeds: sp.csr_matrix, users, cowatch: sp.csr_matrix, idmap: IdMap, k: int) -> pd.DataFrame:
    """Per user: sum over recent seeds s of weight(s) * cowatch(s, v); top ``k`` videos."""
    scores = top_per_row((seeds @ cowatch).tocsr(), k).tocoo()
    return _frame(np.asarray(users, dtype=object)[scores.row], idmap.videos[scores.col], scores.data)


def video_quality(history: History, params: CandidateParams) -> pd.DataFrame:
    """Catalog with ``quality`` = log1p(positive confidence in popular_days) + freshness in [0, 1]."""
    end = io.day_end(history.ds)
    recent = history.positives[history.positives["last_ts"] >= end - params.popular_days * DAY]
    pop = recent.groupby(VIDEO_ID)[CONFIDENCE].sum()
    videos = history.videos.copy()
    videos["age_days"] = ((end - videos["upload_ts"]) / DAY).fillna(365.0).clip(lower=0.0)
    videos["freshness"] = (1.0 - videos["age_days"] / params.fresh_days).clip(lower=0.0)
    videos["video_popularity"] = np.log1p(videos[VIDEO_ID].map(pop).fillna(0.0))
    videos["quality"] = videos["video_popularity"] + videos["freshness"]
    return videos


def _top_of(history: History, column: str, n: int) -> pd.DataFrame:
    return top_per_group(history.affinity(column), USER_ID, "share", n, tiebreak=column)


def content_source(history: History, quality: pd.DataFrame, users, params: CandidateParams) -> pd.DataFrame:
    """Videos of the user's top categories and top creators, scored share x quality."""
    out = []
    for column, n, k in (("category", params.top_categories, params.content_k),
                         ("creator_id", params.top_creators, max(1, params.content_k // 3))):
        mine = _top_of(history, column, n)
        mine = mine[mine[USER_ID].isin(users)]
        best = top_per_group(quality, column, "quality", k)[[column, VIDEO_ID, "quality"]]
        rows = mine.merge(best, on=column)
        out.append(_frame(rows[USER_ID].to_numpy(), rows[VIDEO_ID].to_numpy(), rows["share"] * rows["quality"]))
    return pd.concat(out, ignore_index=True)


def fresh_source(history: History, quality: pd.DataFrame, users, params: CandidateParams) -> pd.DataFrame:
    """Uploads of the last ``fresh_days`` in the user's top categories, score = freshness (newest 1)."""
    fresh = quality[quality["freshness"] > 0]
    fresh = top_per_group(fresh, "category", "freshness", params.fresh_k)[["category", VIDEO_ID, "freshness"]]
    mine = _top_of(history, "category", params.top_categories)
    rows = mine[mine[USER_ID].isin(users)].merge(fresh, on="category")
    return _frame(rows[USER_ID].to_numpy(), rows[VIDEO_ID].to_numpy(), rows["freshness"])


def trending_scores(history: History, params: CandidateParams, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """(region, video_id, score in (0, 1]) for every region and GLOBAL_REGION, best first per region.

    From the day's ``trending`` table when given (non-empty), else the positive confidence of the last
    ``trending_days`` per region and overall. Scores are divided by each region's best score.
    """
    if table is not None and len(table):
        trend = table[["region", VIDEO_ID, "score"]]
    else:
        inter = history.interactions
        recent = inter[inter["ds"] >= io.shift_ds(history.ds, -(params.trending_days - 1))]
        recent = recent.assign(score=confidence(recent))
        recent = recent[recent["score"] > 0]
        per_region = recent.groupby(["region", VIDEO_ID])["score"].sum().reset_index()
        overall = recent.groupby(VIDEO_ID)["score"].sum().reset_index().assign(region=GLOBAL_REGION)
        trend = pd.concat([per_region, overall], ignore_index=True)
    trend = trend[trend[VIDEO_ID].isin(history.videos[VIDEO_ID])]
    trend = trend.assign(score=trend["score"] / trend.groupby("region")["score"].transform("max"))
    return top_per_group(trend, "region", "score", params.trending_k)


def trending_source(history: History, trend: pd.DataFrame, users) -> pd.DataFrame:
    """The user's region list and the global list; ``trend_region`` says which one."""
    region = history.user_region.reindex(users)
    who = pd.DataFrame({USER_ID: np.asarray(users, dtype=object), "region": region.fillna(GLOBAL_REGION).to_numpy()})
    local = who.merge(trend, on="region")
    glob = who[[USER_ID]].merge(trend[trend["region"] == GLOBAL_REGION], how="cross")
    rows = pd.concat([local, glob], ignore_index=True)
    return _frame(rows[USER_ID].to_numpy(), rows[VIDEO_ID].to_numpy(), rows["score"],
                  trend_region=rows["region"].to_numpy())


# ------------------------------------------------------------------ union


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


def drop_excluded(frame: pd.DataFrame, history: History) -> pd.DataFrame:
    """Without videos outside the as-of catalog, excluded (user, video) pairs and blocked creators."""
    frame = frame.merge(history.videos[[VIDEO_ID, "creator_id"]], on=VIDEO_ID)
    ex, blocked = history.excluded, history.blocked_creators
    gone = isin_pairs(frame[USER_ID], frame[VIDEO_ID], ex[USER_ID], ex[VIDEO_ID])
    gone |= isin_pairs(frame[USER_ID], frame["creator_id"], blocked[USER_ID], blocked["creator_id"])
    return frame[~gone].drop(columns="creator_id").reset_index(drop=True)


# ------------------------------------------------------------------ assembly


@dataclass
class Retrieval:
    """Everything retrieval reads for one as-of day: the history, the ALS model, its index, trending."""

    history: History
    model: object
    idmap: IdMap
    index: object
    trending_table: pd.DataFrame | None = None


def build_candidates(r: Retrieval, params: CandidateParams, per_user: int, users=None) -> pd.DataFrame:
    """Candidates of ``users`` (default: the history's active users), one row per (user, video)."""
    hist = r.history
    users = np.asarray(hist.active_users if users is None else users, dtype=object)
    quality = video_quality(hist, params)
    seeds = seed_matrix(hist, r.idmap, params, users)
    cowatch = cowatch_matrix(hist, r.idmap, params, params.cowatch_neighbours)
    frames = {
        "als": als_source(users, r.model, r.idmap, r.index, params.als_k),
        "cowatch": cowatch_source(seeds, users, cowatch, r.idmap, params.cowatch_k),
        "content": content_source(hist, quality, users, params),
        "trending": trending_source(hist, trending_scores(hist, params, r.trending_table), users),
        "fresh": fresh_source(hist, quality, users, params),
    }
    frames = {s: drop_excluded(f, hist) for s, f in frames.items()}
    frames["als"] = top_per_group(frames["als"], USER_ID, "score", params.als_k)  # searched 2k to survive exclusions
    cands = fuse(frames, USER_ID, VIDEO_ID, per_user)
    if "trend_region" not in cands.columns:  # no source row carried it (no users, no trending)
        cands["trend_region"] = None
    if params.reason_videos < params.recent_videos:
        seeds = seed_matrix(hist, r.idmap, replace(params, recent_videos=params.reason_videos), users)
    cands = attach_seeds(cands, seeds, users, r.model, r.idmap, cowatch)
    return add_pair_features(cands, hist, quality, r.model, r.idmap)


def build_related(r: Retrieval, params: CandidateParams) -> pd.DataFrame:
    """Per video known to ALS: its ALS neighbours (index search with the video's own factors) and its
    co-watch neighbours, fused like user candidates; the video itself and unknown videos are dropped."""
    idmap, k = r.idmap, params.related_k
    found, scores = r.index.search(r.model.item_factors, min(k + 1, r.index.n_items))
    rows = np.repeat(np.arange(len(idmap.videos)), found.shape[1]).reshape(found.shape)
    ok = (found >= 0) & (found != rows)
    als = pd.DataFrame({VIDEO_ID: idmap.videos[rows[ok]], "related_id": idmap.videos[found[ok]], "score": scores[ok]})
    co = cowatch_matrix(r.history, idmap, params, k).tocoo()
    pos = co.data > 0  # EASE weights can be negative: those videos are not related
    co = sp.coo_matrix((co.data[pos], (co.row[pos], co.col[pos])), shape=co.shape)
    cowatch = pd.DataFrame({VIDEO_ID: idmap.videos[co.row], "related_id": idmap.videos[co.col], "score": co.data})
    catalog = r.history.videos[VIDEO_ID]
    frames = {s: f[f["related_id"].isin(catalog)] for s, f in (("als", als), ("cowatch", cowatch))}
    related = fuse(frames, VIDEO_ID, "related_id", k)
    return related[[VIDEO_ID, "related_id", "score_als", "score_cowatch", "retrieval_score", "best_source",
                    "n_sources"]]


def read_trending(snapshot: io.LakeSnapshot, ds: str) -> pd.DataFrame | None:
    """The ``trending`` table's rows for ``ds`` (None when the table or the day is missing)."""
    if not snapshot.exists("trending"):
        return None
    table = snapshot.read("trending", ["region", "rank", VIDEO_ID, "score", "ds"], (ds, ds))
    return table if len(table) else None


def retrieval_as_of(settings: Settings, snapshot: io.LakeSnapshot, ds: str, params: CandidateParams,
                    als_params=None, ann_params=None) -> Retrieval:
    """Retrieval as the nightly run of ``ds`` would have built it: history up to ``ds``, ALS fitted on it
    and indexed in memory (the training set and the evaluation use this for past days)."""
    from models.retrieval.als import AlsParams, fit_als
    from models.retrieval.ann_index import AnnParams, build_index

    als_params = als_params or AlsParams.from_settings(settings, lookback_days=params.lookback_days)
    hist = load_history(snapshot, ds, lookback_days=params.lookback_days, active_days=settings.active_days,
                        exclusion_days=params.exclusion_days)
    user_items, idmap = build_user_items(hist.positives)
    model = fit_als(user_items, als_params, use_gpu=settings.use_gpu, seed=settings.seed)
    index = build_index(model.item_factors, ann_params or AnnParams())
    return Retrieval(hist, model, idmap, index, read_trending(snapshot, ds))


def run(settings: Settings, ds: str) -> dict:
    """Candidates for the users active in the last ``active_days`` up to ``ds``, with runs/<ds>/als and
    runs/<ds>/index; writes runs/<ds>/candidates.parquet and related_candidates.parquet."""
    from models.retrieval.als import load_als
    from models.retrieval.ann_index import load_index

    started = time.monotonic()
    params, out = CandidateParams.from_settings(settings), io.run_dir(settings, ds)
    snap = io.LakeSnapshot(settings)
    hist = load_history(snap, ds, lookback_days=params.lookback_days, active_days=settings.active_days,
                        exclusion_days=params.exclusion_days)
    model, idmap = load_als(out / "als")
    r = Retrieval(hist, model, idmap, load_index(out / "index"), read_trending(snap, ds))
    cands = build_candidates(r, params, settings.candidates_per_user)
    related = build_related(r, params)
    io.write_parquet(cands, out / "candidates.parquet")
    io.write_parquet(related, out / "related_candidates.parquet")
    rows = {"users": int(cands[USER_ID].nunique()), "candidates": len(cands), "related": len(related),
            "related_videos": int(related[VIDEO_ID].nunique())}
    by_source = {k: int(v) for k, v in cands["best_source"].value_counts().items()}
    seconds = round(time.monotonic() - started, 2)
    manifest.update_manifest(settings, ds, "build_candidates",
                             params={**asdict(params), "candidates_per_user": settings.candidates_per_user,
                                     "active_days": settings.active_days},
                             inputs=snap.versions, rows=rows, best_source=by_source, seconds=seconds)
    log.info("build_candidates %s: %s %s in %.1f s", ds, rows, by_source, seconds)
    return {"ds": ds, **rows, "best_source": by_source, "seconds": seconds}

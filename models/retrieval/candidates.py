"""Retrieval: every active user's candidate videos from five sources, and related videos per video.

Sources (``models.retrieval.sources``, one module each; scores are comparable only within a source):

- ``als``: ScaNN top-k over the ALS item factors for the user's ALS vector (inner product);
- ``cowatch``: the user's recent positive videos x the co-watch similarity (one sparse product);
- ``content``: popular-and-fresh videos of the user's top categories, and of the creators of the videos
  the user liked; a video with no interactions yet ranks by freshness, so it is retrievable on day one;
- ``trending``: the trending list of the user's region and the global one (the ``trending`` table for
  the day when present, else positive events of the last ``trending_days``);
- ``fresh``: uploads of the last ``fresh_days`` in the user's top categories, newest first.

Videos outside the as-of catalog, videos the user watched/disliked/marked not interested, and creators
marked not interested are dropped (``drop_unavailable``); the sources are fused by reciprocal rank
(``models.retrieval.fusion.fuse``) and each user keeps ``candidates_per_user`` rows by
``retrieval_score``. ``seed_video_id`` is the recent video that explains an als/cowatch candidate, and
every row gets the ranker's pair features (both in ``models.retrieval.pair_features``).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models import io, manifest, parameters, workers
from models.retrieval.als import AlsParams, fit_als, load_als
from models.retrieval.ann_index import AnnParams, build_index, load_index
from models.retrieval.fusion import U, V, fuse
from models.retrieval.history import History, load_history, within_users
from models.retrieval.matrix import IdMap, build_user_items, in_sorted, top_per_group, top_per_row
from models.retrieval.pair_features import add_pair_features, attach_seeds
from models.retrieval.params import CandidateParams
from models.retrieval.sources.als import als_source
from models.retrieval.sources.content import content_source, video_quality
from models.retrieval.sources.cowatch import cowatch_matrix, cowatch_source, seed_matrix
from models.retrieval.sources.fresh import fresh_source
from models.retrieval.sources.text import TextSpace, related_by_text, text_source, text_space
from models.retrieval.sources.trending import read_trending, trending_scores, trending_source
from vidrec.settings import Settings
from vidrec.tables import USER_ID, VIDEO_ID

log = logging.getLogger("vidrec.candidates")
CHUNK_ROWS = 2_000_000  # candidate rows built at a time (whole users)
CANDIDATE_PARTS = ".candidates-parts"  # runs/<ds>/.candidates-parts/part-NNNNN.parquet: the workers' pieces


@dataclass
class Retrieval:
    """Everything retrieval reads for one as-of day: the history, the ALS model, its index, trending."""

    history: History
    model: object
    idmap: IdMap
    index: object
    trending_table: pd.DataFrame | None = None
    similar: dict = field(default_factory=dict, repr=False)  # (method, l2) -> (neighbours, co-watch matrix)

    def cowatch(self, params: CandidateParams, neighbours: int) -> sp.csr_matrix:
        """The co-watch matrix keeping ``neighbours`` per video, computed once per retrieval: fewer
        neighbours are cut from a larger matrix already built (the same entries, ties included)."""
        key = (params.cowatch_method, params.ease_l2)
        have = self.similar.get(key)
        if have is None or have[0] < neighbours:
            have = self.similar[key] = (neighbours, cowatch_matrix(self.history, self.idmap, params, neighbours))
        return have[1] if have[0] == neighbours else top_per_row(have[1], neighbours)


@dataclass
class Shared:
    """What every chunk of users reads, computed once (``shared_inputs``)."""

    quality: pd.DataFrame        # the catalog with video quality (``video_quality``)
    cowatch: sp.csr_matrix       # the co-watch matrix (ALS video rows x ALS video rows)
    trend: pd.DataFrame          # trending scores per region (``trending_scores``)
    als_codes: np.ndarray        # ALS video row -> catalog code (-1: outside the as-of catalog)
    creators: pd.Index           # the catalog's distinct creators
    creator_of: np.ndarray       # catalog code -> position in ``creators``
    text: TextSpace              # the catalog's text vectors and indexes (``models.retrieval.sources.text``)


def shared_inputs(r: Retrieval, params: CandidateParams) -> Shared:
    hist = r.history
    creator_of, creators = pd.factorize(hist.by_code("creator_id"), use_na_sentinel=False)
    quality = video_quality(hist, params)
    return Shared(quality, r.cowatch(params, params.cowatch_neighbours),
                  trending_scores(hist, params, r.trending_table), hist.video_codes(r.idmap.videos),
                  pd.Index(creators, dtype=object), creator_of, text_space(hist, params, quality))


def exclusion_keys(history: History, users, shared: Shared) -> tuple[np.ndarray, np.ndarray]:
    """The excluded (user, video) and blocked (user, creator) pairs that a sorted chunk of ``users`` can
    match, as sorted int64 keys: ``u * videos + code`` and ``u * creators + creator`` (u: the user's
    position in ``users``); ``drop_unavailable`` looks them up."""
    ex, bl = within_users(history.excluded, users), within_users(history.blocked_creators, users)
    at = pd.Index(users)
    u, v = at.get_indexer(ex[USER_ID]), history.video_codes(ex[VIDEO_ID])
    ok = (u >= 0) & (v >= 0)
    excluded = np.unique(u[ok].astype(np.int64) * len(history.video_ids) + v[ok])
    u, c = at.get_indexer(bl[USER_ID]), shared.creators.get_indexer(bl["creator_id"])
    ok = (u >= 0) & (c >= 0)
    return excluded, np.unique(u[ok].astype(np.int64) * len(shared.creators) + c[ok])


def drop_unavailable(frame: pd.DataFrame, history: History, shared: Shared, excluded: np.ndarray,
                     blocked: np.ndarray) -> pd.DataFrame:
    """A source's rows (``models.retrieval.fusion.source_frame``) without videos outside the as-of catalog,
    excluded (user, video) pairs and blocked creators (``exclusion_keys`` of the chunk's users)."""
    u, v = frame[U].to_numpy(), frame[V].to_numpy()
    ok = v >= 0
    u, v = u[ok], v[ok]
    ok[ok] = ~(in_sorted(u * len(history.video_ids) + v, excluded)
               | in_sorted(u * len(shared.creators) + shared.creator_of[v], blocked))
    return frame[ok]


def iter_candidates(r: Retrieval, params: CandidateParams, per_user: int, users=None,
                    chunk_rows: int = CHUNK_ROWS):
    """``build_candidates`` a chunk of about ``chunk_rows // per_user`` users at a time, in user order (each
    chunk sorted by user, then retrieval_score): memory follows the chunk, not users x candidates. What
    every chunk shares (video quality, the co-watch matrix, trending) is computed once."""
    shared = shared_inputs(r, params)
    for batch in user_batches(r.history, per_user, users, chunk_rows):
        yield _candidates_of(r, params, per_user, batch, shared)


def user_batches(hist: History, per_user: int, users=None, chunk_rows: int = CHUNK_ROWS) -> list[np.ndarray]:
    """``users`` (default: the history's active users), sorted, in batches of about ``chunk_rows // per_user``."""
    users = np.sort(np.asarray(hist.active_users if users is None else users, dtype=object))
    step = max(1, chunk_rows // max(per_user, 1))
    return [users[start:start + step] for start in range(0, max(len(users), 1), step)]


def build_candidates(r: Retrieval, params: CandidateParams, per_user: int, users=None) -> pd.DataFrame:
    """Candidates of ``users`` (default: the history's active users), one row per (user, video)."""
    return pd.concat(list(iter_candidates(r, params, per_user, users)), ignore_index=True)


def _candidates_of(r: Retrieval, params: CandidateParams, per_user: int, users: np.ndarray,
                   shared: Shared) -> pd.DataFrame:
    hist = r.history
    seeds = seed_matrix(hist, r.idmap, params, users)
    frames = {
        "als": als_source(users, r.model, r.idmap, r.index, params.als_k, shared.als_codes),
        "cowatch": cowatch_source(seeds, shared.cowatch, shared.als_codes, params.cowatch_k),
        "content": content_source(hist, shared.quality, users, params),
        "trending": trending_source(hist, shared.trend, users),
        "fresh": fresh_source(hist, shared.quality, users, params),
        "text": text_source(shared.text, seeds, shared.als_codes, params.text_k),
    }
    excluded, blocked = exclusion_keys(hist, users, shared)
    frames = {s: drop_unavailable(f, hist, shared, excluded, blocked) for s, f in frames.items()}
    frames["als"] = top_per_group(frames["als"], U, "score", params.als_k, tiebreak=V)  # searched 2k (exclusions)
    cands = fuse(frames, U, V, per_user)  # codes sort like ids: the same order and ties as on the ids
    u, v = cands.pop(U).to_numpy(np.int64), cands.pop(V).to_numpy(np.int64)
    cands.insert(0, VIDEO_ID, hist.video_ids[v])
    cands.insert(0, USER_ID, np.asarray(users, dtype=object)[u])
    if "trend_region" not in cands.columns:  # no source row carried it (no users, no trending)
        cands["trend_region"] = None
    if params.reason_videos < params.recent_videos:
        seeds = seed_matrix(hist, r.idmap, replace(params, recent_videos=params.reason_videos), users)
    cands = attach_seeds(cands, seeds, u, r.model, r.idmap, shared.cowatch)  # u: the rows of seeds
    return add_pair_features(cands, hist, shared.quality, r.model, r.idmap)


def build_related(r: Retrieval, params: CandidateParams, text: TextSpace | None = None) -> pd.DataFrame:
    """Per video: its ALS neighbours (index search with the video's own factors) and co-watch neighbours
    (videos known to ALS), and its neighbours by text (every catalog video, watched or not), fused like user
    candidates; the video itself and unknown videos are dropped."""
    idmap, k = r.idmap, params.related_k
    found, scores = r.index.search(r.model.item_factors, min(k + 1, r.index.n_items))
    rows = np.repeat(np.arange(len(idmap.videos)), found.shape[1]).reshape(found.shape)
    ok = (found >= 0) & (found != rows)
    als = pd.DataFrame({VIDEO_ID: idmap.videos[rows[ok]], "related_id": idmap.videos[found[ok]], "score": scores[ok]})
    co = r.cowatch(params, k).tocoo()
    pos = co.data > 0  # EASE weights can be negative: those videos are not related
    co = sp.coo_matrix((co.data[pos], (co.row[pos], co.col[pos])), shape=co.shape)
    cowatch = pd.DataFrame({VIDEO_ID: idmap.videos[co.row], "related_id": idmap.videos[co.col], "score": co.data})
    catalog = r.history.videos[VIDEO_ID]
    text = text or text_space(r.history, params, video_quality(r.history, params))
    by_text = related_by_text(text, r.history.video_ids, k)
    frames = {s: f[f["related_id"].isin(catalog)] for s, f in (("als", als), ("cowatch", cowatch), ("text", by_text))}
    related = fuse(frames, VIDEO_ID, "related_id", k)
    return related[[VIDEO_ID, "related_id", "score_als", "score_cowatch", "score_text", "retrieval_score",
                    "best_source", "n_sources"]]


def retrieval_as_of(settings: Settings, snapshot: io.LakeSnapshot, ds: str, params: CandidateParams,
                    als_params=None, ann_params=None, history: History | None = None) -> Retrieval:
    """Retrieval as the nightly run of ``ds`` would have built it: history up to ``ds`` (``history``, or read
    from the lake), ALS fitted on it and indexed in memory (the training set and the evaluation use this
    for past days)."""
    als_params = als_params or AlsParams.from_settings(settings, lookback_days=params.lookback_days)
    hist = history or load_history(snapshot, ds, lookback_days=params.lookback_days,
                                   active_days=settings.active_days, exclusion_days=params.exclusion_days)
    user_items, idmap = build_user_items(hist.positives)
    model = fit_als(user_items, als_params, use_gpu=settings.use_gpu, seed=settings.seed)
    index = build_index(model.item_factors, ann_params or AnnParams.from_settings(settings))
    return Retrieval(hist, model, idmap, index, read_trending(snapshot, ds))


def run(settings: Settings, ds: str, chunk_rows: int = CHUNK_ROWS) -> dict:
    """Candidates for the users active in the last ``active_days`` up to ``ds``, with runs/<ds>/als and
    runs/<ds>/index; writes runs/<ds>/candidates.parquet and related_candidates.parquet. The users are
    split in chunks of about ``chunk_rows`` candidate rows; the first chunk is built here (what it builds
    lazily, the history's per-user aggregates, is then shared), the others by forked workers
    (``models.workers``, ``settings.workers``)."""
    started = time.monotonic()
    params, out = CandidateParams.from_settings(settings), io.run_dir(settings, ds)
    snap = io.LakeSnapshot(settings)
    hist = load_history(snap, ds, lookback_days=params.lookback_days, active_days=settings.active_days,
                        exclusion_days=params.exclusion_days)
    model, idmap = load_als(out / "als")
    r = Retrieval(hist, model, idmap, load_index(out / "index"), read_trending(snap, ds))
    per_user, shared = parameters.per_user(settings), shared_inputs(r, params)
    parts = out / CANDIDATE_PARTS
    shutil.rmtree(parts, ignore_errors=True)
    batches = user_batches(hist, per_user, chunk_rows=chunk_rows)
    paths = workers.map_chunks(lambda users: _candidates_of(r, params, per_user, users, shared), batches,
                               workers.worker_count(settings), parts, first_here=True)
    joined = io.join_parts(paths, out / "candidates.parquet", USER_ID, "best_source")  # rank reads it by user
    n_cands, n_users, by_source = joined["rows"], joined["keys"], joined["counts"]
    shutil.rmtree(parts, ignore_errors=True)
    related = build_related(r, params, shared.text)
    io.write_parquet(related, out / "related_candidates.parquet")
    rows = {"users": n_users, "candidates": n_cands, "related": len(related),
            "related_videos": int(related[VIDEO_ID].nunique())}
    seconds = round(time.monotonic() - started, 2)
    manifest.update_manifest(settings, ds, "build_candidates",
                             params={**asdict(params), "candidates_per_user": per_user,
                                     "active_days": settings.active_days},
                             inputs=snap.versions, rows=rows, best_source=by_source, seconds=seconds)
    log.info("build_candidates %s: %s %s in %.1f s", ds, rows, by_source, seconds)
    return {"ds": ds, **rows, "best_source": by_source, "seconds": seconds}

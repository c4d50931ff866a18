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
from models.retrieval.fusion import fuse
from models.retrieval.history import History, drop_excluded, exclusion_sets, load_history
from models.retrieval.matrix import IdMap, build_user_items, top_per_group, top_per_row
from models.retrieval.pair_features import add_pair_features, attach_seeds
from models.retrieval.params import CandidateParams
from models.retrieval.sources.als import als_source
from models.retrieval.sources.content import content_source, video_quality
from models.retrieval.sources.cowatch import cowatch_matrix, cowatch_source, seed_matrix
from models.retrieval.sources.fresh import fresh_source
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


def drop_unavailable(frame: pd.DataFrame, history: History, excluded=None, blocked=None) -> pd.DataFrame:
    """Without videos outside the as-of catalog (the catalog's creator_id is joined, inner), excluded
    (user, video) pairs and blocked creators (``models.retrieval.history.drop_excluded``; ``excluded`` and
    ``blocked`` default to the history's, or are the part of them that the frame's users can match)."""
    at = history.catalog.get_indexer(frame[VIDEO_ID])
    frame = frame[at >= 0].assign(creator_id=history.videos["creator_id"].to_numpy()[at[at >= 0]])
    frame = drop_excluded(frame, history.excluded if excluded is None else excluded,
                          history.blocked_creators if blocked is None else blocked)
    return frame.drop(columns="creator_id")


def iter_candidates(r: Retrieval, params: CandidateParams, per_user: int, users=None,
                    chunk_rows: int = CHUNK_ROWS):
    """``build_candidates`` a chunk of about ``chunk_rows // per_user`` users at a time, in user order (each
    chunk sorted by user, then retrieval_score): memory follows the chunk, not users x candidates. What
    every chunk shares (video quality, the co-watch matrix, trending) is computed once."""
    shared = shared_inputs(r, params)
    for batch in user_batches(r.history, per_user, users, chunk_rows):
        yield _candidates_of(r, params, per_user, batch, *shared)


def shared_inputs(r: Retrieval, params: CandidateParams) -> tuple:
    """(video quality, the co-watch matrix, trending scores): what every chunk of users reads."""
    return (video_quality(r.history, params), r.cowatch(params, params.cowatch_neighbours),
            trending_scores(r.history, params, r.trending_table))


def user_batches(hist: History, per_user: int, users=None, chunk_rows: int = CHUNK_ROWS) -> list[np.ndarray]:
    """``users`` (default: the history's active users), sorted, in batches of about ``chunk_rows // per_user``."""
    users = np.sort(np.asarray(hist.active_users if users is None else users, dtype=object))
    step = max(1, chunk_rows // max(per_user, 1))
    return [users[start:start + step] for start in range(0, max(len(users), 1), step)]


def build_candidates(r: Retrieval, params: CandidateParams, per_user: int, users=None) -> pd.DataFrame:
    """Candidates of ``users`` (default: the history's active users), one row per (user, video)."""
    return pd.concat(list(iter_candidates(r, params, per_user, users)), ignore_index=True)


def _candidates_of(r: Retrieval, params: CandidateParams, per_user: int, users: np.ndarray, quality, cowatch,
                   trend) -> pd.DataFrame:
    hist = r.history
    seeds = seed_matrix(hist, r.idmap, params, users)
    frames = {
        "als": als_source(users, r.model, r.idmap, r.index, params.als_k),
        "cowatch": cowatch_source(seeds, users, cowatch, r.idmap, params.cowatch_k),
        "content": content_source(hist, quality, users, params),
        "trending": trending_source(hist, trend, users),
        "fresh": fresh_source(hist, quality, users, params),
    }
    excluded, blocked = exclusion_sets(hist, users)  # hashed once for the five sources
    frames = {s: drop_unavailable(f, hist, excluded, blocked) for s, f in frames.items()}
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
    co = r.cowatch(params, k).tocoo()
    pos = co.data > 0  # EASE weights can be negative: those videos are not related
    co = sp.coo_matrix((co.data[pos], (co.row[pos], co.col[pos])), shape=co.shape)
    cowatch = pd.DataFrame({VIDEO_ID: idmap.videos[co.row], "related_id": idmap.videos[co.col], "score": co.data})
    catalog = r.history.videos[VIDEO_ID]
    frames = {s: f[f["related_id"].isin(catalog)] for s, f in (("als", als), ("cowatch", cowatch))}
    related = fuse(frames, VIDEO_ID, "related_id", k)
    return related[[VIDEO_ID, "related_id", "score_als", "score_cowatch", "retrieval_score", "best_source",
                    "n_sources"]]


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
    paths = workers.map_chunks(lambda users: _candidates_of(r, params, per_user, users, *shared), batches,
                               workers.worker_count(settings), parts, first_here=True)
    joined = io.join_parts(paths, out / "candidates.parquet", USER_ID, "best_source")  # rank reads it by user
    n_cands, n_users, by_source = joined["rows"], joined["keys"], joined["counts"]
    shutil.rmtree(parts, ignore_errors=True)
    related = build_related(r, params)
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

"""Implicit-feedback ALS (implicit 0.7): fit on the users x videos confidence matrix, save, fold in new users.

Artifacts of ``train_als`` for run ``ds``: ``runs/<ds>/als/model.npz`` (implicit's own ``save()``, an
``np.savez`` of factors and params, reloaded with the CPU class's ``load()``; no pickle) and
``runs/<ds>/als/ids.npz`` (the IdMap: row -> user_id, column -> video_id).

``use_gpu`` and ``random_state`` are always passed (implicit would otherwise probe for CUDA). BLAS is
limited to one thread while implicit runs its own ``num_threads`` workers (what OPENBLAS_NUM_THREADS=1
does, without touching the environment).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from models import io, manifest, parameters
from models.retrieval.history import POSITIVE_EVENTS, positives
from models.retrieval.matrix import IdMap, build_user_items
from vidrec import dates
from vidrec.settings import Settings
from vidrec.tables import EVENT_TYPE, TS, USER_ID, VIDEO_ID, WATCH_FRACTION

log = logging.getLogger("vidrec.als")
MODEL_FILE, IDS_FILE = "model.npz", "ids.npz"


@dataclass(frozen=True)
class AlsParams:
    factors: int = 64
    regularization: float = 0.05
    alpha: float = 10.0          # confidence = alpha * summed event weight (implicit >= 0.5 semantics)
    iterations: int = 15
    num_threads: int = 2
    lookback_days: int = io.DEFAULT_LOOKBACK_DAYS

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> "AlsParams":
        """The parameters file's two-stage ALS (``models.parameters``; what ``vidrec eval`` measured), with
        ``VIDREC_ALS_FACTORS`` / ``VIDREC_ALS_ITERATIONS`` when set (non-zero) and the nightly's window;
        ``overrides`` win over all of them."""
        values = parameters.section(settings, "als", cls)
        values.update({k: v for k, v in (("factors", settings.als_factors),
                                         ("iterations", settings.als_iterations)) if v})
        return replace(cls(**{**values, "lookback_days": io.lookback_days(settings)}), **overrides)


def _blas_one_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def fit_als(user_items: sp.csr_matrix, params: AlsParams, *, use_gpu: bool, seed: int):
    """Factorize ``user_items`` (users x videos CSR of confidences); returns a CPU ALS model.

    On the CPU the solver sees users and videos busiest first, so the factors it reads most sit together
    in memory (at 150k users x 100k videos a fifth less time). Each row starts from the same random
    factors implicit would draw for it unordered (same seed, same draws), and the factors are put back in
    the matrix's order: the model is the unordered fit, up to the order of float additions."""
    from implicit.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(
        factors=params.factors, regularization=params.regularization, alpha=params.alpha,
        iterations=params.iterations, num_threads=params.num_threads, use_gpu=use_gpu, random_state=seed)
    if use_gpu:
        model.fit(user_items, show_progress=False)
        return model.to_cpu()
    users = _busiest_first(np.diff(user_items.indptr))
    videos = _busiest_first(np.bincount(user_items.indices, minlength=user_items.shape[1]))
    start = np.random.default_rng(seed)
    model.user_factors = (start.random((len(users), params.factors), dtype=np.float32) * 0.01)[users]
    model.item_factors = (start.random((len(videos), params.factors), dtype=np.float32) * 0.01)[videos]
    ordered = user_items[users][:, videos]
    ordered.sort_indices()
    with _blas_one_thread():
        model.fit(ordered, show_progress=False)
    model.user_factors = _unordered(model.user_factors, users)
    model.item_factors = _unordered(model.item_factors, videos)
    return model


def _busiest_first(counts: np.ndarray) -> np.ndarray:
    return np.argsort(-counts, kind="stable")


def _unordered(rows: np.ndarray, order: np.ndarray) -> np.ndarray:
    out = np.empty_like(rows)
    out[order] = rows
    return out


def save_als(model, idmap: IdMap, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model.save(str(directory / MODEL_FILE))
    idmap.save(directory / IDS_FILE)
    return directory


def load_als(directory: Path):
    """(model, idmap) saved by ``save_als``."""
    from implicit.cpu.als import AlternatingLeastSquares

    return AlternatingLeastSquares.load(str(directory / MODEL_FILE)), IdMap.load(directory / IDS_FILE)


def fold_in(model, item_rows, weights) -> np.ndarray:
    """A user vector for a user the model was not trained on, from a few (video row, weight) events.

    This is ALS's own user step with the item factors held fixed: the user vector solves the
    regularized weighted least squares ``(Y^T C_u Y + reg I) x = Y^T C_u p_u`` with
    ``C_u = alpha * weights`` (implicit's ``recalculate_user``, exact Cholesky solve). No retraining,
    no change to the model; the result ranks videos by ``item_factors @ x`` like a trained user.
    """
    item_rows = np.asarray(item_rows, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float32)
    if item_rows.shape != weights.shape:
        raise ValueError("item_rows and weights must have the same length")
    if len(item_rows) and (item_rows.min() < 0 or item_rows.max() >= model.item_factors.shape[0]):
        raise ValueError("item_rows must be rows of the model's item factors")
    row = sp.csr_matrix((weights, (np.zeros(len(item_rows), dtype=np.int64), item_rows)),
                        shape=(1, model.item_factors.shape[0]), dtype=np.float32)
    return fold_in_users(model, row)[0]


def fold_in_users(model, user_items: sp.csr_matrix) -> np.ndarray:
    """``fold_in`` for many users at once: one row of (video row, weight) per user -> their vectors."""
    user_items = sp.csr_matrix(user_items, dtype=np.float32)
    user_items.sum_duplicates()
    with _blas_one_thread():
        vectors = model.recalculate_user(np.arange(user_items.shape[0]), user_items)
    return np.asarray(vectors, dtype=np.float32).reshape(user_items.shape[0], -1)


def run(settings: Settings, ds: str) -> dict:
    """Fit ALS on the positive interactions of the ``lookback_days`` ending with ``ds``; write runs/<ds>/als/."""
    started = time.monotonic()
    params = AlsParams.from_settings(settings)
    snap = io.LakeSnapshot(settings)
    inter = snap.read("interactions", [USER_ID, VIDEO_ID, EVENT_TYPE, TS, WATCH_FRACTION],
                      dates.window(ds, params.lookback_days), filters=[(EVENT_TYPE, "in", POSITIVE_EVENTS)])
    pairs = positives(inter)
    if pairs.empty:
        raise ValueError(f"no positive interactions in the {params.lookback_days} days ending {ds}")
    user_items, idmap = build_user_items(pairs)
    model = fit_als(user_items, params, use_gpu=settings.use_gpu, seed=settings.seed)
    out = save_als(model, idmap, io.run_dir(settings, ds) / "als")
    rows = {"positive_events": len(inter), "users": len(idmap.users), "videos": len(idmap.videos),
            "nonzeros": int(user_items.nnz)}
    seconds = round(time.monotonic() - started, 2)
    manifest.update_manifest(settings, ds, "train_als", params={**asdict(params), "seed": settings.seed,
                             "use_gpu": settings.use_gpu}, inputs=snap.versions, rows=rows, seconds=seconds)
    log.info("train_als %s: %s in %.1f s", ds, rows, seconds)
    return {"ds": ds, "path": str(out), **rows, "seconds": seconds}

"""ScaNN over the ALS item factors (maximum inner product), with its recall measured at every build.

- Catalogs under ``brute_force_below`` items: exact float32 brute force (recall 1 by construction).
- Larger ones: a k-means tree (``num_leaves`` ~ sqrt(n), trained on a sample) + asymmetric hashing,
  re-scored exactly on the best ``reorder`` hits. How many leaves a query searches is picked at build
  time: the smallest of ``leaves_to_search``, 2x, 4x, ... whose recall@k against ``exact_topk`` on a
  sample of real queries (user vectors) reaches ``recall_target``. The measured recall and the chosen
  value are stored with the index and in the manifest.

Artifacts of ``build_index``: ``runs/<ds>/index/scann/`` (``searcher.serialize``; reload with
``scann_ops_pybind.load_searcher``) and ``runs/<ds>/index/meta.json``. Index rows are the ALS item
rows; ``als/ids.npz`` maps them to video ids.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from models import io, manifest
from models.retrieval.als import load_als
from vidrec.settings import Settings

log = logging.getLogger("vidrec.ann_index")


@dataclass(frozen=True)
class AnnParams:
    k: int = 100                          # neighbours per query, and the k of the measured recall@k
    brute_force_below: int = 20_000       # catalogs smaller than this are searched exactly
    num_leaves: int | None = None         # None: round(sqrt(n))
    leaves_to_search: int | None = None   # None: start at num_leaves/20 and double until recall_target
    dims_per_block: int = 2
    anisotropic_threshold: float = 0.2
    reorder: int | None = None            # exact re-scoring of this many hits; None: 4 * k
    training_sample_size: int = 100_000
    recall_target: float = 0.95
    recall_queries: int = 500
    training_threads: int = 1


@dataclass
class AnnIndex:
    searcher: object
    kind: str                       # "brute_force" | "tree_ah"
    n_items: int
    dim: int
    leaves_to_search: int | None = None
    recall: float | None = None
    params: AnnParams = field(default_factory=AnnParams)

    def search(self, queries: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows int64, scores float32), each (len(queries), k), best first; missing hits are -1 / -inf."""
        k = k or self.params.k
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if len(queries) == 0:
            return np.empty((0, k), np.int64), np.empty((0, k), np.float32)
        kwargs = {"final_num_neighbors": min(k, self.n_items)}
        if self.kind == "tree_ah":
            kwargs.update(leaves_to_search=self.leaves_to_search,
                          pre_reorder_num_neighbors=max(self._reorder(), kwargs["final_num_neighbors"]))
        rows, scores = self.searcher.search_batched(queries, **kwargs)
        rows, scores = np.asarray(rows, np.int64), np.asarray(scores, np.float32)
        bad = (rows >= self.n_items) | ~np.isfinite(scores)
        rows[bad], scores[bad] = -1, -np.inf
        if rows.shape[1] < k:
            pad = k - rows.shape[1]
            rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return rows, scores

    def _reorder(self) -> int:
        return self.params.reorder or 4 * self.params.k


def exact_topk(items: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact top-k rows of ``items`` by inner product per query (numpy argpartition), best first."""
    k = min(k, len(items))
    scores = np.asarray(queries, np.float32) @ np.asarray(items, np.float32).T
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64), np.take_along_axis(part_scores, order, axis=1)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each query's exact top-k found (rows of -1 never count)."""
    hits = [len(np.intersect1d(f[f >= 0], e)) / len(e) for f, e in zip(found, exact)]
    return float(np.mean(hits)) if hits else 1.0


def _builder(items: np.ndarray, params: AnnParams):
    import scann

    builder = scann.scann_ops_pybind.builder(items, min(params.k, len(items)), "dot_product")
    builder.set_n_training_threads(params.training_threads)
    return builder


def build_index(items: np.ndarray, params: AnnParams = AnnParams(), *, queries: np.ndarray | None = None) -> AnnIndex:
    """A ScaNN searcher over ``items`` (n x d); with ``queries``, recall@k is measured (and leaves tuned)."""
    items = np.ascontiguousarray(items, dtype=np.float32)
    n, dim = items.shape
    if n == 0:
        raise ValueError("cannot index an empty catalog")
    if n < params.brute_force_below:
        index = AnnIndex(_builder(items, params).score_brute_force().build(), "brute_force", n, dim, params=params)
        if queries is not None:
            index.recall = recall_at_k(index.search(queries)[0], exact_topk(items, queries, params.k)[0])
        return index
    leaves = max(2, min(params.num_leaves or round(math.sqrt(n)), n // 10))
    builder = (_builder(items, params)
               .tree(num_leaves=leaves, num_leaves_to_search=min(leaves, params.leaves_to_search or leaves),
                     training_sample_size=min(n, params.training_sample_size))
               .score_ah(params.dims_per_block, anisotropic_quantization_threshold=params.anisotropic_threshold)
               .reorder(params.reorder or 4 * params.k))
    index = AnnIndex(builder.build(), "tree_ah", n, dim, params.leaves_to_search or max(1, leaves // 20), params=params)
    if queries is not None:
        _tune_leaves(index, items, queries, leaves, tune=params.leaves_to_search is None)
    return index


def _tune_leaves(index: AnnIndex, items, queries, leaves: int, *, tune: bool) -> None:
    exact = exact_topk(items, queries, index.params.k)[0]
    while True:
        index.leaves_to_search = min(index.leaves_to_search, leaves)
        index.recall = recall_at_k(index.search(queries)[0], exact)
        if not tune or index.recall >= index.params.recall_target or index.leaves_to_search >= leaves:
            return
        index.leaves_to_search *= 2


def save_index(index: AnnIndex, directory: Path) -> Path:
    (directory / "scann").mkdir(parents=True, exist_ok=True)
    index.searcher.serialize(str(directory / "scann"))
    io.write_json({"kind": index.kind, "n_items": index.n_items, "dim": index.dim, "recall": index.recall,
                   "leaves_to_search": index.leaves_to_search, "params": asdict(index.params)},
                  directory / "meta.json")
    return directory


def load_index(directory: Path) -> AnnIndex:
    import scann

    meta = io.read_json(directory / "meta.json")
    searcher = scann.scann_ops_pybind.load_searcher(str(directory / "scann"))
    return AnnIndex(searcher, meta["kind"], meta["n_items"], meta["dim"], meta["leaves_to_search"], meta["recall"],
                    AnnParams(**meta["params"]))


def sample_queries(user_factors: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` user vectors, drawn without replacement (seeded): the recall probe of a build."""
    rng = np.random.default_rng(seed)
    take = rng.choice(len(user_factors), size=min(n, len(user_factors)), replace=False)
    return np.asarray(user_factors[np.sort(take)], dtype=np.float32)


def run(settings: Settings, ds: str) -> dict:
    """Index the item factors of runs/<ds>/als; write runs/<ds>/index/ and the build's recall@k."""
    started = time.monotonic()
    out_dir = io.run_dir(settings, ds)
    model, _ = load_als(out_dir / "als")
    params = AnnParams()
    queries = sample_queries(model.user_factors, params.recall_queries, settings.seed)
    index = build_index(model.item_factors, params, queries=queries)
    save_index(index, out_dir / "index")
    metrics = {f"recall@{params.k}": index.recall, "kind": index.kind, "leaves_to_search": index.leaves_to_search,
               "queries": len(queries)}
    seconds = round(time.monotonic() - started, 2)
    manifest.update_manifest(settings, ds, "build_index", params=asdict(params), rows={"items": index.n_items},
                             metrics=metrics, seconds=seconds)
    if index.recall is not None and index.recall < params.recall_target:
        log.warning("index recall@%d %.3f is below the target %.2f", params.k, index.recall, params.recall_target)
    log.info("build_index %s: %s in %.1f s", ds, metrics, seconds)
    return {"ds": ds, "items": index.n_items, **metrics, "seconds": seconds}

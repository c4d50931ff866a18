"""ScaNN over the ALS item factors (maximum inner product), with its recall measured at every build.

- Catalogs under ``brute_force_below`` items: exact float32 brute force (recall 1 by construction).
- Larger ones, norm-ranged: the ``head_share`` of items with the largest norms is scored exactly (ScaNN
  brute force), the rest by a k-means tree (``num_leaves`` ~ sqrt(n), trained on a sample, anisotropic
  centroids) + asymmetric hashing, re-scored exactly on the best ``reorder`` hits; the two top-k lists are
  merged by exact score. ALS factor norms grow with popularity, so a user's top inner products come mostly
  from the few largest-norm items, which a tree spreads over many leaves (bench/results/ann.md measures it).
- How many leaves a query searches: ``leaves_to_search`` if set; else, at build, the fewest whose
  recall@k against ``exact_topk`` on a sample of real queries (user vectors) reaches ``recall_target``
  with 95% confidence (doubling from 1/64 of the leaves, then bisecting). Recall and the choice are stored.

Artifacts of ``build_index``: ``runs/<ds>/index/scann/`` (``searcher.serialize``; reload with
``scann_ops_pybind.load_searcher``), ``head/`` and ``head_rows.npy`` (the exactly scored rows), and
``meta.json``. Index rows are the ALS item rows; ``als/ids.npz`` maps them to video ids.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
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
    head_share: float = 0.02              # share of items (largest norms) scored exactly beside the tree
    num_leaves: int | None = None         # None: round(sqrt(tree items))
    leaves_to_search: int | None = None   # None: tuned at build (fewest leaves reaching recall_target)
    dims_per_block: int = 2
    anisotropic_threshold: float = 0.2    # AH noise shaping, relative to the median item norm; 0: off
    avq: float | None = 2.5               # anisotropic tree centroids (ScaNN avq); None: plain k-means
    reorder: int | None = None            # exact re-scoring of this many tree hits; None: 8 * k
    training_sample_size: int = 100_000
    recall_target: float = 0.95
    recall_queries: int = 500
    training_threads: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.head_share < 1:
            raise ValueError(f"head_share must be in [0, 1), not {self.head_share}")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> "AnnParams":
        """The nightly's parameters: ``VIDREC_ANN_*`` (0 means automatic for leaves and reorder)."""
        return replace(cls(brute_force_below=settings.ann_brute_force_below, head_share=settings.ann_head_share,
                           num_leaves=settings.ann_num_leaves or None,
                           leaves_to_search=settings.ann_leaves_to_search or None,
                           reorder=settings.ann_reorder or None, recall_target=settings.ann_recall_target),
                       **overrides)


@dataclass
class AnnIndex:
    searcher: object                # brute_force: over all items; tree_ah: over the tail (rows not in head_rows)
    kind: str                       # "brute_force" | "tree_ah"
    n_items: int
    dim: int
    leaves_to_search: int | None = None
    recall: float | None = None
    params: AnnParams = field(default_factory=AnnParams)
    num_leaves: int | None = None
    head: object | None = None      # exact searcher over head_rows (tree_ah with head_share > 0)
    head_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __post_init__(self) -> None:
        in_head = np.zeros(self.n_items, bool)
        in_head[self.head_rows] = True
        self.tail_rows = np.flatnonzero(~in_head) if self.kind == "tree_ah" else None

    def search(self, queries: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows int64, scores float32), each (len(queries), k), best first; missing hits are -1 / -inf."""
        k = k or self.params.k
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if len(queries) == 0:
            return np.empty((0, k), np.int64), np.empty((0, k), np.float32)
        if self.kind != "tree_ah":
            return _pad(*_hits(self.searcher.search_batched(queries, min(k, self.n_items)), self.n_items), k)
        kt = min(k, len(self.tail_rows))
        found = self.searcher.search_batched(queries, kt, max(self.reorder, kt), self.leaves_to_search)
        rows, scores = _hits(found, len(self.tail_rows), self.tail_rows)
        if self.head is not None:
            head_rows, head_scores = _hits(self.head.search_batched(queries, min(k, len(self.head_rows))),
                                           len(self.head_rows), self.head_rows)
            rows, scores = np.hstack([head_rows, rows]), np.hstack([head_scores, scores])
            best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            rows, scores = np.take_along_axis(rows, best, axis=1), np.take_along_axis(scores, best, axis=1)
        return _pad(rows, scores, k)

    @property
    def reorder(self) -> int:
        """Tree hits re-scored exactly per query."""
        return self.params.reorder or 8 * self.params.k


def _hits(found, limit: int, mapping: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ScaNN's (rows, scores) as int64 / float32, rows (< ``limit``) mapped to item rows; invalid: -1 / -inf."""
    rows, scores = np.array(found[0], np.int64), np.array(found[1], np.float32)
    bad = (rows < 0) | (rows >= limit) | ~np.isfinite(scores)
    rows[bad], scores[bad] = 0, -np.inf
    if mapping is not None:
        rows = mapping[rows]
    rows[bad] = -1
    return rows, scores


def _pad(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if rows.shape[1] < k:
        pad = k - rows.shape[1]
        rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    return rows, scores


def exact_topk(items: np.ndarray, queries: np.ndarray, k: int, *, block: int = 256,
               chunk: int = 16_384) -> tuple[np.ndarray, np.ndarray]:
    """The exact top-k rows of ``items`` by inner product per query, best first (numpy: blocked matmul +
    argpartition; memory stays at ``block`` x ``chunk`` scores whatever the catalog size)."""
    items, queries = np.asarray(items, np.float32), np.asarray(queries, np.float32)
    k, chunk = min(k, len(items)), max(chunk, k)
    rows, scores = np.zeros((len(queries), k), np.int64), np.zeros((len(queries), k), np.float32)
    for start in range(0, len(queries), block):
        q = queries[start:start + block]
        part = q @ items[:chunk].T
        best_rows = np.argpartition(-part, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(part, best_rows, axis=1)
        for first in range(chunk, len(items), chunk):
            best_rows, best_scores = _merge_chunk(best_rows, best_scores, q @ items[first:first + chunk].T, first)
        order = np.argsort(-best_scores, axis=1, kind="stable")
        rows[start:start + len(q)] = np.take_along_axis(best_rows, order, axis=1)
        scores[start:start + len(q)] = np.take_along_axis(best_scores, order, axis=1)
    return rows, scores


def _merge_chunk(best_rows, best_scores, part, first: int):
    """Merge one chunk's scores into each query's current top-k: only scores above the query's k-th best
    are gathered (a compare and a nonzero instead of a partition of the whole chunk)."""
    r, c = np.nonzero(part > best_scores.min(axis=1)[:, None])
    if not len(r):
        return best_rows, best_scores
    counts = np.bincount(r, minlength=len(part))
    pos = np.arange(len(r)) - np.repeat(np.cumsum(counts) - counts, counts)
    cand_rows = np.full((len(part), counts.max()), -1, np.int64)
    cand_scores = np.full((len(part), counts.max()), -np.inf, np.float32)
    cand_rows[r, pos], cand_scores[r, pos] = c + first, part[r, c]
    all_rows, all_scores = np.hstack([best_rows, cand_rows]), np.hstack([best_scores, cand_scores])
    keep = np.argpartition(-all_scores, best_rows.shape[1] - 1, axis=1)[:, :best_rows.shape[1]]
    return np.take_along_axis(all_rows, keep, axis=1), np.take_along_axis(all_scores, keep, axis=1)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each query's exact top-k found (rows of -1 never count)."""
    hits = _recalls(found, exact)
    return float(np.mean(hits)) if len(hits) else 1.0


def _recalls(found: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.array([len(np.intersect1d(f[f >= 0], e)) / len(e) for f, e in zip(found, exact)])


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
    index = _build_tree(items, params)
    if queries is not None:
        _tune_leaves(index, items, queries, tune=params.leaves_to_search is None)
    return index


def _build_tree(items: np.ndarray, params: AnnParams) -> AnnIndex:
    n, dim = items.shape
    norms = np.linalg.norm(items, axis=1)
    n_head = min(int(round(params.head_share * n)), n - max(params.k, 100))
    head_rows = np.sort(np.argsort(-norms, kind="stable")[:max(n_head, 0)])
    index = AnnIndex(None, "tree_ah", n, dim, params=params, head_rows=head_rows)
    tail = items[index.tail_rows]
    leaves = max(2, min(params.num_leaves or round(math.sqrt(len(tail))), len(tail) // 10))
    threshold = params.anisotropic_threshold * float(np.median(norms[index.tail_rows]))
    index.searcher = (_builder(tail, params)
                      .tree(num_leaves=leaves, num_leaves_to_search=min(leaves, params.leaves_to_search or leaves),
                            training_sample_size=min(len(tail), params.training_sample_size), avq=params.avq)
                      .score_ah(params.dims_per_block, anisotropic_quantization_threshold=threshold or float("nan"))
                      .reorder(index.reorder)
                      .build())
    if len(head_rows):
        index.head = _builder(items[head_rows], params).score_brute_force().build()
    index.num_leaves, index.leaves_to_search = leaves, min(leaves, params.leaves_to_search or max(1, leaves // 64))
    return index


def _tune_leaves(index: AnnIndex, items, queries, *, tune: bool) -> None:
    """Measure recall@k; when tuning, keep the fewest leaves_to_search whose recall reaches the target with
    95% confidence (the probe's mean minus 1.645 standard errors), so that other users see it too."""
    exact = exact_topk(items, queries, index.params.k)[0]
    measured = {}

    def reaches(leaves: int) -> bool:
        index.leaves_to_search = leaves
        per_query = _recalls(index.search(queries)[0], exact)
        measured[leaves] = float(per_query.mean())
        bound = per_query.mean() - 1.645 * per_query.std() / math.sqrt(len(per_query))
        return bound >= index.params.recall_target

    low, high = 0, index.leaves_to_search
    ok = reaches(high)
    while tune and not ok and high < index.num_leaves:
        low, high = high, min(2 * high, index.num_leaves)
        ok = reaches(high)
    while tune and ok and high - low > max(1, high // 10):
        middle = (low + high) // 2
        low, high = (low, middle) if reaches(middle) else (middle, high)
    index.leaves_to_search, index.recall = high, measured[high]


def save_index(index: AnnIndex, directory: Path) -> Path:
    (directory / "scann").mkdir(parents=True, exist_ok=True)
    index.searcher.serialize(str(directory / "scann"))
    if index.head is not None:
        (directory / "head").mkdir(exist_ok=True)
        index.head.serialize(str(directory / "head"))
    np.save(directory / "head_rows.npy", index.head_rows)
    io.write_json({"kind": index.kind, "n_items": index.n_items, "dim": index.dim, "recall": index.recall,
                   "leaves_to_search": index.leaves_to_search, "num_leaves": index.num_leaves,
                   "head_items": len(index.head_rows), "params": asdict(index.params)},
                  directory / "meta.json")
    return directory


def load_index(directory: Path) -> AnnIndex:
    import scann

    meta = io.read_json(directory / "meta.json")
    load = scann.scann_ops_pybind.load_searcher
    head_rows = np.load(directory / "head_rows.npy") if (directory / "head_rows.npy").exists() else np.empty(0, int)
    return AnnIndex(load(str(directory / "scann")), meta["kind"], meta["n_items"], meta["dim"],
                    meta["leaves_to_search"], meta["recall"], AnnParams(**meta["params"]), meta.get("num_leaves"),
                    load(str(directory / "head")) if len(head_rows) else None, head_rows.astype(np.int64))


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
    params = AnnParams.from_settings(settings)
    queries = sample_queries(model.user_factors, params.recall_queries, settings.seed)
    index = build_index(model.item_factors, params, queries=queries)
    save_index(index, out_dir / "index")
    metrics = {f"recall@{params.k}": index.recall, "kind": index.kind, "leaves_to_search": index.leaves_to_search,
               "num_leaves": index.num_leaves, "head_items": len(index.head_rows), "queries": len(queries)}
    seconds = round(time.monotonic() - started, 2)
    manifest.update_manifest(settings, ds, "build_index", params=asdict(params), rows={"items": index.n_items},
                             metrics=metrics, seconds=seconds)
    if index.recall is not None and index.recall < params.recall_target:
        log.warning("index recall@%d %.3f is below the target %.2f", params.k, index.recall, params.recall_target)
    log.info("build_index %s: %s in %.1f s", ds, metrics, seconds)
    return {"ds": ds, "items": index.n_items, **metrics, "seconds": seconds}

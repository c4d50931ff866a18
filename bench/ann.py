"""Benchmark: the nightly's ScaNN index over 1M items x 64 dims against exact search (recall@100, queries/s).

    .venv/bin/python bench/ann.py [--items 1000000] [--dim 64] [--queries 1000] [--data als,clustered,...]
                                  [--param reorder=800 ...] [--factors runs/<ds>/als/model.npz]

For each data set: items and user-like queries are generated (seeded); the index is built exactly as
``build_index`` runs it (``AnnParams.from_settings``, so ``VIDREC_ANN_*`` apply; ``--param`` overrides
them), with its leaves tuned on 500 probe users; recall@100 is measured on ``--queries`` other users
against numpy's exact top-100 (blocked matmul + argpartition, ``exact_topk``). Queries/s: ScaNN's
``search_batched`` on one thread for both sides, the index and ScaNN's exact float32 brute force over the
same items, in 5 interleaved rounds (best of each; the ratio of each round is printed too, since the
machine is shared). numpy's exact search is timed on one BLAS thread as a second reference.

Data sets:
- ``als``: vectors shaped like vidrec's own ALS factors. Item directions mix a topic (n/500 topics of Zipf
  popularity) with noise (20% / 80% of the variance); norms are 0.04 e^(0.3 z) (1 + 0.2 E^2) (z normal,
  E exponential), which matches the norm quantiles of the ALS item factors of a 3M-event run (30k videos)
  up to the 99.9th percentile. Users mix 1-3 popular topics with a Beta(1, 2) share of taste, the rest
  noise. At 30k items its recall-vs-leaves curve follows the 3M run's (bench/results/ann.md).
- ``clustered``: strong topical structure (items near one of 2000 subtopics), lognormal norms.
- ``als-tree-only``, ``clustered-tree-only``: the same vectors, the tree alone (``head_share=0``).
- ``uniform``: isotropic Gaussian items and queries (no structure at all; the hard case).
- ``--factors``: a real ALS model (``save_als``'s model.npz): its item factors, and its user factors as queries.
The last line is JSON: the first data set's figures plus every row.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from models.retrieval.ann_index import AnnParams, build_index, exact_topk, recall_at_k
from vidrec.settings import Settings

PROBE_QUERIES = 500


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def als_like(n: int, dim: int, n_users: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(items, users) float32, shaped like ALS factors (the module docstring has the recipe)."""
    rng = np.random.default_rng(seed)
    topics = _unit(rng.standard_normal((max(1, n // 500), dim), dtype=np.float32))
    popularity = rng.zipf(1.5, size=len(topics)).astype(float)
    popularity /= popularity.sum()
    label = rng.choice(len(topics), size=n, p=popularity)
    items = _unit(np.sqrt(0.2) * topics[label] + np.sqrt(0.8) * _unit(rng.standard_normal((n, dim), np.float32)))
    items *= 0.04 * np.exp(0.3 * rng.standard_normal((n, 1))) * (1 + 0.2 * rng.exponential(size=(n, 1)) ** 2)
    mix = rng.dirichlet(np.ones(3), size=n_users)
    taste = _unit(np.einsum("uj,ujd->ud", mix, topics[rng.choice(len(topics), size=(n_users, 3), p=popularity)]))
    share = rng.beta(1.0, 2.0, size=(n_users, 1))
    users = 4 * (np.sqrt(share) * taste + np.sqrt(1 - share) * _unit(rng.standard_normal((n_users, dim))))
    return items.astype(np.float32), users.astype(np.float32)


def clustered(n: int, dim: int, n_users: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(items, users): strong topical structure (50 categories x 40 subtopics of Zipf popularity; items
    near their subtopic), lognormal norms; users mix 1-3 subtopics (less noisy than ``als_like``)."""
    rng = np.random.default_rng(seed)
    categories = rng.standard_normal((50, dim), np.float32)
    subtopics = np.repeat(categories, 40, axis=0) + 0.6 * rng.standard_normal((2000, dim), np.float32)
    popularity = np.minimum(rng.zipf(1.3, size=2000), 1e4).astype(float)
    popularity /= popularity.sum()
    items = _unit(subtopics[rng.choice(2000, size=n, p=popularity)] + 0.8 * rng.standard_normal((n, dim), np.float32))
    items *= rng.lognormal(0.0, 0.5, size=(n, 1)).astype(np.float32)
    mix = rng.dirichlet(np.ones(3), size=n_users) * (rng.random((n_users, 3)) < [1, 0.5, 0.5])
    users = np.einsum("uj,ujd->ud", mix, subtopics[rng.choice(2000, size=(n_users, 3), p=popularity)])
    return items.astype(np.float32), (users + 0.3 * rng.standard_normal(users.shape)).astype(np.float32)


def uniform(n: int, dim: int, n_users: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dim), np.float32), rng.standard_normal((n_users, dim), np.float32)


DATA = {"als": (als_like, {}), "als-tree-only": (als_like, {"head_share": 0.0}), "clustered": (clustered, {}),
        "clustered-tree-only": (clustered, {"head_share": 0.0}), "uniform": (uniform, {})}


def seconds(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def queries_per_second(index, brute, queries: np.ndarray, rounds: int = 5) -> dict:
    """Best-of-``rounds`` queries/s of the index (all queries) and of brute force (as many queries as take
    ~0.5 s: 200 at 1M items), interleaved."""
    ann, exact, ratios = [], [], []
    brute_slice = queries[:int(np.clip(2e8 / index.n_items, 50, len(queries)))]
    for _ in range(rounds):
        ann.append(len(queries) / seconds(index.search, queries))
        exact.append(len(brute_slice) / seconds(brute.search_batched, brute_slice, 100))
        ratios.append(ann[-1] / exact[-1])
    return {"ann_qps": max(ann), "brute_qps": max(exact), "round_speedups": [round(r, 1) for r in ratios]}


def from_model(path: str, n_users: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    factors = np.load(path)
    users = factors["user_factors"]
    take = np.random.default_rng(seed).permutation(len(users))[:n_users]
    return np.asarray(factors["item_factors"], np.float32), np.asarray(users[take], np.float32)


def measure(name: str, n: int, dim: int, n_queries: int, settings: Settings, overrides: dict) -> dict:
    """One row: build as the nightly does, then recall@100 and queries/s against exact search."""
    import scann

    make, data_overrides = DATA.get(name, (None, {}))
    items, users = (make(n, dim, PROBE_QUERIES + n_queries, seed=settings.seed) if make else
                    from_model(name, PROBE_QUERIES + n_queries, settings.seed))
    n, dim, n_queries = len(items), items.shape[1], len(users) - PROBE_QUERIES
    if n_queries < 1:
        raise SystemExit(f"{name}: needs more than {PROBE_QUERIES} users")
    probe, queries = users[:PROBE_QUERIES], users[PROBE_QUERIES:]
    params = AnnParams.from_settings(settings, **{**data_overrides, **overrides})
    with threadpool_limits(1):
        started = time.perf_counter()
        index = build_index(items, params, queries=probe)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        exact = exact_topk(items, queries, 100)[0]
        numpy_qps = len(queries) / (time.perf_counter() - started)
        brute = scann.scann_ops_pybind.builder(items, 100, "dot_product").score_brute_force().build()
        speed = queries_per_second(index, brute, queries)
        recall = recall_at_k(index.search(queries)[0], exact)
    return {"data": name, "items": n, "dims": dim, "build_s": round(build_s, 1), "recall@100": round(recall, 4),
            "probe_recall@100": round(index.recall, 4), "brute_qps": round(speed["brute_qps"], 1),
            "ann_qps": round(speed["ann_qps"], 1), "speedup": round(speed["ann_qps"] / speed["brute_qps"], 1),
            "round_speedups": speed["round_speedups"], "numpy_exact_qps": round(numpy_qps, 1),
            "speedup_vs_numpy": round(speed["ann_qps"] / numpy_qps, 1), "kind": index.kind,
            "num_leaves": index.num_leaves, "leaves_to_search": index.leaves_to_search,
            "head_items": len(index.head_rows), "reorder": index.reorder, "avq": params.avq,
            "anisotropic_threshold": params.anisotropic_threshold, "threads": 1}


def parse_overrides(pairs: list[str]) -> dict:
    types = {f.name: f.type for f in dataclasses.fields(AnnParams)}
    out = {}
    for pair in pairs:
        name, raw = pair.split("=", 1)
        if name not in types:
            raise SystemExit(f"--param {name}: not an AnnParams field ({', '.join(types)})")
        out[name] = None if raw == "none" else (float(raw) if "float" in str(types[name]) else int(raw))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--queries", type=int, default=1000, help="held-out queries for recall and queries/s")
    ap.add_argument("--data", default=",".join(DATA), help=f"comma-separated, of {', '.join(DATA)}")
    ap.add_argument("--factors", help="also a row for this ALS model.npz (item factors; user factors as queries)")
    ap.add_argument("--param", action="append", default=[], help="AnnParams override NAME=VALUE (repeatable)")
    a = ap.parse_args()
    settings, overrides = Settings.from_env(), parse_overrides(a.param)
    print("| data | items | dims | build s | recall@100 | brute qps | ann qps | speedup (rounds) | numpy exact qps |"
          " leaves searched | head items | reorder |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name in [d for d in a.data.split(",") if d] + ([a.factors] if a.factors else []):
        r = measure(name, a.items, a.dim, a.queries, settings, overrides)
        rows.append(r)
        print(f"| {name} | {r['items']:,} | {r['dims']} | {r['build_s']} | {r['recall@100']} | {r['brute_qps']} |"
              f" {r['ann_qps']} | {r['speedup']}x ({', '.join(map(str, r['round_speedups']))}) |"
              f" {r['numpy_exact_qps']} | {r['leaves_to_search']}/{r['num_leaves']} | {r['head_items']} |"
              f" {r['reorder']} |", flush=True)
    print(json.dumps({**rows[0], "rows": rows}))


if __name__ == "__main__":
    main()

"""Benchmark: EASE's co-watch weights by Cholesky in float32 (``ease_weights``, whose rows ``build_ease``
keeps the best neighbours of) against the previous path, a general inverse in float64 (``np.linalg.inv``),
on the same matrices in the same run.

    .venv/bin/python bench/ease_inverse.py [--path ../shared/datasets/ml-latest-small] [--sizes 4000 12000]

Cases: the ratings at ``--path`` (its catalog size), and synthetic users x videos matrices of ``--sizes``
videos (popularity falling as a power law, 30 videos per user on average, 8 users per video). For each:
seconds of both, their ratio, the largest difference of the dense weights and the share of each row's
``--neighbours`` kept neighbours both agree on. Last line JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import scipy.sparse as sp

from models.evaluation.datasets import load_interactions
from models.retrieval.matrix import top_per_dense_row
from models.retrieval.similarity import ease_weights


def previous_weights(user_items: sp.csr_matrix, l2: float) -> np.ndarray:
    """The weights as ``build_ease`` computed them before: float64 gram, ``np.linalg.inv``."""
    binary = user_items.astype(bool).astype(np.float64)
    gram = (binary.T @ binary).toarray()
    gram[np.diag_indices_from(gram)] += l2
    weights = np.linalg.inv(gram)
    weights /= -np.diag(weights).copy()
    np.fill_diagonal(weights, 0.0)
    return weights.astype(np.float32)


def synthetic(videos: int, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    users = videos * 8 // 30
    p = 1.0 / np.arange(1, videos + 1) ** 0.8
    cols = rng.choice(videos, size=users * 30, p=p / p.sum())
    rows = np.repeat(np.arange(users), 30)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(users, videos))


def from_ratings(path: str) -> sp.csr_matrix:
    df = load_interactions(path)
    users, rows = np.unique(df["user_id"].to_numpy(), return_inverse=True)
    videos, cols = np.unique(df["video_id"].to_numpy(), return_inverse=True)
    return sp.csr_matrix((np.ones(len(df), np.float32), (rows, cols)), shape=(len(users), len(videos)))


def compare(name: str, user_items: sp.csr_matrix, l2: float, neighbours: int) -> dict:
    started = time.perf_counter()
    before = previous_weights(user_items, l2)
    before_s = time.perf_counter() - started
    started = time.perf_counter()
    now = ease_weights(user_items, l2)
    now_s = time.perf_counter() - started
    kept_before, kept_now = top_per_dense_row(before, neighbours), top_per_dense_row(now, neighbours)
    shared = kept_before.multiply(kept_now).getnnz() / max(kept_before.getnnz(), 1)
    return {"case": name, "videos": user_items.shape[1], "users": user_items.shape[0], "rows": user_items.nnz,
            "previous_s": round(before_s, 2), "cholesky_f32_s": round(now_s, 2),
            "speedup": round(before_s / now_s, 2), "max_weight_diff": float(np.abs(before - now).max()),
            "neighbours_shared": round(shared, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default="../shared/datasets/ml-latest-small")
    parser.add_argument("--sizes", type=int, nargs="*", default=[4000, 12000])
    parser.add_argument("--neighbours", type=int, default=200)
    parser.add_argument("--l2", type=float, default=500.0)
    args = parser.parse_args()
    cases = [(args.path.rstrip("/").split("/")[-1], from_ratings(args.path))]
    cases += [(f"synthetic {n}", synthetic(n)) for n in args.sizes]
    out = []
    print("| case | videos | users | rows | np.linalg.inv f64 s | Cholesky f32 s | speedup | max weight diff "
          "| neighbours shared |\n|---|---|---|---|---|---|---|---|---|")
    for name, user_items in cases:
        r = compare(name, user_items.tocsr(), args.l2, args.neighbours)
        out.append(r)
        print(f"| {name} | {r['videos']:,} | {r['users']:,} | {r['rows']:,} | {r['previous_s']} | "
              f"{r['cholesky_f32_s']} | {r['speedup']}x | {r['max_weight_diff']:.1e} | {r['neighbours_shared']} |",
              flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

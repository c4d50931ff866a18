"""Interactions in matrix form and the integer-sort helpers every stage ranks with.

``IdMap`` maps external ids to matrix rows/columns; ``build_user_items`` turns (user_id, video_id,
confidence) rows into the users x videos CSR. ``isin_pairs``, ``group_order``, ``rank_in_groups``,
``top_per_row``, ``top_of_product`` and ``top_per_group`` are the vectorized (numpy, no per-row Python) building
blocks of retrieval, fusion, re-ranking and the gate; ``compiled`` compiles a kernel with numba on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from vidrec.tables import USER_ID, VIDEO_ID

CONFIDENCE = "confidence"  # the weight column of (user_id, video_id, confidence) rows


@dataclass(frozen=True)
class IdMap:
    """External ids <-> matrix rows/columns: ``users[row]`` and ``videos[col]`` are the external ids."""

    users: np.ndarray
    videos: np.ndarray

    @cached_property
    def _user_index(self) -> pd.Index:
        return pd.Index(self.users)

    @cached_property
    def _video_index(self) -> pd.Index:
        return pd.Index(self.videos)

    def user_rows(self, ids) -> np.ndarray:
        """Row of each user id; -1 for ids the model has not seen."""
        return self._user_index.get_indexer(np.asarray(ids, dtype=object))

    def video_rows(self, ids) -> np.ndarray:
        return self._video_index.get_indexer(np.asarray(ids, dtype=object))

    def save(self, path: Path) -> None:
        np.savez(path, users=self.users.astype(str), videos=self.videos.astype(str))

    @classmethod
    def load(cls, path: Path) -> "IdMap":
        with np.load(path, allow_pickle=False) as data:
            return cls(users=data["users"].astype(object), videos=data["videos"].astype(object))


def build_user_items(pairs: pd.DataFrame, idmap: IdMap | None = None) -> tuple[sp.csr_matrix, IdMap]:
    """(user_id, video_id, confidence) rows -> users x videos CSR (float32, duplicates summed) + IdMap.

    Without ``idmap`` the ids are the sorted distinct ids of ``pairs``; with one, pairs whose user or
    video it does not know are dropped.
    """
    if idmap is None:
        idmap = IdMap(users=np.sort(pairs[USER_ID].unique()).astype(object),
                      videos=np.sort(pairs[VIDEO_ID].unique()).astype(object))
    rows, cols = idmap.user_rows(pairs[USER_ID]), idmap.video_rows(pairs[VIDEO_ID])
    keep = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix((pairs[CONFIDENCE].to_numpy(np.float32)[keep], (rows[keep], cols[keep])),
                           shape=(len(idmap.users), len(idmap.videos)), dtype=np.float32)
    matrix.sum_duplicates()
    return matrix, idmap


class PairSet:
    """The pairs (a2[j], b2[j]) for repeated lookups (``contains``, ``positions``): both sides are factorized
    and the pair keys hashed once, then each lookup hashes only the pairs it looks up."""

    def __init__(self, a2, b2):
        ca, ua = pd.factorize(np.asarray(a2, dtype=object), use_na_sentinel=False)
        cb, ub = pd.factorize(np.asarray(b2, dtype=object), use_na_sentinel=False)
        self._a, self._b, self._width = pd.Index(ua, dtype=object), pd.Index(ub, dtype=object), max(len(ub), 1)
        keys, self._first = np.unique(ca.astype(np.int64) * self._width + cb, return_index=True)
        self._keys = pd.Index(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def positions(self, a1, b1) -> np.ndarray:
        """For each pair (a1[i], b1[i]): the first j with (a2[j], b2[j]) equal to it, or -1."""
        out = np.full(len(a1), -1, np.int64)
        if not len(a1) or not len(self._keys):
            return out
        ca = self._a.get_indexer(np.asarray(a1, dtype=object))
        cb = self._b.get_indexer(np.asarray(b1, dtype=object))
        ok = np.flatnonzero((ca >= 0) & (cb >= 0))
        at = self._keys.get_indexer(ca[ok].astype(np.int64) * self._width + cb[ok])
        out[ok[at >= 0]] = self._first[at[at >= 0]]
        return out

    def contains(self, a1, b1) -> np.ndarray:
        """For each pair (a1[i], b1[i]): is it in the set."""
        return self.positions(a1, b1) >= 0


def in_sorted(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """For each of ``keys``: is it one of ``sorted_keys`` (sorted ascending; a binary search, no hashing)."""
    if not len(sorted_keys):
        return np.zeros(len(keys), bool)
    return sorted_keys[np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)] == keys


def isin_pairs(a1, b1, a2, b2) -> np.ndarray:
    """For each pair (a1[i], b1[i]): is it one of the pairs (a2[j], b2[j]) (``PairSet`` of the second, once)."""
    return PairSet(a2, b2).contains(a1, b1)


def group_order(group, score) -> np.ndarray:
    """Permutation sorting rows by integer ``group`` ascending, then ``score`` descending; ties keep the
    input order. Two stable integer argsorts instead of a multi-key lexsort."""
    n = len(score)
    by_score = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    rank = np.empty(n, np.int64)
    rank[by_score] = np.arange(n)
    return np.argsort(np.asarray(group, dtype=np.int64) * max(n, 1) + rank, kind="stable")


def rank_in_groups(sorted_groups: np.ndarray) -> np.ndarray:
    """1-based position of each row within its run of equal values (``sorted_groups`` is sorted)."""
    n = len(sorted_groups)
    starts = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]] if n else np.zeros(0, bool)
    return np.arange(n) - np.maximum.accumulate(np.where(starts, np.arange(n), 0)) + 1


def top_per_row(matrix: sp.csr_matrix, m: int) -> sp.csr_matrix:
    """Keep the ``m`` largest entries of every row of a CSR matrix (ties: lower column first; NaN below
    every number; duplicate entries of a cell are summed first). Rows are selected one by one in compiled
    code by partition, not by sorting."""
    return top_of_product(matrix, None, m)


def top_of_product(a: sp.csr_matrix, b: sp.csr_matrix | None, m: int) -> sp.csr_matrix:
    """``top_per_row(a @ b, m)`` without the product: each row of ``a @ b`` is summed in compiled code (in
    scipy's order, so the values are scipy's) into a scratch row, its nonzero entries are selected and only
    the kept ones are stored. The seeds x co-watch product of a chunk of users has hundreds of millions of
    entries; the kept ones are a few hundred per user. ``b`` None: ``a`` itself."""
    a, m = a.tocsr(), max(int(m), 0)
    if b is None:
        dtype, n_cols = a.dtype, a.shape[1]
        b_ptr, b_idx, b_val = np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, dtype)
    else:
        b = b.tocsr()
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"shapes {a.shape} and {b.shape} do not multiply")
        dtype, n_cols = np.result_type(a.dtype, b.dtype), b.shape[1]
        b_ptr, b_idx, b_val = b.indptr.astype(np.int64), b.indices, b.data.astype(dtype, copy=False)
    ptr, idx, val = compiled("top_product", _top_product)(
        a.indptr.astype(np.int64), a.indices, a.data.astype(dtype, copy=False), b_ptr, b_idx, b_val,
        b is None, n_cols, m)
    out = sp.csr_matrix((val, idx, ptr), shape=(a.shape[0], n_cols))
    out.has_sorted_indices = True
    return out


def _top_product(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, identity, n_cols, m):
    """CSR arrays of the ``m`` largest nonzero entries of each row of a @ b (``identity``: b = I), sorted by
    column: the values above the row's m-th largest, then among the values equal to it the lowest columns
    (NaN counts as the smallest value; NaNs tie among themselves)."""
    n_rows, width = len(a_ptr) - 1, min(m, n_cols)
    ptr = np.zeros(n_rows + 1, np.int64)
    idx, val = np.empty(n_rows * width, np.int32), np.empty(n_rows * width, a_val.dtype)
    acc, seen = np.zeros(n_cols, a_val.dtype), np.full(n_cols, -1, np.int64)
    cols, vals = np.empty(n_cols, np.int64), np.empty(n_cols, a_val.dtype)
    n = 0
    for r in range(n_rows if m > 0 else 0):
        count = 0
        for jj in range(a_ptr[r], a_ptr[r + 1]):
            j, v = a_idx[jj], a_val[jj]
            lo, hi = (0, 1) if identity else (b_ptr[j], b_ptr[j + 1])
            for kk in range(lo, hi):
                k = j if identity else b_idx[kk]
                x = v if identity else v * b_val[kk]
                if seen[k] != r:
                    seen[k], acc[k], cols[count] = r, 0, k
                    count += 1
                acc[k] += x
        nz = 0
        for t in range(count):  # scipy keeps the nonzero sums (NaN != 0)
            if acc[cols[t]] != 0:
                cols[nz], vals[nz] = cols[t], acc[cols[t]]
                nz += 1
        row, rcols = vals[:nz], cols[:nz]
        if nz <= m:
            kept = np.arange(nz)
        else:
            numbers = np.flatnonzero(~np.isnan(row))
            if len(numbers) <= m:  # every number, then the NaNs of the lowest columns
                tied, need, above = np.flatnonzero(np.isnan(row)), m - len(numbers), numbers
            else:
                kth = -np.partition(-row[numbers], m - 1)[m - 1]
                above = numbers[row[numbers] > kth]
                tied, need = numbers[row[numbers] == kth], m - len(above)
            kept = np.concatenate((above, tied[np.argsort(rcols[tied], kind="mergesort")[:need]]))
        kept = kept[np.argsort(rcols[kept])]
        idx[n:n + len(kept)], val[n:n + len(kept)] = rcols[kept], row[kept]
        n += len(kept)
        ptr[r + 1] = n
    return ptr, idx[:n], val[:n]


_KERNELS: dict = {}


def compiled(name: str, fn):
    """``fn`` compiled by numba on first use (the import costs about a second; the compiled code is cached)."""
    if name not in _KERNELS:
        from numba import njit

        _KERNELS[name] = njit(fn, cache=True)  # compiled once per install (__pycache__), not per process
    return _KERNELS[name]


def top_per_dense_row(dense: np.ndarray, m: int, block: int = 1024) -> sp.csr_matrix:
    """``top_per_row(sp.csr_matrix(dense), m)`` without the n x n sparse copy and its full sort: each block of
    rows keeps its ``m`` largest nonzero entries (ties: lower column first), found with a partition."""
    n_rows, n_cols = dense.shape
    k, rows, cols, vals = min(m, n_cols), [], [], []
    for start in range(0, n_rows if k > 0 else 0, block):
        part = dense[start:start + block]
        present = part != 0
        score = np.where(present, part, -np.inf)
        kth = -np.partition(-score, k - 1, axis=1)[:, k - 1:k]  # each row's k-th largest (-inf: fewer nonzeros)
        above = score > kth
        tied = present & (score == kth)
        keep = above | (tied & (np.cumsum(tied, axis=1) <= k - above.sum(axis=1, keepdims=True)))
        r, c = np.nonzero(keep)
        rows.append(r + start)
        cols.append(c)
        vals.append(part[r, c])
    if not rows:
        return sp.csr_matrix(dense.shape, dtype=dense.dtype)
    data = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
    return sp.csr_matrix(data, shape=dense.shape, dtype=dense.dtype)


def top_per_group(frame: pd.DataFrame, group: str, score: str, k: int, tiebreak: str = VIDEO_ID) -> pd.DataFrame:
    """The ``k`` best rows by ``score`` of each ``group`` (ties broken by ``tiebreak``), sorted."""
    g = pd.factorize(frame[group], sort=True)[0]
    pre = np.argsort(pd.factorize(frame[tiebreak], sort=True)[0], kind="stable")
    order = pre[group_order(g[pre], frame[score].to_numpy(float)[pre])]
    return frame.iloc[order[rank_in_groups(g[order]) <= k]].reset_index(drop=True)

"""Video x video similarity from the users x videos matrix: co-watch cosine (``build_cowatch``) and EASE
(``build_ease``); ``item_similarity`` picks one. Retrieval's co-watch source, related videos and the
harness's ItemKNN baseline read them."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from models.retrieval.matrix import top_per_dense_row, top_per_row


def build_cowatch(user_items: sp.csr_matrix, neighbours: int, *, block: int = 4096) -> sp.csr_matrix:
    """Videos x videos co-watch similarity: ``n_ij / sqrt(n_i * n_j)`` over users with a positive on both.

    ``n_ij`` counts users with positives on both i and j (binary, whatever the confidence), ``n_i`` on i.
    The diagonal is dropped and each row keeps its ``neighbours`` best entries. Computed as the sparse
    product ``B^T B`` in row blocks of ``block`` videos, so memory stays bounded for large catalogs.
    """
    binary = user_items.tocsr().astype(bool).astype(np.float32)
    item_users = binary.T.tocsr()
    counts = np.asarray(binary.sum(axis=0)).ravel()
    norm = np.sqrt(np.maximum(counts, 1.0)).astype(np.float32)
    parts = []
    for start in range(0, item_users.shape[0], block):
        co = (item_users[start:start + block] @ binary).tocoo()
        off = co.row + start != co.col
        data = co.data[off] / (norm[co.row[off] + start] * norm[co.col[off]])
        part = sp.csr_matrix((data, (co.row[off], co.col[off])), shape=(co.shape[0], binary.shape[1]))
        parts.append(top_per_row(part, neighbours))
    if not parts:
        return sp.csr_matrix((0, 0), dtype=np.float32)
    return sp.vstack(parts, format="csr").astype(np.float32)


def build_ease(user_items: sp.csr_matrix, neighbours: int, l2: float = 500.0) -> sp.csr_matrix:
    """Videos x videos EASE weights (``ease_weights``), each row keeping its ``neighbours`` largest.
    Row i says how much watching video i adds to each other video."""
    return top_per_dense_row(ease_weights(user_items, l2), neighbours)


def ease_weights(user_items: sp.csr_matrix, l2: float = 500.0) -> np.ndarray:
    """Dense videos x videos EASE weights (Steck 2019): ``B = I - P diagMat(1 / diag(P))`` with
    ``P = (X^T X + l2 I)^-1`` over the binary matrix X, zero diagonal.

    One items x items float32 array, inverted in place by ``spd_inverse``: for catalogs up to a few tens of
    thousands of videos; ``item_similarity`` falls back to ``build_cowatch`` above ``max_items``.
    """
    binary = user_items.tocsr().astype(bool).astype(np.float32)
    gram = (binary.T @ binary).toarray()  # co-watch counts: exact in float32 below 2**24 users
    gram[np.diag_indices_from(gram)] += np.float32(l2)
    weights = spd_inverse(gram)
    weights /= -np.diag(weights).copy()  # column j divided by -P_jj
    np.fill_diagonal(weights, 0.0)
    return weights


def spd_inverse(a: np.ndarray, block: int = 2048) -> np.ndarray:
    """The inverse of the symmetric positive definite matrix ``a``, in float32, written over ``a`` when it is
    a C-order float32 array (else over a float32 copy): Cholesky (LAPACK ``spotrf``, then ``spotri`` from
    the factor), half the work of a general inverse, in single precision; ``bench/ease_inverse.py`` measures
    it against ``np.linalg.inv`` in float64. ``spotri`` fills one triangle; the other is mirrored ``block``
    rows at a time."""
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=np.float32)
    factor, info = lapack.spotrf(a.T, lower=False, clean=False, overwrite_a=True)  # a.T: the same memory, F order
    if info == 0:
        factor, info = lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"not positive definite: LAPACK info {info}")
    inv = factor.T  # its lower triangle (upper of the F-order factor) holds the inverse
    for start in range(0, len(inv), block):
        stop = start + block
        diagonal = inv[start:stop, start:stop]
        diagonal[:] = np.tril(diagonal) + np.tril(diagonal, -1).T
        inv[start:stop, stop:] = inv[stop:, start:stop].T
    return inv


def item_similarity(user_items: sp.csr_matrix, neighbours: int, method: str = "cosine", l2: float = 500.0,
                    max_items: int = 20_000) -> sp.csr_matrix:
    """The co-watch matrix retrieval uses: ``"ease"`` (``build_ease``) when the catalog has at most
    ``max_items`` videos, else (and for ``"cosine"``) ``build_cowatch``."""
    if method not in ("cosine", "ease"):
        raise ValueError(f"unknown co-watch method {method!r}: cosine or ease")
    if method == "ease" and 0 < user_items.shape[1] <= max_items:
        return build_ease(user_items, neighbours, l2)
    return build_cowatch(user_items, neighbours)

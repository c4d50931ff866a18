"""EASE's inverse: Cholesky in float32, in place, equal to the float64 general inverse it replaced."""

import numpy as np
import pytest
import scipy.sparse as sp

from models.retrieval.similarity import build_ease, spd_inverse


def _gram(videos: int, users: int, l2: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    binary = (rng.random((users, videos)) < 0.05).astype(np.float32)
    gram = binary.T @ binary
    gram[np.diag_indices_from(gram)] += l2
    return gram


@pytest.mark.parametrize("videos, block", [(1, 2048), (9, 4), (300, 64), (301, 2048)])
def test_spd_inverse_is_the_inverse_written_over_its_input(videos, block):
    gram = _gram(videos, 400, 50.0)
    expected = np.linalg.inv(gram.astype(np.float64))
    work = gram.copy()
    inverse = spd_inverse(work, block=block)
    assert np.shares_memory(inverse, work)  # no second n x n array
    assert inverse.dtype == np.float32 and inverse.flags.c_contiguous
    assert np.array_equal(inverse, inverse.T)  # both triangles, mirrored block by block
    assert inverse == pytest.approx(expected, rel=1e-4, abs=1e-7)


def test_spd_inverse_refuses_a_matrix_that_is_not_positive_definite():
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        spd_inverse(np.array([[1.0, 2.0], [2.0, 1.0]], dtype=np.float32))


def test_spd_inverse_converts_other_dtypes_without_touching_them():
    gram = _gram(20, 100, 5.0).astype(np.float64)
    before = gram.copy()
    inverse = spd_inverse(gram)
    assert np.array_equal(gram, before)
    assert inverse @ before == pytest.approx(np.eye(20), abs=1e-5)


def test_build_ease_keeps_the_neighbours_of_the_float64_weights():
    rng = np.random.default_rng(1)
    user_items = sp.csr_matrix((rng.random((500, 120)) < 0.1).astype(np.float32))
    binary = user_items.toarray().astype(np.float64)
    P = np.linalg.inv(binary.T @ binary + 20.0 * np.eye(120))
    weights = P / -np.diag(P)
    np.fill_diagonal(weights, 0.0)
    B = build_ease(user_items, neighbours=10, l2=20.0)
    assert B.dtype == np.float32 and (B.getnnz(axis=1) == 10).all()
    rows, cols = B.nonzero()
    assert np.asarray(B[rows, cols]).ravel() == pytest.approx(weights[rows, cols], rel=1e-4, abs=1e-7)
    top = np.argsort(-weights, axis=1)[:, :10]
    assert all(set(top[i]) == set(cols[rows == i]) for i in range(120))

"""The data matrix A, dense (numpy) or sparse (scipy.sparse CSR): spectrum, storage, conversion.

Sparse A is stored in ``.npz`` files as CSR fields ``A_data``, ``A_indices``,
``A_indptr``, ``A_shape``; dense A as ``A``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

SPARSE_FIELDS = ("A_data", "A_indices", "A_indptr", "A_shape")


def is_sparse(A) -> bool:
    return sp.issparse(A)


def singular_values(A) -> np.ndarray:
    """All singular values of an n×d matrix with n ≥ d, descending; for sparse A from the d×d Gram matrix."""
    if is_sparse(A):
        gram = (A.T @ A).toarray()
        ev = np.linalg.eigvalsh(0.5 * (gram + gram.T))[::-1]
        return np.sqrt(np.clip(ev, 0.0, None))
    return np.linalg.svd(A, compute_uv=False)


def to_fields(A) -> dict[str, np.ndarray]:
    if is_sparse(A):
        A = sp.csr_matrix(A)
        return {"A_data": A.data, "A_indices": A.indices, "A_indptr": A.indptr, "A_shape": np.array(A.shape)}
    return {"A": A}


def from_fields(z) -> np.ndarray | sp.csr_matrix:
    if "A" in z:
        return z["A"]
    return sp.csr_matrix((z["A_data"], z["A_indices"], z["A_indptr"]), shape=tuple(int(v) for v in z["A_shape"]))



def nnz(A) -> int:
    return int(A.nnz) if is_sparse(A) else int(np.count_nonzero(A))

"""Products with the data matrix A, dense (strided) or sparse (coalesced COO), in O(nnz(A)) work.

The sparse paths never densify an n×d matrix: they work on the nonzeros
(gather, multiply, scatter-add) or on the compressed block of nonempty rows,
so that their cost is proportional to nnz(A) (docs/theory/p1.md §P1.5, Cost; C1.9).
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch
from torch import Tensor

__all__ = ["to_torch", "is_sparse", "matvec", "matmat", "rmatvec", "rmatmat", "scaled_gram", "row_block", "matmat_row_norms2"]


@contextlib.contextmanager
def _csr_beta_quiet():
    """Silence torch's notice that its CSR layout is in beta (the products used here are tested)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        yield


def to_torch(A, dtype=torch.float64, device="cpu") -> Tensor:
    """A numpy array as a dense tensor, or a scipy.sparse matrix as a coalesced sparse COO tensor."""
    if hasattr(A, "tocoo"):  # scipy.sparse
        coo = A.tocoo()
        idx = torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=torch.int64)
        vals = torch.as_tensor(coo.data, dtype=dtype)
        return torch.sparse_coo_tensor(idx, vals, coo.shape, device=device, check_invariants=True).coalesce()
    return torch.as_tensor(A, dtype=dtype, device=device)


def is_sparse(A: Tensor) -> bool:
    return A.layout != torch.strided


def _coo(A: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    if A.layout != torch.sparse_coo:
        A = A.to_sparse_coo()
    if not A.is_coalesced():
        A = A.coalesce()
    i, j = A.indices()
    return i, j, A.values()


def matvec(A: Tensor, x: Tensor) -> Tensor:
    """A x."""
    if not is_sparse(A):
        return A @ x
    i, j, v = _coo(A)
    return torch.zeros(A.shape[0], dtype=x.dtype, device=x.device).index_add_(0, i, v * x[j])


def matmat(A: Tensor, Z: Tensor) -> Tensor:
    """A Z for Z of shape d×k: one pass over A for k right-hand sides."""
    if not is_sparse(A):
        return A @ Z
    i, j, v = _coo(A)
    out = torch.zeros(A.shape[0], Z.shape[1], dtype=Z.dtype, device=Z.device)
    return out.index_add_(0, i, v.unsqueeze(1) * Z[j])


def rmatvec(A: Tensor, y: Tensor) -> Tensor:
    """Aᵀ y."""
    if not is_sparse(A):
        return A.T @ y
    i, j, v = _coo(A)
    return torch.zeros(A.shape[1], dtype=y.dtype, device=y.device).index_add_(0, j, v * y[i])


def rmatmat(A: Tensor, Y: Tensor) -> Tensor:
    """Aᵀ Y for Y of shape n×k: one pass over A for k right-hand sides."""
    if not is_sparse(A):
        return A.T @ Y
    i, j, v = _coo(A)
    out = torch.zeros(A.shape[1], Y.shape[1], dtype=Y.dtype, device=Y.device)
    return out.index_add_(0, j, v.unsqueeze(1) * Y[i])


def scaled_gram(A: Tensor, D: Tensor) -> Tensor:
    """Aᵀ diag(D) A as a dense d×d matrix; Σᵢ nnz(aᵢ)² work for sparse A."""
    if not is_sparse(A):
        return A.T @ (D.unsqueeze(1) * A)
    i, j, v = _coo(A)
    AD = torch.sparse_coo_tensor(torch.stack([i, j]), v * D[i], A.shape, is_coalesced=True,
                                 check_invariants=False)
    At = torch.sparse_coo_tensor(torch.stack([j, i]), v, (A.shape[1], A.shape[0]),
                                 check_invariants=False).coalesce()
    with _csr_beta_quiet():  # sparse × sparse goes through torch's CSR path
        return torch.sparse.mm(At, AD).to_dense()


def row_block(A: Tensor, rows: Tensor) -> Tensor:
    """The rows ``rows`` of A as a dense len(rows)×d matrix (O(nnz) for sparse A)."""
    block = A.index_select(0, rows)
    return block.to_dense() if is_sparse(block) else block


def matmat_row_norms2(A: Tensor, Z: Tensor, row_scale: Tensor | None = None) -> Tensor:
    """‖(diag(row_scale) A Z)_{i,*}‖² for every row i, without forming diag(row_scale)·A.

    Sparse A: the product is taken on the compressed block of nonempty rows
    (CSR times dense), O(nnz(A)·k) for Z of shape d×k; empty rows give 0.
    """
    n = A.shape[0]
    if not is_sparse(A):
        Y = A @ Z
        out = (Y * Y).sum(dim=1)
    else:
        i, j, v = _coo(A)
        rows, inv = torch.unique_consecutive(i, return_inverse=True)
        with _csr_beta_quiet():
            C = torch.sparse_coo_tensor(torch.stack([inv, j]), v, (rows.numel(), A.shape[1]),
                                        is_coalesced=True, check_invariants=False).to_sparse_csr()
            Y = C @ Z
        out = torch.zeros(n, dtype=Z.dtype, device=Z.device)
        out[rows] = (Y * Y).sum(dim=1)
    return out if row_scale is None else out * row_scale * row_scale

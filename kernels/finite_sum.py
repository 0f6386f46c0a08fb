"""The P2 loss: an average of P1 softmax losses over a dataset of instances (docs/theory/p2.md §P2.1).

    L_k(x) = ½‖softmax(A_k x) - b_k‖² + ½‖diag(w_k) A_k (x - x_c)‖²,   L(x) = (1/m) Σ_k L_k(x)

``A`` is m×N×d (m instances of N rows), ``b`` and ``w`` are m×N, the centre
``x_c`` (d) of the regulariser is zero for P1's regulariser ½‖W A x‖² and the
planted point for the interpolating (centred) construction of docs/theory/p2.md §P2.6.
With m = 1 and x_c = 0 this is exactly the P1 loss of kernels/softmax.py.

Pure functions of tensors, batched over instances; the Hessian pieces are
those of docs/theory/p1.md §P1.2 per instance. ``column_losses`` is the forward pass that
zeroth-order methods call: the loss at every column of a d×k matrix at once.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = ["column_losses", "loss", "loss_and_gradient", "instance_gradients", "hessians", "hessian",
           "hessian_vector_product"]


def _shift(A: Tensor, centre: Optional[Tensor]) -> Optional[Tensor]:
    """A_k x_c for every instance (m×N), or None for the uncentred regulariser."""
    if centre is None or not bool(torch.any(centre != 0)):
        return None
    return _apply(A, centre)


def column_losses(A: Tensor, b: Tensor, w: Tensor, X: Tensor, centre: Optional[Tensor] = None) -> Tensor:
    """L(x_j) for every column x_j of X (d×k), averaged over the m instances of A (m×N×d).

    The products are formed transposed, U_kᵀ = Xᵀ A_kᵀ (m×k×N), so that every
    reduction over the N rows of a column runs along contiguous memory: a
    column-wise stable softmax (torch.softmax, which subtracts each column's
    max), the residual f - b squared in place and summed, then the regulariser
    ‖w∘(u - A_k x_c)‖² from the same product, squared in place and weighted by
    w² in one matrix-vector product. The columns are processed in blocks whose
    product holds at most
    max(4 MiB, the bytes of A) (at least one column): the block stays in cache
    through the element-wise passes and is reused from the allocator instead of
    being faulted in afresh, while A is read at most about once more per block
    than its own size. Xᵀ is used as given when it is contiguous (the layout
    kernels/spsa.py builds), otherwise copied once.
    """
    m, N = A.shape[0], A.shape[-2]
    k = X.shape[1]
    shift = _shift(A, centre)
    XT = X.T.contiguous()
    per_col = m * N * X.element_size()
    block = max(1, max(4 << 20, A.numel() * A.element_size()) // per_col)
    w2 = (w * w).unsqueeze(-1)                        # m×N×1

    def block_losses(XTb: Tensor) -> Tensor:          # 2·L_k at the columns of one block, m×kb
        U = torch.mm(XTb, A[0].T).unsqueeze(0) if m == 1 else torch.matmul(XTb, A.mT)
        F = torch.softmax(U, dim=-1)
        F.sub_(b.unsqueeze(-2))                      # c = f - b, column by column
        fit = F.square_().sum(dim=-1)                # pairwise (blocked) summation, as accurate as torch.sum
        del F
        if shift is not None:
            U.sub_(shift.unsqueeze(-2))
        reg = torch.matmul(U.square_(), w2).squeeze(-1)   # Σ_i w_i² (u - A x_c)_i², one matrix-vector product
        return fit.add_(reg)

    if block >= k:
        return 0.5 * block_losses(XT).mean(dim=0)
    out = torch.empty(m, k, dtype=X.dtype, device=X.device)
    for j in range(0, k, block):
        out[:, j:j + block] = block_losses(XT[j:j + block])
    return 0.5 * out.mean(dim=0)


def _apply(A: Tensor, x: Tensor) -> Tensor:
    """A_k x for every instance, m×N (as a batched matrix-vector product: the fast path of matmul)."""
    return torch.matmul(A, x.unsqueeze(-1)).squeeze(-1)


def _apply_t(A: Tensor, Y: Tensor) -> Tensor:
    """A_kᵀ y_k for every instance, m×d."""
    return torch.matmul(A.transpose(-1, -2), Y.unsqueeze(-1)).squeeze(-1)


def _softmax(u: Tensor) -> Tensor:
    e = torch.exp(u - u.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


def _forward(A: Tensor, b: Tensor, w: Tensor, x: Tensor, centre: Optional[Tensor]):
    u = _apply(A, x)                                        # m×N
    f = _softmax(u)
    c = f - b
    shift = _shift(A, centre)
    wu = w * (u if shift is None else u - shift)
    per = 0.5 * (c * c).sum(-1) + 0.5 * (wu * wu).sum(-1)  # L_k(x)
    return f, c, wu, per


def loss(A: Tensor, b: Tensor, w: Tensor, x: Tensor, centre: Optional[Tensor] = None) -> Tensor:
    """L(x) = (1/m) Σ_k L_k(x) (docs/theory/p2.md §P2.1)."""
    return _forward(A, b, w, x, centre)[3].mean()


def _residual_weights(f: Tensor, c: Tensor, w: Tensor, wu: Tensor) -> Tensor:
    """y_k = f∘c - ⟨f,c⟩f + w∘w∘(u - A x_c), so that ∇L_k = A_kᵀ y_k (docs/theory/p1.md §P1.2, Gradient)."""
    fc = f * c
    return fc - fc.sum(-1, keepdim=True) * f + w * wu


def instance_gradients(A: Tensor, b: Tensor, w: Tensor, x: Tensor, centre: Optional[Tensor] = None) -> Tensor:
    """∇L_k(x) for every instance, m×d (the covariance Σ(x) of assumption B4 is theirs)."""
    f, c, wu, _ = _forward(A, b, w, x, centre)
    return _apply_t(A, _residual_weights(f, c, w, wu))


def loss_and_gradient(A: Tensor, b: Tensor, w: Tensor, x: Tensor, centre: Optional[Tensor] = None):
    """L(x) and ∇L(x) = (1/m) Σ_k A_kᵀ y_k."""
    f, c, wu, per = _forward(A, b, w, x, centre)
    y = _residual_weights(f, c, w, wu)
    return per.mean(), _apply_t(A, y).mean(0)


def _parts(A: Tensor, b: Tensor, w: Tensor, x: Tensor):
    """Per instance: D = B_diag + w², β, p = Aᵀf, s = Aᵀq (docs/theory/p1.md §P1.2, Fast application)."""
    f = _softmax(_apply(A, x))
    q = (2.0 * f - b) * f
    beta = ((3.0 * f - 2.0 * b) * f).sum(-1)
    D = q - ((f - b) * f).sum(-1, keepdim=True) * f + w * w
    p, s = _apply_t(A, f), _apply_t(A, q)
    return D, beta, p, s


def hessians(A: Tensor, b: Tensor, w: Tensor, x: Tensor) -> Tensor:
    """∇²L_k(x) = A_kᵀ diag(D_k) A_k + β_k p_k p_kᵀ - s_k p_kᵀ - p_k s_kᵀ for every instance, m×d×d.

    The centre of the regulariser does not enter the Hessian.
    """
    D, beta, p, s = _parts(A, b, w, x)
    gram = torch.matmul(A.transpose(-1, -2), D.unsqueeze(-1) * A)
    sp = s.unsqueeze(-1) * p.unsqueeze(-2)
    return gram + beta[:, None, None] * p.unsqueeze(-1) * p.unsqueeze(-2) - sp - sp.transpose(-1, -2)


def hessian(A: Tensor, b: Tensor, w: Tensor, x: Tensor) -> Tensor:
    """∇²L(x) = (1/m) Σ_k ∇²L_k(x)."""
    return hessians(A, b, w, x).mean(0)


def hessian_vector_product(A: Tensor, b: Tensor, w: Tensor, x: Tensor, v: Tensor) -> Tensor:
    """∇²L(x) v without forming a d×d matrix (docs/theory/p1.md §P1.2), averaged over instances."""
    D, beta, p, s = _parts(A, b, w, x)
    pv, sv = p @ v, s @ v                                   # m
    out = _apply_t(A, D * _apply(A, v)) + (beta * pv - sv).unsqueeze(-1) * p - pv.unsqueeze(-1) * s
    return out.mean(0)

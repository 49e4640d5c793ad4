"""Patch-graph construction: the learned, normalised adjacency matrix of paper §3.2 (eq. 2-4)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pairwise_affinity(z: Tensor) -> Tensor:
    """Eq. 2: ``e_ij = phi(x_i)^T phi(x_j)`` for already transformed nodes ``z = phi(x)``.

    Args:
        z: ``[B, N, d]`` transformed node features.

    Returns:
        ``[B, N, N]`` affinities; symmetric in ``i, j`` by construction.
    """
    return z @ z.transpose(-1, -2)


def row_normalize_squared(e: Tensor) -> Tensor:
    """Eq. 3: ``A_ij = e_ij^2 / sum_j e_ij^2`` (non-negative rows summing to 1).

    A row whose affinities are all zero stays zero (it has no evidence of any relation).
    """
    # Dividing each row by its largest |e| first leaves eq. 3 unchanged (the factor cancels)
    # but keeps e^2 from overflowing or underflowing float32 for large or tiny features.
    scale = e.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(e.dtype).tiny)
    squared = (e / scale).square()
    # F.normalize(p=1) is exactly eq. 3 for non-negative rows, with a safe zero-row case.
    return F.normalize(squared, p=1.0, dim=-1)


def renormalize_with_self_loops(a: Tensor) -> Tensor:
    """Eq. 4 (Kipf & Welling): ``Â = D̃^-1/2 (A + I) D̃^-1/2`` with ``D̃_ii = sum_j (A + I)_ij``.

    Every degree is at least 1 thanks to the self loop, so the inverse square root is safe.
    With the rows of ``A`` summing to 1 (eq. 3) every degree is 2 and ``Â = (A + I) / 2``, a
    row-stochastic matrix; it is symmetric only where ``A`` is.
    """
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    a_tilde = a + eye
    inv_sqrt_degree = a_tilde.sum(dim=-1).rsqrt()
    return inv_sqrt_degree.unsqueeze(-1) * a_tilde * inv_sqrt_degree.unsqueeze(-2)


def normalized_adjacency(x: Tensor, phi: nn.Linear | Callable[[Tensor], Tensor]) -> Tensor:
    """The adjacency ``Â`` of a patch graph, eq. 2-4 of the paper.

    Args:
        x: ``[B, N, d]`` node (patch) features.
        phi: the learned transformation ``phi(x) = w x`` (a bias-free ``nn.Linear(d, d)``).

    Returns:
        ``[B, N, N]`` adjacency in ``x.dtype``. ``phi`` runs under the ambient autocast;
        eq. 2-4 (products, squares, sums) run with autocast disabled in float32 (float64 for
        float64 input), because ``e^2`` of 2048-d features overflows float16. The result lies
        in ``[0, 1]`` and is cast back to ``x.dtype`` so that ``Â @ X`` needs no dtype juggling.
    """
    z = phi(x)
    with torch.autocast(device_type=x.device.type, enabled=False):
        e = pairwise_affinity(z.to(torch.promote_types(z.dtype, torch.float32)))
        adjacency = renormalize_with_self_loops(row_normalize_squared(e))
    return adjacency.to(x.dtype)


class PatchGraph(nn.Module):
    """Owns ``phi`` (a learnable ``d x d`` matrix, no bias) and builds ``Â`` from node features."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.phi = nn.Linear(dim, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, N, d]`` node features -> ``[B, N, N]`` adjacency (:func:`normalized_adjacency`)."""
        return normalized_adjacency(x, self.phi)

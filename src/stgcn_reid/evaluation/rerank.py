"""k-reciprocal re-ranking (Zhong, Zheng, Cao and Li, "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017), written from the paper's definitions in torch.

Notation: the pool is every query and gallery item (``N = Q + G``); ``d`` the given distance.

* ``N(p, k)``: the ``k`` nearest neighbours of ``p`` in the pool. ``p`` is its own nearest
  neighbour (``d(p, p) = 0``), so like the authors' release we take ``k + 1`` items, ``p``
  included, which keeps ``p`` in its own sets. They come from ``torch.topk``, which picks
  arbitrarily among exactly equal distances.
* ``R(p, k) = {g in N(p, k) : p in N(g, k)}``, the k-reciprocal neighbours (eq. 3).
* ``R*(p, k)``: ``R(p, k)`` plus ``R(q, k/2)`` for every ``q in R(p, k)`` with
  ``|R(p, k) & R(q, k/2)| >= 2/3 |R(q, k/2)|`` (eq. 4); ``k/2`` is rounded.
* ``V_p[g] = exp(-d(p, g))`` for ``g in R*(p, k)``, else 0 (eq. 7); local query expansion
  replaces ``V_p`` by the mean of ``V_g`` over ``g in N(p, k2)`` (eq. 11).
* Jaccard distance ``d_J(p, g) = 1 - sum_j min(V_p, V_g) / sum_j max(V_p, V_g)`` (eq. 10),
  final ``d* = (1 - lambda) d_J + lambda d`` (eq. 12).

Scale: ``exp(-d)`` depends on the units of ``d``, which the paper leaves open. Two modes:

* ``mode="paper"`` (the default): the paper's equations on ``d`` as given. Like the authors'
  release we divide each row of ``d`` by its maximum before the kernel and the combination, and
  then multiply the result back by that maximum: per query this is a positive factor, so the
  ranking is exactly that of the normalised combination, and ``lambda = 1`` returns ``d``
  unchanged.
* ``mode="release"``: what the authors' released ``re_ranking`` code does, so that re-ranked
  numbers compare with published ones (which mostly come from it, or from ports of it). It
  squares ``d``, divides each column of the pool by its maximum and transposes the result (for
  a symmetric pool: each row of ``d**2`` divided by its maximum), and uses that matrix
  everywhere, the combination of eq. 12 included, which is returned as is (not scaled back);
  each ``V_p`` is divided by its sum before query expansion; and a ``R(q, k/2)`` joins
  ``R*(p, k)`` only if strictly more than 2/3 of it lies in ``R(p, k)``.

Memory: the pool distances, the ``R*`` masks and ``V`` are dense ``N x N`` matrices; with the
inputs, the peak is about ``16 * N**2`` bytes (measured: 2.3 GiB peak RSS and 10 s on 2 CPU
cores for 1,980 x 9,330, ``N = 11,310``; the official MARS pool, ``N = 13,290``, needs ~2.7 GiB).
:func:`re_ranking` refuses pools above ``max_items`` instead of running out of memory (the
reference implementations are known to, e.g. torchreid#455, fast-reid#404).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import torch

RerankMode: TypeAlias = Literal["paper", "release"]
RERANK_MODES: tuple[str, ...] = ("paper", "release")
DEFAULT_MAX_ITEMS = 20_000
PEAK_BYTES_PER_PAIR = 16
# Bound on the temporaries of the chunked gathers (query expansion and Jaccard step).
CHUNK_BYTES = 128 * 2**20


def re_ranking(
    q_g: torch.Tensor | np.ndarray,
    q_q: torch.Tensor | np.ndarray,
    g_g: torch.Tensor | np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
    max_items: int = DEFAULT_MAX_ITEMS,
    mode: RerankMode = "paper",
) -> torch.Tensor:
    """Re-rank the gallery with k-reciprocal encoding (Zhong et al. 2017, eqs. 3-12).

    Args:
        q_g: ``[Q, G]`` query-gallery distances; q_q: ``[Q, Q]``; g_g: ``[G, G]``.
        k1: ``k`` of the k-reciprocal sets; k2: neighbours averaged by local query expansion
            (1 disables it); lambda_value: weight of the original distance in eq. 12.
        max_items: largest pool ``Q + G`` accepted (memory grows as ``(Q + G)**2``).
        mode: ``"paper"`` or ``"release"`` (the authors' code: squared, normalised distances;
            see the module docstring).

    Returns:
        ``[Q, G]`` float32 re-ranked distances on the device of ``q_g``.
    """
    q_g, q_q, g_g = _checked(q_g, q_q, g_g, k1, k2, lambda_value, max_items, mode)
    num_q, num_items = q_g.shape[0], q_q.shape[0] + g_g.shape[0]
    dist = torch.cat([torch.cat([q_q, q_g], 1), torch.cat([q_g.T, g_g], 1)], 0)
    tiny = torch.finfo(dist.dtype).tiny
    if mode == "release":
        # In place, then one transposed copy: the peak stays below PEAK_BYTES_PER_PAIR.
        dist.square_()
        dist = dist.div_(dist.amax(dim=0, keepdim=True).clamp_min(tiny)).T.contiguous()
        scale, original = None, dist[:num_q, num_q:].clone()
    else:
        scale, original = dist.amax(dim=1, keepdim=True).clamp_min(tiny), q_g
    neighbours = torch.topk(dist, min(k1 + 1, num_items), dim=1, largest=False).indices
    expanded = _expanded_reciprocal_sets(neighbours, k1, strict=mode == "release")
    # V of eq. 7, built in the memory of ``dist`` (no longer needed) to keep the peak down.
    if scale is not None:
        dist.div_(scale)
    weights = dist.neg_().exp_().masked_fill_(expanded.logical_not_(), 0.0)
    del dist, expanded
    if mode == "release":
        weights.div_(weights.sum(dim=1, keepdim=True))  # p is in R*(p): the sum is positive
    weights = _local_query_expansion(weights, neighbours[:, : min(k2, num_items)])
    jaccard = _jaccard(weights[:num_q], weights[num_q:])
    if scale is None:
        return (1.0 - lambda_value) * jaccard + lambda_value * original  # eq. 12
    return (1.0 - lambda_value) * jaccard * scale[:num_q] + lambda_value * original  # rescaled


def _checked(
    q_g: torch.Tensor | np.ndarray,
    q_q: torch.Tensor | np.ndarray,
    g_g: torch.Tensor | np.ndarray,
    k1: int,
    k2: int,
    lambda_value: float,
    max_items: int,
    mode: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three matrices as float32 on the device of ``q_g``, once every argument is valid."""
    q_g, q_q, g_g = (_as_matrix(m, name) for m, name in ((q_g, "q_g"), (q_q, "q_q"), (g_g, "g_g")))
    num_q, num_g = q_g.shape
    if q_q.shape != (num_q, num_q) or g_g.shape != (num_g, num_g):
        raise ValueError(
            f"expected q_q [{num_q}, {num_q}] and g_g [{num_g}, {num_g}] to match q_g "
            f"[{num_q}, {num_g}], got q_q {list(q_q.shape)} and g_g {list(g_g.shape)}"
        )
    if k1 < 1 or k2 < 1:
        raise ValueError(f"k1 and k2 must be >= 1, got k1={k1}, k2={k2}")
    if not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"lambda_value must be in [0, 1], got {lambda_value}")
    if mode not in RERANK_MODES:
        raise ValueError(f"mode must be one of {RERANK_MODES}, got {mode!r}")
    num_items = num_q + num_g
    if num_items > max_items:
        need = PEAK_BYTES_PER_PAIR * num_items**2 / 2**30
        raise MemoryError(
            f"re-ranking {num_q} queries x {num_g} gallery items needs dense {num_items}^2 "
            f"matrices (about {need:.1f} GiB); this exceeds max_items={max_items}. Raise "
            "max_items if the memory is there, or evaluate without re-ranking."
        )
    return q_g, q_q.to(q_g.device), g_g.to(q_g.device)


def _reciprocal(neighbours: torch.Tensor) -> torch.Tensor:
    """``[N, k]`` mask: is ``neighbours[p, i]`` a k-reciprocal neighbour of ``p`` (eq. 3)."""
    items = torch.arange(neighbours.shape[0], device=neighbours.device)
    return (neighbours[neighbours] == items[:, None, None]).any(dim=2)


def _expanded_reciprocal_sets(neighbours: torch.Tensor, k1: int, strict: bool) -> torch.Tensor:
    """Dense ``[N, N]`` mask of ``R*(p, k1)`` (eq. 4; ``strict``: more than 2/3, as the
    release tests, instead of the paper's at least 2/3)."""
    num = neighbours.shape[0]
    half = neighbours[:, : min(round(k1 / 2) + 1, neighbours.shape[1])]
    rec, rec_half = _reciprocal(neighbours), _reciprocal(half)
    rows = torch.arange(num, device=neighbours.device)[:, None]
    members = torch.zeros(num, num, dtype=torch.bool, device=neighbours.device)
    members[rows.expand_as(neighbours)[rec], neighbours[rec]] = True  # R(p, k1)

    # For each candidate q = neighbours[p, i] in R(p, k1): its half set R(q, k1/2) is
    # half[q] masked by rec_half[q]; count how much of it lies in R(p, k1).
    cand_half, cand_mask = half[neighbours], rec_half[neighbours]  # [N, k1+1, k1/2+1]
    inside = members[rows[:, :, None].expand_as(cand_half), cand_half] & cand_mask
    # Integer form of |R(p,k) & R(q,k/2)| >= 2/3 |R(q,k/2)| (> if strict), free of rounding.
    shared, size = 3 * inside.sum(2), 2 * cand_mask.sum(2)
    accept = rec & (shared > size if strict else shared >= size)
    add = accept[:, :, None] & cand_mask
    expanded = members.clone()
    expanded[rows[:, :, None].expand_as(cand_half)[add], cand_half[add]] = True
    return expanded


def _local_query_expansion(weights: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """Replace each ``V_p`` by the mean of ``V_g`` over its ``k2`` nearest items (eq. 11)."""
    if neighbours.shape[1] == 1:
        return weights  # the nearest item of p is p itself (up to exact ties)
    num = weights.shape[0]
    chunk = max(1, CHUNK_BYTES // (4 * num * neighbours.shape[1]))
    out = torch.empty_like(weights)
    for start in range(0, num, chunk):
        out[start : start + chunk] = weights[neighbours[start : start + chunk]].mean(dim=1)
    return out


def _jaccard(query_weights: torch.Tensor, gallery_weights: torch.Tensor) -> torch.Tensor:
    """``[Q, G]`` Jaccard distances between weighted sets (eq. 10).

    ``V_p`` is sparse (at most ``k2 * |R*|`` entries), so ``sum_j min(V_p, V_g)`` only visits
    the columns where ``V_p`` is non-zero: ``topk`` picks them (plus zeros, which add nothing)
    for a chunk of queries at once; ``sum max = sum V_p + sum V_g - sum min``.
    """
    num_q, num_g = query_weights.shape[0], gallery_weights.shape[0]
    width = max(1, int((query_weights > 0).sum(dim=1).max()))
    values, columns = query_weights.topk(width, dim=1)
    chunk = max(1, CHUNK_BYTES // (4 * num_g * width))
    overlap = torch.empty(num_q, num_g, dtype=query_weights.dtype, device=query_weights.device)
    for start in range(0, num_q, chunk):
        cols, vals = columns[start : start + chunk], values[start : start + chunk]
        picked = gallery_weights[:, cols.reshape(-1)].view(num_g, *cols.shape)
        overlap[start : start + chunk] = torch.minimum(picked, vals).sum(dim=2).T
    total = query_weights.sum(dim=1, keepdim=True) + gallery_weights.sum(dim=1)[None, :]
    union = (total - overlap).clamp_min(torch.finfo(overlap.dtype).tiny)
    return 1.0 - overlap / union


def _as_matrix(matrix: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """A finite, non-empty 2-D float32 tensor."""
    tensor = torch.as_tensor(matrix).float()
    if tensor.ndim != 2 or tensor.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} has NaN or inf entries")
    return tensor

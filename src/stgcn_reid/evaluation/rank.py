"""CMC, mAP and mINP from a query-gallery distance matrix, vectorised over queries.

Two protocols share the same notion of which gallery items count for a query:

* **junk** (ignored, as if absent from the gallery): same identity *and* same camera as the
  query, plus every gallery item with identity ``-1`` (MARS "junk" boxes);
* **good** (a correct match): same identity, different camera, identity not ``-1`` (so a
  query of identity ``-1`` has no good item; the kit would count other ``-1`` items as good
  and junk at once, a case MARS never poses).

They differ only in how a ranked list becomes an average precision:

* ``"standard"`` (torchreid / Market-1501 definition): AP is the mean, over the good items,
  of the precision at the rank of each good item.
* ``"mars_official"``: the trapezoid rule of ``compute_AP.m`` in the official MARS kit
  (liangzheng06/MARS-evaluation, called by ``utils/evaluation_mars.m``). Walking the list
  without junk, at the ``j``-th item ``recall = hits / n_good`` and ``precision = hits / j``,
  and AP accumulates ``(recall - old_recall) * (old_precision + precision) / 2`` from
  ``old_recall = 0``, ``old_precision = 1``. The sum only changes at hits, so the ``k``-th hit
  at position ``r_k`` contributes ``(k / r_k + p_prev) / (2 n_good)`` with
  ``p_prev = (k - 1) / (r_k - 1)`` (``1`` when ``r_k = 1``), which is what we compute.

In both, CMC at rank ``r`` is the fraction of queries whose first good item is within the
first ``r`` non-junk items, and INP (fast-reid's definition) is
``n_good / (position of the last good item)``; mINP is its mean.

A query without any good item has no defined AP. The official kit still averages it: its
``compute_AP`` divides by ``n_good = 0`` (AP = NaN, which makes its mAP NaN) and its CMC row
stays all zero but counts in the mean. We leave such queries out of every average, count them
(``num_valid_queries``) and warn. With the MARS split this only matters when the queries are
not part of the gallery (140 queries); the official protocol puts them in (the dataset builds
the gallery; this module only ranks it).

Ties: the gallery is ranked by a stable sort, so equal distances keep the gallery order, as
``numpy.argsort(kind="stable")`` would; the official kit's MATLAB ``sort`` is stable too.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Literal, TypeAlias

import numpy as np
import torch

from stgcn_reid.data.datasets.base import JUNK_PID

Protocol: TypeAlias = Literal["standard", "mars_official"]
ArrayLike: TypeAlias = np.ndarray | torch.Tensor
Labels: TypeAlias = np.ndarray | torch.Tensor | Sequence[int]

PROTOCOLS: tuple[str, ...] = ("standard", "mars_official")


def evaluate_rank(
    distmat: ArrayLike,
    q_pids: Labels,
    g_pids: Labels,
    q_camids: Labels,
    g_camids: Labels,
    max_rank: int = 50,
    protocol: Protocol = "standard",
    chunk_size: int = 256,
) -> dict[str, object]:
    """Rank the gallery for every query and compute CMC, mAP and mINP.

    Args:
        distmat: ``[num_query, num_gallery]`` distances (numpy or torch; smaller = closer).
            The work runs on the tensor's device, so CUDA distances are ranked on the GPU.
        q_pids, g_pids, q_camids, g_camids: integer labels of queries and gallery items.
        max_rank: length of the returned CMC curve (clipped, with a warning, to the gallery size).
        protocol: ``"standard"`` or ``"mars_official"`` (see the module docstring).
        chunk_size: queries ranked at once; memory is ``O(chunk_size * num_gallery)``.

    Returns:
        ``cmc`` (float64 array of length ``max_rank``, fractions), ``mAP`` and ``mINP`` (floats
        in [0, 1]), ``all_AP`` and ``all_INP`` (per query, NaN where the query has no good
        item), ``num_valid_queries``, ``num_queries`` and ``max_rank`` (after clipping).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    dist = _as_distance_tensor(distmat)
    num_q, num_g = dist.shape
    labels = _as_label_tensors(
        {"q_pids": q_pids, "q_camids": q_camids, "g_pids": g_pids, "g_camids": g_camids},
        expected={"q": num_q, "g": num_g},
        device=dist.device,
    )
    if max_rank > num_g:
        warnings.warn(
            f"max_rank={max_rank} exceeds the gallery size {num_g}; using max_rank={num_g}",
            UserWarning,
            stacklevel=2,
        )
        max_rank = num_g

    first_hit, ap, inp = [], [], []
    for start in range(0, num_q, chunk_size):
        rows = slice(start, start + chunk_size)
        chunk = _rank_chunk(
            dist[rows],
            labels["q_pids"][rows],
            labels["q_camids"][rows],
            labels["g_pids"],
            labels["g_camids"],
            trapezoid=protocol == "mars_official",
        )
        first_hit.append(chunk[0])
        ap.append(chunk[1])
        inp.append(chunk[2])
    return _summarise(torch.cat(first_hit), torch.cat(ap), torch.cat(inp), max_rank)


def cmc_at(cmc: Sequence[float] | np.ndarray, rank: int) -> float:
    """The CMC value at ``rank`` (1-based), clipped to the curve's length (small galleries)."""
    return float(cmc[min(rank, len(cmc)) - 1])


def _rank_chunk(
    dist: torch.Tensor,
    q_pids: torch.Tensor,
    q_camids: torch.Tensor,
    g_pids: torch.Tensor,
    g_camids: torch.Tensor,
    trapezoid: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """First-hit rank (0 = no hit), AP and INP (NaN = no hit) of each query of one chunk."""
    order = stable_argsort(dist)
    # Build the masks in gallery order (a broadcast compare, no gather of labels) and gather
    # the two boolean masks into ranked order: cheaper than gathering pids and cameras.
    same_pid = g_pids[None, :] == q_pids[:, None]
    junk = (same_pid & (g_camids[None, :] == q_camids[:, None])) | (g_pids == JUNK_PID)[None, :]
    good = torch.gather(same_pid & ~junk, 1, order)
    keep = ~torch.gather(junk, 1, order)
    position = keep.cumsum(1, dtype=torch.int32)  # 1-based rank among non-junk items
    hits = good.cumsum(1, dtype=torch.int32)

    # Everything after this works on the hits only (a few per query), not on C x G tensors.
    row, col = good.nonzero(as_tuple=True)
    k = hits[row, col].double()
    r = position[row, col].double()
    n_rows = dist.shape[0]
    n_good = hits[:, -1].double()
    precision = k / r
    if trapezoid:
        previous = torch.where(r > 1, (k - 1) / (r - 1).clamp_min(1), torch.ones_like(r))
        precision = (precision + previous) / 2
    ap = torch.zeros(n_rows, dtype=torch.double, device=dist.device).index_add_(0, row, precision)
    ap = ap / n_good  # NaN (0 / 0) for queries without a good item
    last = torch.zeros(n_rows, dtype=torch.double, device=dist.device)
    last = last.scatter_reduce(0, row, r, reduce="amax")
    inp = n_good / last
    first = torch.zeros(n_rows, dtype=torch.long, device=dist.device)
    first = first.scatter_reduce(0, row, r.long(), reduce="amin", include_self=False)
    return first, ap, inp


def stable_argsort(dist: torch.Tensor) -> torch.Tensor:
    """Row-wise argsort in which equal values keep their column order (a stable sort).

    Equal distances must keep the gallery order (as the official kit's MATLAB ``sort``).
    ``torch.sort(stable=True)`` does this, but on CPU it is the bulk of the evaluation time. For
    float32 (and narrower) distances we instead pack each value with its column into one int64
    key (:func:`_packed_keys`): the keys of a row are distinct and order like (value, column),
    so any sort of them gives the stable order. On CPU, numpy sorts the keys themselves (SIMD
    quicksort) and the columns are read back from their low bits (:func:`_sorted_columns`);
    on other devices torch sorts the keys. float64 values cannot be packed without losing
    order, so they take the stable sort. ``benchmarks/evaluation.py`` times the alternatives.
    """
    if dist.dtype == torch.float64:
        return torch.sort(dist, dim=1, stable=True).indices
    keys = _packed_keys(dist)
    if keys.device.type != "cpu":
        return torch.sort(keys, dim=1).indices
    return torch.from_numpy(_sorted_columns(keys.numpy()))


def _packed_keys(dist: torch.Tensor) -> torch.Tensor:
    """int64 keys ``value_bits * 2**32 + column`` that order a row like (value, column)."""
    bits = dist.float().view(torch.int32)
    # IEEE-754 floats are sign-magnitude: the magnitude bits order like ints, so negating them
    # for negative floats gives ints that order like the floats. -0.0 and +0.0 both become 0:
    # they compare equal and must tie.
    magnitude = bits & 0x7FFFFFFF
    keys = torch.where(bits < 0, -magnitude, magnitude).long()
    column = torch.arange(dist.shape[1], device=dist.device)
    return keys.mul_(1 << 32).add_(column)  # exact: |value bits| < 2**31, column < 2**32


def _sorted_columns(keys: np.ndarray) -> np.ndarray:
    """The column of each row's keys in ascending key order (CPU); sorts ``keys`` in place.

    The keys are distinct and carry their column in their low 32 bits, so sorting the keys
    themselves is enough: no argsort, no index array. numpy's int64 sort is a SIMD quicksort
    (on one thread about 1.8x faster than ``torch.sort`` on these keys) that releases the GIL
    but uses one thread, so blocks of rows are sorted on torch's intra-op threads.
    """
    blocks = np.array_split(keys, min(torch.get_num_threads(), len(keys)))  # views
    with ThreadPoolExecutor(max_workers=len(blocks)) as pool:
        list(pool.map(partial(np.ndarray.sort, axis=1), blocks))
    keys &= 0xFFFFFFFF
    return keys


def _summarise(
    first_hit: torch.Tensor, ap: torch.Tensor, inp: torch.Tensor, max_rank: int
) -> dict[str, object]:
    """Average the per-query results over the queries that have a good item."""
    valid = first_hit > 0
    num_q = int(valid.numel())
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise ValueError(
            f"none of the {num_q} queries has a correct match in the gallery: no query identity "
            "appears in the gallery under another camera (same-camera matches and identity -1 "
            "are junk). Check that query and gallery come from the same split."
        )
    if num_valid < num_q:
        warnings.warn(
            f"{num_q - num_valid} of {num_q} queries have no correct match in the gallery "
            "(no same identity under another camera); they are left out of CMC, mAP and mINP",
            UserWarning,
            stacklevel=3,
        )
    ranks = first_hit[valid].clamp(max=max_rank + 1) - 1
    counts = torch.bincount(ranks, minlength=max_rank + 1)[:max_rank]
    cmc = counts.cumsum(0).double() / num_valid
    return {
        "cmc": cmc.cpu().numpy(),
        "mAP": float(ap[valid].mean()),
        "mINP": float(inp[valid].mean()),
        "all_AP": ap.cpu().numpy(),
        "all_INP": inp.cpu().numpy(),
        "num_valid_queries": num_valid,
        "num_queries": num_q,
        "max_rank": max_rank,
    }


def _as_distance_tensor(distmat: ArrayLike) -> torch.Tensor:
    """Check that ``distmat`` is a finite, non-empty 2-D matrix and return it as a tensor."""
    dist = torch.as_tensor(distmat)
    if dist.ndim != 2:
        raise ValueError(
            f"distmat must be 2-D [num_query, num_gallery], got shape {tuple(dist.shape)}"
        )
    if dist.shape[0] == 0 or dist.shape[1] == 0:
        raise ValueError(
            f"distmat is empty (shape {tuple(dist.shape)}): need at least one query and one "
            "gallery item"
        )
    if not dist.is_floating_point():
        dist = dist.double()
    bad = ~torch.isfinite(dist)
    if bool(bad.any()):
        raise ValueError(
            f"distmat has {int(bad.sum())} non-finite entries (NaN or inf); the features or "
            "the distance computation produced them"
        )
    return dist


def _as_label_tensors(
    arrays: dict[str, Labels], expected: dict[str, int], device: torch.device
) -> dict[str, torch.Tensor]:
    """Turn the label arrays into 1-D int64 tensors on ``device``, checking their lengths."""
    out = {}
    for name, values in arrays.items():
        tensor = torch.as_tensor(values)
        if tensor.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(tensor.shape)}")
        if tensor.is_floating_point() or tensor.is_complex():
            raise ValueError(f"{name} must hold integer labels, got dtype {tensor.dtype}")
        want = expected[name[0]]
        if tensor.numel() != want:
            side = "query rows" if name[0] == "q" else "gallery columns"
            raise ValueError(f"{name} has length {tensor.numel()} but distmat has {want} {side}")
        out[name] = tensor.to(device=device, dtype=torch.long)
    return out

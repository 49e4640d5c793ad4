"""Query-gallery distance matrices between feature vectors."""

from __future__ import annotations

from typing import Literal, TypeAlias

import torch
import torch.nn.functional as F

DistanceMetric: TypeAlias = Literal["euclidean", "cosine"]
METRICS: tuple[str, ...] = ("euclidean", "cosine")


def compute_distance(
    qf: torch.Tensor,
    gf: torch.Tensor,
    metric: DistanceMetric = "euclidean",
    normalize: bool = False,
) -> torch.Tensor:
    """Distance matrix ``[num_query, num_gallery]`` between query and gallery features.

    Args:
        qf: ``[num_query, D]`` query features.
        gf: ``[num_gallery, D]`` gallery features.
        metric: ``"euclidean"``: the (non-squared) L2 distance;
            ``"cosine"``: ``1 - cosine similarity``, in ``[0, 2]``.
        normalize: L2-normalise the features first (cosine does so anyway).

    The Euclidean distance is ``torch.cdist`` in its matrix-product mode
    (``|q|^2 + |g|^2 - 2 q.g``), which needs no ``[Q, G, D]`` difference tensor and clamps the
    rounding-negative squares to 0 before the square root. We return the true distance rather
    than its square: the ranking is the same, but re-ranking's Gaussian kernel ``exp(-d)``
    (Zhong et al., eq. 7) and any plotted distance are meant in distance units.
    Half-precision features are computed in float32; float64 stays float64.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    qf, gf = _check_features(qf, "qf"), _check_features(gf, "gf")
    if qf.shape[1] != gf.shape[1]:
        raise ValueError(f"qf and gf have different feature sizes: {qf.shape[1]} vs {gf.shape[1]}")
    if qf.device != gf.device:
        raise ValueError(f"qf is on {qf.device} but gf is on {gf.device}")
    if normalize or metric == "cosine":
        qf, gf = F.normalize(qf, dim=1), F.normalize(gf, dim=1)
    if metric == "cosine":
        return (1.0 - qf @ gf.T).clamp_(0.0, 2.0)
    return torch.cdist(qf, gf, p=2.0, compute_mode="use_mm_for_euclid_dist")


def _check_features(features: torch.Tensor, name: str) -> torch.Tensor:
    """Check a ``[N, D]`` finite feature matrix and return it in float32 or float64."""
    features = torch.as_tensor(features)
    if features.ndim != 2:
        raise ValueError(f"{name} must be 2-D [N, D], got shape {tuple(features.shape)}")
    if features.shape[0] == 0 or features.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(features.shape)})")
    if features.dtype != torch.float64:
        features = features.float()
    if not bool(torch.isfinite(features).all()):
        raise ValueError(f"{name} has NaN or inf entries")
    return features

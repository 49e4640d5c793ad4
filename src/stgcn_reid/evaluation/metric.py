"""Video re-id retrieval metric that accumulates clip features, as a torchmetrics ``Metric``.

A tracklet is usually cut into several clips at test time, possibly spread over batches and
DDP ranks. :class:`ReIDMetric` stores every clip feature with its tracklet id; ``compute()``
gathers them from all ranks (torchmetrics ``dist_reduce_fx="cat"``), averages the clips of each
tracklet, ranks the gallery for every query and returns CMC / mAP / mINP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from stgcn_reid.evaluation.distance import METRICS, DistanceMetric, compute_distance
from stgcn_reid.evaluation.rank import PROTOCOLS, Protocol, cmc_at, evaluate_rank
from stgcn_reid.evaluation.rerank import (
    DEFAULT_MAX_ITEMS,
    RERANK_MODES,
    RerankMode,
    re_ranking,
)


@dataclass(frozen=True)
class RankingResult:
    """What the last ``compute()`` ranked, kept for plots (CMC curves, ranked tracklets).

    ``distmat`` rows follow ``query_tracks`` and columns ``gallery_tracks`` (tracklet ids as
    given to ``update``); every tensor is on the CPU.
    """

    cmc: np.ndarray
    all_ap: np.ndarray
    distmat: torch.Tensor
    query_features: torch.Tensor
    gallery_features: torch.Tensor
    query_tracks: torch.Tensor
    gallery_tracks: torch.Tensor
    q_pids: torch.Tensor
    g_pids: torch.Tensor
    q_camids: torch.Tensor
    g_camids: torch.Tensor


class ReIDMetric(Metric):
    """CMC (rank-k), mAP and mINP over tracklet features built from clip features.

    ``update`` takes clips; ``compute`` averages the clips of each tracklet (mean feature, as
    the all-frames test protocol of the video re-id literature does, weighted by each clip's
    ``weights`` entry: :func:`~stgcn_reid.data.temporal.clip_weights`), takes the tracklets with
    ``is_query`` as queries and those with ``in_gallery`` as the gallery (a tracklet may be
    both: the official MARS gallery contains the queries), and calls
    :func:`~stgcn_reid.evaluation.rank.evaluate_rank`.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    features: list[torch.Tensor]
    pids: list[torch.Tensor]
    camids: list[torch.Tensor]
    tracks: list[torch.Tensor]
    is_query: list[torch.Tensor]
    in_gallery: list[torch.Tensor]
    weights: list[torch.Tensor]

    def __init__(
        self,
        metric: DistanceMetric = "euclidean",
        normalize: bool = False,
        protocol: Protocol = "standard",
        max_rank: int = 50,
        rerank: bool = False,
        rerank_k1: int = 20,
        rerank_k2: int = 6,
        rerank_lambda: float = 0.3,
        ranks: Sequence[int] = (1, 5, 10, 20),
        rerank_max_items: int = DEFAULT_MAX_ITEMS,
        rerank_mode: RerankMode = "paper",
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        # Checked here so that a bad config fails at start-up, not after a whole test pass.
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        if rerank_mode not in RERANK_MODES:
            raise ValueError(f"rerank_mode must be one of {RERANK_MODES}, got {rerank_mode!r}")
        if max_rank < 1 or not ranks or any(r < 1 for r in ranks):
            raise ValueError(f"max_rank and ranks must be >= 1, got {max_rank} and {tuple(ranks)}")
        self.metric = metric
        self.normalize = normalize
        self.protocol = protocol
        self.max_rank = max_rank
        self.rerank = rerank
        self.rerank_k1 = rerank_k1
        self.rerank_k2 = rerank_k2
        self.rerank_lambda = rerank_lambda
        self.rerank_max_items = rerank_max_items
        self.rerank_mode: RerankMode = rerank_mode
        self.ranks = tuple(ranks)
        self.last_result: RankingResult | None = None
        for name in ("features", "pids", "camids", "tracks", "is_query", "in_gallery", "weights"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(
        self,
        features: torch.Tensor,
        pids: torch.Tensor,
        camids: torch.Tensor,
        tracks: torch.Tensor,
        is_query: torch.Tensor,
        in_gallery: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> None:
        """Store a batch of clip features ``[B, D]`` with their labels (each ``[B]``).

        ``tracks`` is the tracklet id of each clip (clips with equal ids are averaged, with
        the positive ``weights`` of the clips, default 1); ``is_query`` / ``in_gallery`` say
        which side(s) the tracklet belongs to.
        """
        if features.ndim != 2:
            raise ValueError(f"features must be [B, D], got shape {tuple(features.shape)}")
        labels = {
            "pids": pids,
            "camids": camids,
            "tracks": tracks,
            "is_query": is_query,
            "in_gallery": in_gallery,
        }
        for name, values in labels.items():
            if values.ndim != 1 or values.shape[0] != features.shape[0]:
                raise ValueError(
                    f"{name} must be [B] with B={features.shape[0]} (the rows of features), "
                    f"got shape {tuple(values.shape)}"
                )
            if values.is_floating_point() or values.is_complex():
                raise ValueError(f"{name} must be an integer or bool tensor, got {values.dtype}")
        if weights is None:
            weights = features.new_ones(features.shape[0])
        if weights.shape != (features.shape[0],) or not bool((weights > 0).all()):
            raise ValueError(
                f"weights must be [B] with B={features.shape[0]} positive values, got shape "
                f"{tuple(weights.shape)}"
            )
        # Append only after every check passed, so that a rejected batch leaves no trace.
        self.features.append(features.detach().to(device=self.device, dtype=torch.float32))
        for name, values in labels.items():
            dtype = torch.bool if name in ("is_query", "in_gallery") else torch.long
            getattr(self, name).append(values.detach().to(device=self.device, dtype=dtype))
        self.weights.append(weights.detach().to(device=self.device, dtype=torch.float32))

    def compute(self) -> dict[str, float]:
        """Rank the gallery for every query tracklet; fills :attr:`last_result`."""
        # Before a DDP sync the state is a list of batches, after it one tensor; either may be
        # empty when nothing was updated.
        if len(self.features) == 0:
            raise RuntimeError("ReIDMetric.compute() called before any update()")
        features = dim_zero_cat(self.features)
        track_ids, inverse = torch.unique(dim_zero_cat(self.tracks), return_inverse=True)
        weights = dim_zero_cat(self.weights)
        track_features = _mean_by_group(features, weights, inverse, len(track_ids))
        pids, camids, is_query, in_gallery = (
            _one_value_per_track(dim_zero_cat(getattr(self, name)), inverse, track_ids, name)
            for name in ("pids", "camids", "is_query", "in_gallery")
        )
        q_idx, g_idx = is_query.nonzero().squeeze(1), in_gallery.nonzero().squeeze(1)
        if q_idx.numel() == 0 or g_idx.numel() == 0:
            raise ValueError(
                f"need query and gallery tracklets, got {q_idx.numel()} with is_query and "
                f"{g_idx.numel()} with in_gallery"
            )
        distmat = self._distances(track_features[q_idx], track_features[g_idx])
        result = evaluate_rank(
            distmat,
            pids[q_idx],
            pids[g_idx],
            camids[q_idx],
            camids[g_idx],
            max_rank=self.max_rank,
            protocol=self.protocol,
        )
        cmc = result["cmc"]
        self.last_result = RankingResult(
            cmc=cmc,
            all_ap=result["all_AP"],
            distmat=distmat.cpu(),
            query_features=track_features[q_idx].cpu(),
            gallery_features=track_features[g_idx].cpu(),
            query_tracks=track_ids[q_idx].cpu(),
            gallery_tracks=track_ids[g_idx].cpu(),
            q_pids=pids[q_idx].cpu(),
            g_pids=pids[g_idx].cpu(),
            q_camids=camids[q_idx].cpu(),
            g_camids=camids[g_idx].cpu(),
        )
        # A rank beyond the (clipped) CMC length means "anywhere in the gallery".
        rank_k = {f"rank{r}": cmc_at(cmc, r) for r in self.ranks}
        return {
            "mAP": float(result["mAP"]),
            "mINP": float(result["mINP"]),
            **rank_k,
            "num_valid_queries": float(result["num_valid_queries"]),
            "num_queries": float(result["num_queries"]),
            "num_gallery": float(g_idx.numel()),
        }

    def _distances(self, qf: torch.Tensor, gf: torch.Tensor) -> torch.Tensor:
        """Query-gallery distances, re-ranked when asked (the one re-ranking path of the project:
        ``metric.rerank`` / ``metric.rerank_mode``)."""
        distmat = compute_distance(qf, gf, self.metric, self.normalize)
        if not self.rerank:
            return distmat
        return re_ranking(
            distmat,
            compute_distance(qf, qf, self.metric, self.normalize),
            compute_distance(gf, gf, self.metric, self.normalize),
            k1=self.rerank_k1,
            k2=self.rerank_k2,
            lambda_value=self.rerank_lambda,
            max_items=self.rerank_max_items,
            mode=self.rerank_mode,
        )


def _mean_by_group(
    values: torch.Tensor, weights: torch.Tensor, group: torch.Tensor, num_groups: int
) -> torch.Tensor:
    """Weighted mean of the rows of ``values`` per group id in ``0..num_groups-1``."""
    weighted = values * weights[:, None]
    sums = values.new_zeros(num_groups, values.shape[1]).index_add_(0, group, weighted)
    totals = values.new_zeros(num_groups).index_add_(0, group, weights)
    return sums / totals[:, None]


def _one_value_per_track(
    values: torch.Tensor, track: torch.Tensor, track_ids: torch.Tensor, name: str
) -> torch.Tensor:
    """The value shared by all clips of each tracklet; raises if its clips disagree.

    ``track`` maps each clip to its row in ``track_ids``.
    """
    as_long = values.long()
    empty = as_long.new_zeros(len(track_ids))
    low = empty.scatter_reduce(0, track, as_long, reduce="amin", include_self=False)
    high = empty.scatter_reduce(0, track, as_long, reduce="amax", include_self=False)
    if not torch.equal(low, high):
        first = int((low != high).nonzero()[0])
        raise ValueError(
            f"the clips of tracklet {int(track_ids[first])} disagree on {name}: values from "
            f"{int(low[first])} to {int(high[first])}"
        )
    return low.to(values.dtype)

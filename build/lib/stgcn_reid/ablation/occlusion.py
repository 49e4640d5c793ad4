"""Scores on occluded and on clean queries of the synthetic benchmark.

The paper's case for the temporal graph (sec. 3.2, Figures 5-6) is occlusion: patches hidden in
some frames borrow from the same body part in the others. The synthetic generator knows which
tracklets an occluder covers, so the test queries split into occluded and clean ones, and the
mAP of each group says where a variant gains or loses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from stgcn_reid.ablation.example import synthetic_occlusions
from stgcn_reid.ablation.results import (
    FeatureSet,
    feature_distance,
    load_features,
    rank_distances,
    run_metric_options,
)
from stgcn_reid.ablation.runner import Run
from stgcn_reid.data.datamodule import EvalTracklets
from stgcn_reid.data.datasets import build_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcclusionScores:
    """mAP over the occluded and over the clean queries (queries with a match only)."""

    occluded_map: float
    clean_map: float
    num_occluded: int
    num_clean: int


def occluded_tracklets(dataset_cfg: Mapping[str, Any]) -> np.ndarray:
    """Per evaluation tracklet (queries first, as ``features.npz`` indexes them), whether an
    occluder covers some of its frames."""
    dataset = build_dataset(**dict(dataset_cfg))
    covered = synthetic_occlusions(dataset_cfg)
    tracklets = EvalTracklets.merge(dataset.query, dataset.gallery).tracklets
    return np.array([Path(t.frames[0]).resolve().parent in covered for t in tracklets])


def occlusion_scores(
    features: FeatureSet,
    occluded: np.ndarray,
    metric: str = "euclidean",
    normalize: bool = False,
    protocol: str = "standard",
    max_rank: int = 50,
) -> OcclusionScores:
    """Split the per-query average precision by whether the query tracklet is occluded."""
    distmat = feature_distance(features, metric, normalize)
    result = rank_distances(distmat, features, protocol, min(max_rank, len(features.g_pids)))
    ap = np.asarray(result["all_AP"], dtype=float)
    hidden = occluded[features.q_tracks]
    valid = ~np.isnan(ap)
    groups = {name: valid & mask for name, mask in (("occluded", hidden), ("clean", ~hidden))}
    if not all(mask.any() for mask in groups.values()):
        raise ValueError(
            f"{int(groups['occluded'].sum())} occluded and {int(groups['clean'].sum())} clean "
            "queries with a match: both groups are needed"
        )
    return OcclusionScores(
        occluded_map=float(ap[groups["occluded"]].mean()),
        clean_map=float(ap[groups["clean"]].mean()),
        num_occluded=int(groups["occluded"].sum()),
        num_clean=int(groups["clean"].sum()),
    )


def collect_occlusion_scores(runs: Sequence[Run]) -> dict[tuple[str, int], OcclusionScores]:
    """:func:`occlusion_scores` by (variant, seed) of every finished variant run with test
    features; empty unless the runs trained on the synthetic benchmark."""
    done = [r for r in runs if r.group == "variants" and r.trained and r.features_path.is_file()]
    if not done:
        return {}
    config = OmegaConf.load(done[0].directory / ".hydra" / "config.yaml")
    dataset_cfg = OmegaConf.to_container(config.dataset, resolve=True)
    if dataset_cfg["name"] != "synthetic":
        return {}
    occluded = occluded_tracklets(dataset_cfg)
    try:
        return {
            (run.key, run.seed): occlusion_scores(
                load_features(run.features_path), occluded, **run_metric_options(run.directory)
            )
            for run in done
        }
    except ValueError as err:  # a tiny benchmark may lack one of the groups
        log.info("no occluded / clean query table: %s", err)
        return {}

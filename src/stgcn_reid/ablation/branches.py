"""Each branch of a multi-branch model ranked on its own: which part of ``f_all`` (eq. 9)
carries the retrieval.

The test features of ``stgcn_reid.eval`` are the concatenation ``f_all`` of the branch
features; slicing it by the branch widths ranks the gallery with one branch at a time, under
the run's own distance settings. No library does this slicing; it is a few lines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stgcn_reid.ablation.results import (
    FeatureSet,
    Scores,
    distance_scores,
    feature_distance,
    load_features,
    run_metric_options,
)
from stgcn_reid.ablation.runner import Run
from stgcn_reid.checkpoints.policy import tested_checkpoint
from stgcn_reid.checkpoints.rebuild import load_net


def branch_slices(widths: Mapping[str, int]) -> dict[str, slice]:
    """Each branch's columns of ``f_all``, the branches in their order of concatenation."""
    slices, start = {}, 0
    for branch, width in widths.items():
        slices[branch] = slice(start, start + width)
        start += width
    return slices


@dataclass(frozen=True)
class BranchScores:
    """What each branch of one model contributes to its test retrieval."""

    alone: dict[str, Scores]  # each branch's part of f_all ranking the gallery alone
    balanced: Scores  # f_all with each branch's part L2-normalised first (equal weights)
    norms: dict[str, float]  # mean L2 norm of each branch's part over the test tracklets


def branch_scores(
    features: FeatureSet,
    widths: Mapping[str, int],
    metric: str = "euclidean",
    normalize: bool = False,
    protocol: str = "standard",
    max_rank: int = 50,
) -> BranchScores:
    """Test scores of each branch's part of ``f_all`` alone and of the parts weighted equally.

    Under the Euclidean distance the concatenation weights each branch by the size of its
    features: ``norms`` and ``balanced`` show whether one branch drowns the others.
    """
    total = sum(widths.values())
    if features.query.shape[1] != total:
        raise ValueError(
            f"the features are {features.query.shape[1]} wide but the branches {dict(widths)} "
            f"add up to {total}: not this model's features"
        )
    slices = branch_slices(widths)

    def ranked(select: Callable[[np.ndarray], np.ndarray]) -> Scores:
        part = dataclasses.replace(
            features, query=select(features.query), gallery=select(features.gallery)
        )
        return distance_scores(
            feature_distance(part, metric, normalize), features, protocol, max_rank
        )

    def balanced(x: np.ndarray) -> np.ndarray:
        parts = [x[:, cut] for cut in slices.values()]
        return np.concatenate(
            [p / np.linalg.norm(p, axis=1, keepdims=True).clip(1e-12) for p in parts], 1
        )

    everything = np.concatenate([features.query, features.gallery])
    return BranchScores(
        alone={branch: ranked(lambda x, cut=cut: x[:, cut]) for branch, cut in slices.items()},
        balanced=ranked(balanced),
        norms={
            branch: float(np.linalg.norm(everything[:, cut], axis=1).mean())
            for branch, cut in slices.items()
        },
    )


def run_branch_widths(run_dir: Path) -> dict[str, int]:
    """The branch widths of the model a run tested."""
    return load_net(tested_checkpoint(run_dir)).net.branch_widths


def run_branch_scores(run: Run) -> BranchScores:
    """:func:`branch_scores` of a finished run with test features, under its test settings."""
    return branch_scores(
        load_features(run.features_path),
        run_branch_widths(run.directory),
        **run_metric_options(run.directory),
    )


def collect_branch_scores(runs: Sequence[Run]) -> dict[tuple[str, int], BranchScores]:
    """:func:`run_branch_scores` by (variant, seed) of every finished variant run with test
    features and more than one branch."""
    found = {}
    for run in runs:
        if run.group == "variants" and run.trained and run.features_path.is_file():
            scores = run_branch_scores(run)
            if len(scores.alone) > 1:
                found[(run.key, run.seed)] = scores
    return found

"""Scores of finished runs, and Table 3's "Ensemble" computed from two runs' test features
(score sum of their distances, each divided by its mean query-gallery distance)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from stgcn_reid.ablation.runner import Run, read_record
from stgcn_reid.ablation.study import DEFAULT_TEST_SAMPLING, ENSEMBLE_MEMBERS
from stgcn_reid.evaluation import cmc_at, compute_distance, evaluate_rank
from stgcn_reid.inference import EvaluationLabels, FeatureFile


@dataclass(frozen=True)
class Scores:
    """Test scores of one run (fractions) and its CMC curve."""

    mean_ap: float
    rank1: float
    rank5: float
    cmc: np.ndarray = field(repr=False)


def read_scores(metrics_path: Path, split: str = "test") -> Scores:
    """The ``<split>/*`` scores of a ``metrics.json`` (of a training run, or of
    ``stgcn_reid.eval``, whose keys name the split it evaluated)."""
    try:
        metrics = json.loads(Path(metrics_path).read_text())
        return Scores(
            float(metrics[f"{split}/mAP"]),
            float(metrics[f"{split}/rank1"]),
            float(metrics[f"{split}/rank5"]),
            np.asarray(metrics[f"{split}/cmc"], dtype=float),
        )
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(
            f"{metrics_path}: expected a metrics.json with {split}/mAP, {split}/rank1, "
            f"{split}/rank5 and {split}/cmc ({err!r})"
        ) from err


def read_validation_curve(run_dir: Path, key: str = "val/mAP") -> dict[int, float]:
    """``{epoch: value}`` of ``key`` in the run's CSV log (1-based epochs; where a resumed run
    logged an epoch twice, the later row wins); empty if the run has no CSV log."""
    path = Path(run_dir) / "csv" / "metrics.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        return {
            int(row["epoch"]) + 1: float(row[key])
            for row in csv.DictReader(handle)
            if row.get(key) and row.get("epoch")
        }


@dataclass(frozen=True)
class FeatureSet:
    """Query and gallery tracklet features of one model: the two sides of an evaluation's
    feature file (:func:`load_features`).

    ``q_tracks`` / ``g_tracks`` index the evaluation tracklets (queries first, then the
    gallery tracklets that are not queries).
    """

    query: np.ndarray
    gallery: np.ndarray
    q_pids: np.ndarray
    g_pids: np.ndarray
    q_camids: np.ndarray
    g_camids: np.ndarray
    q_tracks: np.ndarray
    g_tracks: np.ndarray

    @classmethod
    def of(cls, labels: EvaluationLabels, features: np.ndarray) -> FeatureSet:
        """The query rows (``is_query``) and the gallery rows (``in_gallery``) of a file."""
        q, g = labels.is_query, labels.in_gallery
        return cls(
            query=features[q],
            gallery=features[g],
            q_pids=labels.pids[q],
            g_pids=labels.pids[g],
            q_camids=labels.camids[q],
            g_camids=labels.camids[g],
            q_tracks=labels.tracks[q],
            g_tracks=labels.tracks[g],
        )


def load_features(path: Path) -> FeatureSet:
    """Read the feature file of an evaluation (``save_test_features=true`` of a training run,
    ``eval.save_features=true``); ``ValueError`` for one without evaluation labels."""
    features = FeatureFile.load(path)
    if features.labels is None:
        raise ValueError(
            f"{path}: a feature file without evaluation labels (stgcn_reid.embed's, of a folder "
            "of tracklets): the study needs the query/gallery features of a test"
        )
    return FeatureSet.of(features.labels, features.features)


def ensemble_scores(
    members: Sequence[FeatureSet],
    metric: str = "euclidean",
    normalize: bool = False,
    protocol: str = "standard",
    max_rank: int = 50,
) -> Scores:
    """Table 3's "Ensemble": rank the gallery by the sum of the members' distance matrices,
    each on a common scale.

    Each member's distances come from its own features (their widths and norms differ), so a
    raw sum would let the member with the larger distances decide. Each member's
    ``[num_query, num_gallery]`` matrix is therefore divided by its own mean over all
    query-gallery pairs (:func:`scaled_distance`) before the sum: a positive factor per
    member, which leaves that member's own ranking unchanged and gives every member a mean
    distance of 1, so that the members weigh equally on average (and rescaling one member's
    features changes nothing). The members must describe the same query and gallery
    tracklets in the same order.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    first = members[0]
    for index, other in enumerate(members[1:], start=1):
        for name in ("q_pids", "g_pids", "q_camids", "g_camids", "q_tracks", "g_tracks"):
            if not np.array_equal(getattr(first, name), getattr(other, name)):
                raise ValueError(
                    f"ensemble member {index} has other {name} than member 0: the members "
                    "must be evaluated on the same query and gallery"
                )
    distmat = sum(scaled_distance(feature_distance(m, metric, normalize)) for m in members)
    return distance_scores(distmat, first, protocol, max_rank)


def scaled_distance(distmat: torch.Tensor) -> torch.Tensor:
    """``distmat`` divided by its mean over all entries (query-gallery pairs): the ensemble's
    common scale. Raises ``ValueError`` if that mean is not positive and finite (every feature
    the same), where no scale exists."""
    scale = distmat.mean()
    if not bool(torch.isfinite(scale)) or scale <= 0:
        raise ValueError(
            f"mean query-gallery distance {float(scale)}: not positive, so this member's "
            "distances cannot be put on the ensemble's common scale"
        )
    return distmat / scale


def feature_distance(
    features: FeatureSet, metric: str = "euclidean", normalize: bool = False
) -> torch.Tensor:
    """The ``[num_query, num_gallery]`` float64 distances of one model's features."""
    query, gallery = torch.from_numpy(features.query), torch.from_numpy(features.gallery)
    return compute_distance(query, gallery, metric, normalize).double()


def rank_distances(
    distmat: torch.Tensor, labels: FeatureSet, protocol: str = "standard", max_rank: int = 50
) -> dict[str, Any]:
    """:func:`~stgcn_reid.evaluation.evaluate_rank` of a distance matrix over the query and
    gallery of ``labels``."""
    return evaluate_rank(
        distmat,
        labels.q_pids,
        labels.g_pids,
        labels.q_camids,
        labels.g_camids,
        max_rank=max_rank,
        protocol=protocol,
    )


def distance_scores(
    distmat: torch.Tensor, labels: FeatureSet, protocol: str = "standard", max_rank: int = 50
) -> Scores:
    """Test scores of a distance matrix over the query and gallery of ``labels``."""
    result = rank_distances(distmat, labels, protocol, max_rank)
    cmc = np.asarray(result["cmc"])
    return Scores(float(result["mAP"]), cmc_at(cmc, 1), cmc_at(cmc, 5), cmc)


def run_metric_options(run_dir: Path) -> dict[str, Any]:
    """The retrieval settings a run was tested with (distance, normalisation, protocol)."""
    config = Path(run_dir) / ".hydra" / "config.yaml"
    metric = OmegaConf.load(config).get("metric")
    if metric is None:
        raise ValueError(f"{config} has no 'metric' section: not a stgcn_reid.train run")
    return {
        "metric": metric.metric,
        "normalize": bool(metric.normalize),
        "protocol": metric.protocol,
        "max_rank": int(metric.max_rank),
    }


#: ``{(split, sampling): {(variant key, seed): scores}}``: the tested checkpoints under each
#: evaluation protocol.
ProtocolScores = dict[tuple[str, str], dict[tuple[str, int], Scores]]


@dataclass(frozen=True)
class StudyResults:
    """Scores and wall times (s: training, testing, protocol evaluations) by (key, seed).

    The key is a variant key, a sweep point name, or ``"ensemble"``. ``scores`` are the
    training runs' final tests (``DEFAULT_TEST_SAMPLING``); ``protocols`` has the variants'
    tested checkpoints under every protocol, on the validation and the test split.
    """

    scores: dict[tuple[str, int], Scores]
    walls: dict[tuple[str, int], float]
    protocols: ProtocolScores = field(default_factory=dict)
    #: Standard error of each run's test mAP from the choice of queries alone.
    query_errors: dict[tuple[str, int], float] = field(default_factory=dict)


def query_sampling_error(features: FeatureSet, **options: Any) -> float:
    """How much the choice of test queries alone moves mAP: the standard error of the mean of
    the per-query APs (sd / sqrt(number of valid queries); a bootstrap over queries converges
    to it)."""
    ap = np.asarray(rank_distances(feature_distance(features), features, **options)["all_AP"])
    ap = ap[~np.isnan(ap)]
    return float(np.std(ap, ddof=1) / np.sqrt(len(ap))) if len(ap) > 1 else float("nan")


def protocol_scores(runs: Sequence[Run]) -> ProtocolScores:
    """The variant runs' scores under each protocol: the final test of training (test split,
    :data:`~stgcn_reid.ablation.study.DEFAULT_TEST_SAMPLING`) and every evaluation found."""
    found: ProtocolScores = {}
    for run in runs:
        if run.group != "variants" or not run.trained:
            continue
        default = ("test", DEFAULT_TEST_SAMPLING)
        found.setdefault(default, {})[(run.key, run.seed)] = read_scores(run.metrics_path)
        for split, sampling in run.evaluations:
            path = run.evaluation_path(split, sampling)
            if path.is_file():
                scores = read_scores(path, split)
                found.setdefault((split, sampling), {})[(run.key, run.seed)] = scores
    return found


def collect_results(runs: Sequence[Run]) -> StudyResults:
    """Scores of the finished runs, plus the ensemble of every seed with both members' features."""
    scores: dict[tuple[str, int], Scores] = {}
    walls: dict[tuple[str, int], float] = {}
    for run in runs:
        if not run.trained:
            continue
        scores[(run.key, run.seed)] = read_scores(run.metrics_path)
        record = read_record(run)
        walls[(run.key, run.seed)] = record.get("train_wall_s", 0.0) + record.get(
            "eval_wall_s", 0.0
        )
    by_key = {(run.key, run.seed): run for run in runs if run.group == "variants"}
    for seed in sorted({seed for _, seed in by_key}):
        members = [by_key.get((key, seed)) for key in ENSEMBLE_MEMBERS]
        if all(m is not None and m.features_path.is_file() for m in members):
            scores[("ensemble", seed)] = ensemble_scores(
                [load_features(m.features_path) for m in members],
                **run_metric_options(members[0].directory),
            )
    errors = {
        (run.key, run.seed): query_sampling_error(
            load_features(run.features_path),
            protocol=run_metric_options(run.directory)["protocol"],
        )
        for run in runs
        if run.group == "variants" and run.trained and run.features_path.is_file()
    }
    return StudyResults(scores, walls, protocol_scores(runs), errors)

"""The clip the Grad-CAM and adjacency pictures explain: a partly occluded test tracklet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from stgcn_reid.ablation.results import FeatureSet
from stgcn_reid.data.clips import load_clip
from stgcn_reid.data.datamodule import EvalTracklets
from stgcn_reid.data.datasets import build_dataset
from stgcn_reid.data.synthetic import dataset_dir, make_config
from stgcn_reid.data.synthetic.plan import build_benchmark
from stgcn_reid.data.temporal import evenly
from stgcn_reid.data.transforms import build_test_transform


@dataclass(frozen=True)
class ExampleClip:
    """One clip of a test tracklet, ready for the model and for display.

    Attributes:
        track: index of the tracklet among the evaluation tracklets (queries first, as
            ``stgcn_reid.eval`` orders them and ``features.npz`` refers to them).
        is_query: whether that tracklet is a query.
        indices: the ``T`` frame indices of the clip in the tracklet.
        occluded: per clip frame, whether an occluder covers part of the person.
        frames: uint8 ``[T, H, W, 3]`` at the model input size.
        clip: the normalised model input ``[T, 3, H, W]``.
    """

    track: int
    is_query: bool
    indices: np.ndarray
    occluded: tuple[bool, ...]
    frames: np.ndarray
    clip: torch.Tensor


def synthetic_occlusions(dataset_cfg: Mapping[str, Any]) -> dict[Path, range]:
    """Occluded frames of every occluded tracklet of a synthetic benchmark, by folder.

    The generator writes no per-tracklet metadata, but its plan is a pure function of the
    config, so rebuilding the plan (without rendering) tells which frames each occluder covers.
    """
    options = {k: v for k, v in dataset_cfg.items() if k not in ("name", "root", "workers")}
    cfg = make_config(**options)
    folder = dataset_dir(dataset_cfg["root"], cfg).resolve()
    occluded = {}
    for planned in build_benchmark(cfg).tracklets:
        occluder = planned.spec.occluder
        if occluder is None:
            continue
        slot = planned.slot
        # The writer's layout: <split>/<pid:04d>/<tracklet number:04d>/frames.
        path = folder / slot.split / f"{slot.pid:04d}" / f"{slot.number:04d}"
        occluded[path] = range(occluder.start, occluder.stop)
    return occluded


def occluded_example(run_config: Mapping[str, Any]) -> ExampleClip:
    """A clip of a partly occluded test tracklet of a run's dataset, at its input geometry.

    ``run_config`` is a checkpoint's run configuration (``LoadedNet.run_config``). Among the
    test tracklets, the clip of ``T`` evenly spread frames whose frames split most evenly into
    occluded and visible wins, queries before gallery tracklets, earlier before later.
    Datasets other than the synthetic one have no occlusion labels: the first query is used.
    """
    dataset_cfg = dict(run_config["dataset"])
    data = run_config["data"]
    seq_len, height, width = int(data["seq_len"]), int(data["height"]), int(data["width"])
    dataset = build_dataset(**dataset_cfg)
    evaluated = EvalTracklets.merge(dataset.query, dataset.gallery)
    occlusions = synthetic_occlusions(dataset_cfg) if dataset_cfg["name"] == "synthetic" else {}

    def rank(track: int) -> tuple[int, bool, int]:
        indices = evenly(len(evaluated.tracklets[track].frames), seq_len)
        hidden = sum(_marks(evaluated.tracklets[track].frames, indices, occlusions))
        return min(hidden, seq_len - hidden), bool(evaluated.is_query[track]), -track

    track = max(range(len(evaluated.tracklets)), key=rank)
    frames_of = evaluated.tracklets[track].frames
    indices = evenly(len(frames_of), seq_len)
    raw = load_clip(frames_of, indices, skip_corrupt=False)
    frames = torch.stack([TF.resize(f, [height, width], antialias=True) for f in raw])
    return ExampleClip(
        track=track,
        is_query=bool(evaluated.is_query[track]),
        indices=indices,
        occluded=_marks(frames_of, indices, occlusions),
        frames=frames.permute(0, 2, 3, 1).numpy(),
        clip=build_test_transform(height, width)(frames),
    )


def _marks(
    frames: tuple[str, ...], indices: np.ndarray, occlusions: Mapping[Path, range]
) -> tuple[bool, ...]:
    covered = occlusions.get(Path(frames[0]).resolve().parent, range(0))
    return tuple(int(i) in covered for i in indices)


def tracklet_feature(features: FeatureSet, example: ExampleClip) -> torch.Tensor | None:
    """The test-time feature of the example's tracklet in ``features`` (None if absent)."""
    tracks, rows = (
        (features.q_tracks, features.query)
        if example.is_query
        else (features.g_tracks, features.gallery)
    )
    hit = np.flatnonzero(tracks == example.track)
    return torch.from_numpy(rows[hit[0]]) if len(hit) else None

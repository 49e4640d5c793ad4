"""Occluded vs clean queries: the split follows the generator's occluders."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stgcn_reid.ablation.example import synthetic_occlusions
from stgcn_reid.ablation.occlusion import OcclusionScores, occluded_tracklets, occlusion_scores
from stgcn_reid.ablation.report import occlusion_section
from stgcn_reid.ablation.results import FeatureSet, Scores, StudyResults
from stgcn_reid.data.datamodule import EvalTracklets
from stgcn_reid.data.datasets import build_dataset


def _features() -> FeatureSet:
    """Three queries (ids 1, 2, 3; tracks 0-2), gallery ids 1, 2, 3 (tracks 3-5). 1-D features:
    queries 0 and 2 sit on their match, query 1 (id 2) is nearer id 3 than id 2."""
    return FeatureSet(
        query=np.array([[0.0], [10.0], [20.0]], dtype=np.float32),
        gallery=np.array([[0.0], [13.0], [11.0]], dtype=np.float32),
        q_pids=np.array([1, 2, 3]),
        g_pids=np.array([1, 2, 3]),
        q_camids=np.zeros(3, dtype=int),
        g_camids=np.ones(3, dtype=int),
        q_tracks=np.array([0, 1, 2]),
        g_tracks=np.array([3, 4, 5]),
    )


def test_queries_split_by_occlusion() -> None:
    # Query 1 (AP 1/2) is the occluded one; queries 0 and 2 are clean. Query 2 ranks id 2
    # (distance 7) before id 3 (9): AP 1/2 as well.
    occluded = np.array([False, True, False, False, False, False])
    scores = occlusion_scores(_features(), occluded)
    assert scores == OcclusionScores(
        occluded_map=pytest.approx(0.5),
        clean_map=pytest.approx((1 + 0.5) / 2),
        num_occluded=1,
        num_clean=2,
    )


def test_the_track_index_not_the_query_row_decides() -> None:
    # Query rows 0 and 1 now hold tracks 1 and 0: track 1 (occluded) is row 0, AP 1.
    features = dataclasses.replace(_features(), q_tracks=np.array([1, 0, 2]))
    occluded = np.array([False, True, False, False, False, False])
    assert occlusion_scores(features, occluded).occluded_map == pytest.approx(1.0)


def test_both_groups_are_needed() -> None:
    with pytest.raises(ValueError, match="0 occluded and 3 clean"):
        occlusion_scores(_features(), np.zeros(6, dtype=bool))


def test_occluded_tracklets_of_the_smoke_benchmark(
    smoke_data_dir: Path, smoke_dataset_options: dict[str, Any]
) -> None:
    cfg = {"name": "synthetic", "root": str(smoke_data_dir), **smoke_dataset_options}
    flags = occluded_tracklets(cfg)
    dataset = build_dataset(**cfg)
    tracklets = EvalTracklets.merge(dataset.query, dataset.gallery).tracklets
    assert flags.shape == (len(tracklets),) and flags.dtype == bool
    assert 0 < flags.sum() < len(flags)
    # An occluded tracklet's occluder covers a run of its frames, within the tracklet.
    covered = synthetic_occlusions(cfg)
    for tracklet, flag in zip(tracklets, flags, strict=True):
        frames = covered.get(Path(tracklet.frames[0]).resolve().parent)
        assert flag == (frames is not None)
        if flag:
            assert 0 <= frames.start < frames.stop <= len(tracklet.frames)


def test_report_table_puts_occluded_beside_clean() -> None:
    results = StudyResults({("stgcn", 0): Scores(0.5, 0.5, 0.5, np.array([0.5]))}, {})
    lines = occlusion_section({("stgcn", 0): OcclusionScores(0.4, 0.7, 56, 44)}, results)
    assert "56 whose tracklet an occluder partly covers and 44 clean" in " ".join(lines)
    row = next(line for line in lines if line.startswith("| STGCN"))
    assert [c.strip() for c in row.strip("|").split("|")][1:] == [
        "1", "50.00", "40.00", "70.00", "-30.00",
    ]  # fmt: skip
    assert occlusion_section({}, results) == []

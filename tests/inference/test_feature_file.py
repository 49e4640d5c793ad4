"""The one feature file: an evaluation's features round-trip with their labels, older files get
a message saying what they are, and search refuses what it cannot use."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from stgcn_reid import search
from stgcn_reid.ablation.results import load_features
from stgcn_reid.data.datasets.base import DatasetError
from stgcn_reid.evaluation import RankingResult
from stgcn_reid.inference import FeatureFile, evaluation_features

RUN_CONFIG = {"data": {"seq_len": 4, "height": 64, "width": 32}, "model": {"name": "stgcn"}}


def ranking() -> RankingResult:
    """Queries: tracks 0 and 1; gallery: tracks 1 (also a query, as in MARS's official
    gallery), 2 and 3."""
    features = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    pids, camids = torch.tensor([7, 8, 7, 9]), torch.tensor([0, 0, 1, 1])
    q, g = torch.tensor([0, 1]), torch.tensor([1, 2, 3])
    return RankingResult(
        cmc=np.ones(3),
        all_ap=np.ones(2),
        distmat=torch.zeros(2, 3),
        query_features=features[q],
        gallery_features=features[g],
        query_tracks=q,
        gallery_tracks=g,
        q_pids=pids[q],
        g_pids=pids[g],
        q_camids=camids[q],
        g_camids=camids[g],
    )


def test_evaluation_features_round_trip_with_labels_and_checkpoint_hash(tmp_path: Path) -> None:
    checkpoint = tmp_path / "best.ckpt"
    checkpoint.write_bytes(b"weights")
    result = ranking()
    path = evaluation_features(result, checkpoint, RUN_CONFIG, "strided").save(tmp_path / "f.npz")

    loaded = FeatureFile.load(path)
    assert loaded.names == ["7/0", "8/1", "7/2", "9/3"]  # each tracklet once, <identity>/<track>
    assert loaded.checkpoint_sha256 == hashlib.sha256(b"weights").hexdigest()
    assert (loaded.seq_len, loaded.height, loaded.width, loaded.sampling) == (4, 64, 32, "strided")
    assert loaded.run_config == RUN_CONFIG
    assert loaded.labels is not None
    assert loaded.labels.is_query.tolist() == [True, True, False, False]
    assert loaded.labels.in_gallery.tolist() == [False, True, True, True]
    sides = load_features(path)  # the ablation's view: the same query and gallery as the ranking
    np.testing.assert_array_equal(sides.query, result.query_features.numpy())
    np.testing.assert_array_equal(sides.gallery, result.gallery_features.numpy())
    np.testing.assert_array_equal(sides.g_tracks, result.gallery_tracks.numpy())
    np.testing.assert_array_equal(sides.g_camids, result.g_camids.numpy())
    with pytest.raises(DatasetError, match="dataset tracklet of an evaluation, not a folder"):
        loaded.frames(0)


def test_older_and_newer_files_are_named_for_what_they_are(tmp_path: Path) -> None:
    old = tmp_path / "features.npz"
    np.savez(old, query_features=np.zeros((1, 2)), gallery_features=np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"unversioned features.npz of an older stgcn_reid.eval"):
        FeatureFile.load(old)
    with pytest.raises(ValueError, match=r"eval.save_features=true"):
        FeatureFile.load(old)
    np.savez(tmp_path / "other.npz", x=np.zeros(1))
    with pytest.raises(ValueError, match=r"other.npz has no format_version: not a feature file"):
        FeatureFile.load(tmp_path / "other.npz")

    current = evaluation_features(ranking(), None, RUN_CONFIG, "evenly")
    assert current.checkpoint_sha256 == ""  # last weights: no checkpoint file
    path = current.save(tmp_path / "current.npz")
    with np.load(path) as data:
        arrays = dict(data)
    np.savez(tmp_path / "newer.npz", **{**arrays, "format_version": np.int64(99)})
    with pytest.raises(ValueError, match=r"format 99, but this stgcn_reid reads formats 1, 2"):
        FeatureFile.load(tmp_path / "newer.npz")
    # Format 1: embed's files before the evaluation labels, read as files without labels.
    embedded = {k: v for k, v in arrays.items() if k not in ("tracks", "pids", "camids")}
    embedded = {k: v for k, v in embedded.items() if k not in ("is_query", "in_gallery")}
    np.savez(tmp_path / "v1.npz", **{**embedded, "format_version": np.int64(1)})
    assert FeatureFile.load(tmp_path / "v1.npz").labels is None
    np.savez(tmp_path / "partial.npz", **{**embedded, "pids": arrays["pids"]})
    with pytest.raises(ValueError, match=r"has evaluation labels but lacks tracks, camids"):
        FeatureFile.load(tmp_path / "partial.npz")


def test_search_takes_evaluation_files_without_pictures_and_needs_a_checkpoint_hash(
    tmp_path: Path,
) -> None:
    checkpoint = tmp_path / "best.ckpt"
    checkpoint.write_bytes(b"weights")
    features = evaluation_features(ranking(), checkpoint, RUN_CONFIG, "strided")
    path = features.save(tmp_path / "f.npz")
    args = [f"query={path}", f"gallery={path}", f"output_dir={tmp_path / 'out'}"]
    with pytest.raises(SystemExit, match=r"not tracklet folders: .* picture_queries=0"):
        search.main(args)
    csv_path, picture = search.search(
        search.SearchConfig(str(path), str(path), str(tmp_path / "out"), picture_queries=0)
    )
    assert picture is None and csv_path.is_file()

    dataclasses.replace(features, checkpoint_sha256="").save(tmp_path / "last.npz")
    with pytest.raises(SystemExit, match=r"last\.npz records no checkpoint"):
        search.main([f"query={tmp_path / 'last.npz'}", *args[1:]])

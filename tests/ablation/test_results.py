"""Table 3's ensemble (score sum on a common scale) on hand-made features, and reading the runs'
outputs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from stgcn_reid.ablation import FeatureSet, ensemble_scores, load_features
from stgcn_reid.ablation.results import (
    query_sampling_error,
    read_scores,
    read_validation_curve,
)
from stgcn_reid.evaluation import evaluate_rank
from stgcn_reid.inference import EvaluationLabels, FeatureFile

# Two queries (ids 1 and 2, camera 0); gallery: ids 1, 2, 3, 4 in camera 1.
Q_PIDS, G_PIDS = np.array([1, 2]), np.array([1, 2, 3, 4])
Q_CAMS, G_CAMS = np.zeros(2, dtype=int), np.ones(4, dtype=int)


def features(query: list[float], gallery: list[float]) -> FeatureSet:
    """1-D features, so that the Euclidean distance is |q - g|, easy to reason about."""
    return FeatureSet(
        query=np.array(query, dtype=np.float32)[:, None],
        gallery=np.array(gallery, dtype=np.float32)[:, None],
        q_pids=Q_PIDS,
        g_pids=G_PIDS,
        q_camids=Q_CAMS,
        g_camids=G_CAMS,
        q_tracks=np.array([0, 1]),
        g_tracks=np.array([2, 3, 4, 5]),
    )


# A ranks query 1 right (distance 0) and query 2 wrong (id 3 at 1, id 2 at 3); B the opposite
# (query 1: id 3 at 4 before id 1 at 6; query 2: id 2 at 0). Summed, both are right.
A = features([0, 10], [0, 13, 9, -30])
B = features([0, 10], [-6, 10, 4, 40])


def distances(member: FeatureSet) -> np.ndarray:
    """The ``[query, gallery]`` Euclidean distances of 1-D features."""
    return np.abs(member.query - member.gallery.T).astype(float)


def scaled(member: FeatureSet) -> FeatureSet:
    """``member`` with its features times 10: its Euclidean distances times 10."""
    return dataclasses.replace(member, query=10 * member.query, gallery=10 * member.gallery)


def test_score_sum_fixes_what_each_member_gets_wrong() -> None:
    # A model paired with itself ranks as it does alone.
    alone = [ensemble_scores([m, m], max_rank=4) for m in (A, B)]
    assert [s.rank1 for s in alone] == [0.5, 0.5]

    both = ensemble_scores([A, B], max_rank=4)
    assert both.rank1 == 1.0
    # Each member's distances divided by their mean over the 2 x 4 pairs: 106 / 8 and 112 / 8.
    assert distances(A).mean() == 13.25 and distances(B).mean() == 14.0
    summed = distances(A) / 13.25 + distances(B) / 14.0
    expected = evaluate_rank(summed, Q_PIDS, G_PIDS, Q_CAMS, G_CAMS, max_rank=4)
    assert both.mean_ap == pytest.approx(expected["mAP"])
    np.testing.assert_allclose(both.cmc, expected["cmc"])
    assert both.rank5 == 1.0  # rank 5 of a 4-item gallery: its last rank


def test_a_member_with_larger_features_does_not_dominate_the_ensemble() -> None:
    both = ensemble_scores([A, B], max_rank=4)
    for members in ([scaled(A), B], [A, scaled(B)]):
        rescaled = ensemble_scores(members, max_rank=4)
        assert rescaled.mean_ap == pytest.approx(both.mean_ap)
        np.testing.assert_allclose(rescaled.cmc, both.cmc)

    # The raw sum of the distances would follow the rescaled member: 10 x A ranks query 2's
    # id 3 (10 + 6 = 16) before its id 2 (30 + 0), as A alone does, so rank-1 drops to 1/2.
    raw = evaluate_rank(
        10 * distances(A) + distances(B), Q_PIDS, G_PIDS, Q_CAMS, G_CAMS, max_rank=4
    )
    assert raw["cmc"][0] == 0.5 and both.rank1 == 1.0


def test_a_member_without_a_distance_scale_is_refused() -> None:
    flat = dataclasses.replace(A, query=np.zeros_like(A.query), gallery=np.zeros_like(A.gallery))
    with pytest.raises(ValueError, match=r"mean query-gallery distance 0\.0: not positive"):
        ensemble_scores([flat, B])


def test_members_must_rank_the_same_tracklets() -> None:
    shuffled = dataclasses.replace(B, g_tracks=np.array([3, 2, 4, 5]))
    with pytest.raises(ValueError, match="other g_tracks than member 0"):
        ensemble_scores([A, shuffled])
    with pytest.raises(ValueError, match="at least 2 members"):
        ensemble_scores([A])


def feature_file(member: FeatureSet, labels: EvaluationLabels | None) -> FeatureFile:
    """``member`` as the feature file of an evaluation (queries and gallery disjoint)."""
    return FeatureFile(
        features=np.concatenate([member.query, member.gallery]),
        names=[str(track) for track in [*member.q_tracks, *member.g_tracks]],
        input_dir="",
        checkpoint="best.ckpt",
        checkpoint_sha256="0" * 64,
        seq_len=8,
        height=64,
        width=32,
        sampling="strided",
        run_config={},
        labels=labels,
    )


def test_load_features_reads_what_eval_writes_and_refuses_other_files(tmp_path: Path) -> None:
    roles = np.arange(6) < 2
    labels = EvaluationLabels(
        tracks=np.concatenate([A.q_tracks, A.g_tracks]),
        pids=np.concatenate([A.q_pids, A.g_pids]),
        camids=np.concatenate([A.q_camids, A.g_camids]),
        is_query=roles,
        in_gallery=~roles,
    )
    path = feature_file(A, labels).save(tmp_path / "features.npz")
    loaded = load_features(path)
    np.testing.assert_array_equal(loaded.gallery, A.gallery)
    np.testing.assert_array_equal(loaded.q_tracks, A.q_tracks)

    embedded = feature_file(A, None).save(tmp_path / "embedded.npz")
    with pytest.raises(ValueError, match=r"embedded.npz: a feature file without evaluation"):
        load_features(embedded)
    # The unversioned file eval and train wrote before the one format.
    np.savez(tmp_path / "old.npz", query_features=A.query, gallery_features=A.gallery)
    with pytest.raises(ValueError, match=r"old.npz is an unversioned features.npz .* Regenerate"):
        load_features(tmp_path / "old.npz")


def test_read_scores_needs_the_test_metrics(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(
        json.dumps({"test/mAP": 0.5, "test/rank1": 0.25, "test/rank5": 0.75, "test/cmc": [0.25]})
    )
    scores = read_scores(path)
    assert (scores.mean_ap, scores.rank1, scores.rank5) == (0.5, 0.25, 0.75)
    path.write_text(json.dumps({"val/mAP": 0.5}))
    with pytest.raises(ValueError, match=r"metrics\.json: expected a metrics\.json with test/mAP"):
        read_scores(path)


def test_validation_curve_reads_the_csv_log_and_keeps_the_resumed_rows(tmp_path: Path) -> None:
    log = tmp_path / "csv" / "metrics.csv"
    log.parent.mkdir()
    # Lightning's CSV rows: 0-based epochs, blanks where a row has no value of the column;
    # epoch 7 was validated twice (a run resumed after its validation), the later row wins.
    log.write_text(
        "epoch,step,train/loss,val/mAP\n"
        "0,0,5.1,\n"
        "3,76,,0.30\n"
        "7,152,,0.25\n"
        "7,152,,0.26\n"
        "8,160,4.0,\n"
    )
    assert read_validation_curve(tmp_path) == {4: 0.30, 8: 0.26}
    assert read_validation_curve(tmp_path / "no-run") == {}


def test_query_sampling_error_is_the_standard_error_of_the_per_query_aps() -> None:
    # Query 0 (at 0) finds its match (at 0.1) first: AP 1. Query 1 (at 10) meets identity 0's
    # second tracklet (at 10.1) before its own match (at 10.5): AP 1/2.
    labels = {
        "q_pids": np.array([0, 1]),
        "g_pids": np.array([0, 0, 1]),
        "q_camids": np.array([0, 0]),
        "g_camids": np.array([1, 1, 1]),
        "q_tracks": np.array([0, 1]),
        "g_tracks": np.array([2, 3, 4]),
    }
    features = FeatureSet(
        query=np.array([[0.0], [10.0]], dtype=np.float32),
        gallery=np.array([[0.1], [10.1], [10.5]], dtype=np.float32),
        **labels,
    )
    expected = np.std([1.0, 0.5], ddof=1) / np.sqrt(2)  # 0.25
    assert query_sampling_error(features) == pytest.approx(expected)

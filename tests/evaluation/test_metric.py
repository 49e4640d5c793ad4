"""ReIDMetric: clip-to-tracklet aggregation, query/gallery roles, re-ranking, DDP sync."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from stgcn_reid.evaluation import ReIDMetric, compute_distance, evaluate_rank, re_ranking

Clips = dict[str, torch.Tensor]


def _clips(seed: int = 0, num_ids: int = 12, dim: int = 8) -> tuple[Clips, dict[str, np.ndarray]]:
    """Clips of tracklets: each identity has 4 tracklets on cameras 0-3, each 1-4 clips.

    The first tracklet of each identity is a query that is also in the gallery (official MARS
    style); the others are gallery only. Returns the clips and, per tracklet, the labels.
    """
    gen = torch.Generator().manual_seed(seed)
    rows: dict[str, list] = {k: [] for k in ("features", "pids", "camids", "tracks", "is_query")}
    track_pid, track_cam, track_query = [], [], []
    track_id = 100  # ids need not start at 0 or be contiguous
    for pid in range(num_ids):
        center = torch.randn(dim, generator=gen)
        for cam in range(4):
            n_clips = int(torch.randint(1, 5, (1,), generator=gen))
            for _ in range(n_clips):
                rows["features"].append(center + 0.8 * torch.randn(dim, generator=gen))
                rows["pids"].append(pid)
                rows["camids"].append(cam)
                rows["tracks"].append(track_id)
                rows["is_query"].append(cam == 0)
            track_pid.append(pid)
            track_cam.append(cam)
            track_query.append(cam == 0)
            track_id += 3
    clips = {
        "features": torch.stack(rows["features"]),
        "pids": torch.tensor(rows["pids"]),
        "camids": torch.tensor(rows["camids"]),
        "tracks": torch.tensor(rows["tracks"]),
        "is_query": torch.tensor(rows["is_query"]),
    }
    clips["in_gallery"] = torch.ones_like(clips["is_query"])
    tracks = {
        "pid": np.array(track_pid),
        "cam": np.array(track_cam),
        "query": np.array(track_query),
    }
    return clips, tracks


def _batches(clips: Clips, order: torch.Tensor, sizes: list[int]) -> list[Clips]:
    out, start = [], 0
    for size in sizes:
        idx = order[start : start + size]
        out.append({k: v[idx] for k, v in clips.items()})
        start += size
    assert start == len(order)
    return out


def _expected(clips: Clips, tracks: dict[str, np.ndarray], protocol: str) -> dict:
    """The tracklet means by a plain loop, then distances and ranking."""
    ids = sorted(set(clips["tracks"].tolist()))
    means = torch.stack([clips["features"][clips["tracks"] == t].mean(0) for t in ids])
    q = tracks["query"]
    distmat = compute_distance(means[torch.from_numpy(q)], means)
    return evaluate_rank(
        distmat,
        tracks["pid"][q],
        tracks["pid"],
        tracks["cam"][q],
        tracks["cam"],
        max_rank=20,
        protocol=protocol,
    )


@pytest.mark.parametrize("protocol", ["standard", "mars_official"])
def test_compute_averages_clips_per_tracklet(protocol: str) -> None:
    clips, tracks = _clips()
    metric = ReIDMetric(protocol=protocol, max_rank=20)
    order = torch.randperm(len(clips["pids"]), generator=torch.Generator().manual_seed(1))
    for batch in _batches(clips, order, [7, 20, len(order) - 27]):
        metric.update(**batch)
    result = metric.compute()
    expected = _expected(clips, tracks, protocol)
    assert result["mAP"] == pytest.approx(expected["mAP"], abs=1e-6)
    assert result["mINP"] == pytest.approx(expected["mINP"], abs=1e-6)
    for r in (1, 5, 10, 20):
        assert result[f"rank{r}"] == pytest.approx(expected["cmc"][r - 1], abs=1e-6)
    assert result["num_queries"] == 12
    assert result["num_gallery"] == 48
    assert result["num_valid_queries"] == 12
    assert all(isinstance(v, float) for v in result.values())

    last = metric.last_result
    assert last is not None
    assert last.distmat.shape == (12, 48)
    np.testing.assert_allclose(last.cmc, expected["cmc"], atol=1e-6)
    assert last.query_tracks.tolist() == [100 + 12 * i for i in range(12)]
    assert torch.equal(last.g_pids, torch.from_numpy(tracks["pid"]))


def test_features_are_stored_in_float32() -> None:
    clips, _ = _clips()
    metric = ReIDMetric()
    metric.update(**{**clips, "features": clips["features"].half()})
    metric.update(**{**clips, "features": clips["features"].double()})
    assert all(f.dtype == torch.float32 for f in metric.features)


def test_rerank_option_reranks_tracklet_distances() -> None:
    clips, tracks = _clips(seed=2, num_ids=20)
    metric = ReIDMetric(max_rank=20, rerank=True, rerank_k1=5, rerank_k2=2, rerank_lambda=0.4)
    metric.update(**clips)
    metric.compute()
    plain = ReIDMetric(max_rank=20)
    plain.update(**clips)
    plain.compute()
    qf_mask = torch.from_numpy(tracks["query"])
    ids = sorted(set(clips["tracks"].tolist()))
    means = torch.stack([clips["features"][clips["tracks"] == t].mean(0) for t in ids])
    qf, gf = means[qf_mask], means
    expected = re_ranking(
        compute_distance(qf, gf), compute_distance(qf, qf), compute_distance(gf, gf), 5, 2, 0.4
    )
    torch.testing.assert_close(metric.last_result.distmat, expected)
    assert not torch.allclose(metric.last_result.distmat, plain.last_result.distmat)


def test_rerank_mode_release_is_passed_to_re_ranking() -> None:
    clips, tracks = _clips(seed=3, num_ids=20)
    metric = ReIDMetric(max_rank=20, rerank=True, rerank_mode="release")
    metric.update(**clips)
    metric.compute()
    ids = sorted(set(clips["tracks"].tolist()))
    means = torch.stack([clips["features"][clips["tracks"] == t].mean(0) for t in ids])
    qf, gf = means[torch.from_numpy(tracks["query"])], means
    dists = compute_distance(qf, gf), compute_distance(qf, qf), compute_distance(gf, gf)
    torch.testing.assert_close(metric.last_result.distmat, re_ranking(*dists, mode="release"))
    with pytest.raises(ValueError, match="rerank_mode must be one of"):
        ReIDMetric(rerank_mode="torchreid")


def test_clips_of_one_tracklet_must_agree() -> None:
    clips, _ = _clips()
    # The first two clips of the first tracklet with several clips get different cameras.
    second = int(torch.nonzero(clips["tracks"][1:] == clips["tracks"][:-1])[0]) + 1
    clips["camids"][second] += 1
    metric = ReIDMetric()
    metric.update(**clips)
    track = int(clips["tracks"][second])
    with pytest.raises(ValueError, match=f"clips of tracklet {track} disagree on camids"):
        metric.compute()


def test_errors_for_missing_data_and_bad_shapes() -> None:
    metric = ReIDMetric()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics warns about compute before update
        with pytest.raises(RuntimeError, match="before any update"):
            metric.compute()
    clips, _ = _clips()
    with pytest.raises(ValueError, match="pids must be \\[B\\] with B="):
        metric.update(**{**clips, "pids": clips["pids"][:-1]})
    with pytest.raises(ValueError, match="tracks must be an integer or bool tensor"):
        metric.update(**{**clips, "tracks": clips["tracks"].float()})
    metric.update(**{**clips, "is_query": torch.zeros_like(clips["is_query"])})
    with pytest.raises(ValueError, match="need query and gallery tracklets, got 0"):
        metric.compute()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "l1"}, "metric must be one of"),
        ({"protocol": "official"}, "protocol must be one of"),
        ({"ranks": (0, 5)}, "max_rank and ranks must be >= 1"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReIDMetric(**kwargs)


def _ddp_worker(rank: int, init_file: str, shards: list[list[Clips]], out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        metric = ReIDMetric(protocol="mars_official", max_rank=20)
        for batch in shards[rank]:
            metric.update(**batch)
        result = metric.compute()
        torch.save(
            {"result": result, "distmat": metric.last_result.distmat},
            Path(out_dir) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_match_single_process(tmp_path: Path) -> None:
    clips, _ = _clips(seed=3)
    order = torch.randperm(len(clips["pids"]), generator=torch.Generator().manual_seed(4))
    n = len(order)
    cut = int(0.62 * n)  # uneven halves; clips of one tracklet land on both ranks
    shards = [
        _batches(clips, order[:cut], [cut // 2, cut - cut // 2]),
        _batches(clips, order[cut:], [n - cut]),
    ]
    mp.spawn(_ddp_worker, args=(str(tmp_path / "init"), shards, str(tmp_path)), nprocs=2, join=True)

    single = ReIDMetric(protocol="mars_official", max_rank=20)
    for batch in _batches(clips, torch.arange(n), [n]):
        single.update(**batch)
    expected = single.compute()
    for rank in range(2):
        saved = torch.load(tmp_path / f"rank{rank}.pt")
        assert saved["result"].keys() == expected.keys()
        for key, value in expected.items():
            assert saved["result"][key] == pytest.approx(value, abs=1e-6), key
        # A query's distance to itself (it is also in the gallery) is sqrt of a rounding
        # residue, which depends on the clip summation order; compare the other pairs.
        last = single.last_result
        other = last.query_tracks[:, None] != last.gallery_tracks[None, :]
        torch.testing.assert_close(saved["distmat"][other], last.distmat[other])


def test_clip_weights_give_the_weighted_mean_of_each_tracklet() -> None:
    """Tracklet 0 has clips of weights 3 and 1: its feature is (3 a + b) / 4, not (a + b) / 2."""
    a, b, c, d = (torch.tensor([x, 0.0]) for x in (0.0, 4.0, 2.0, 10.0))
    features = torch.stack([a, b, c, d])
    labels = {
        "pids": torch.tensor([1, 1, 1, 2]),
        "camids": torch.tensor([0, 0, 1, 1]),
        "tracks": torch.tensor([0, 0, 1, 2]),
        "is_query": torch.tensor([True, True, False, False]),
        "in_gallery": torch.tensor([False, False, True, True]),
    }
    metric = ReIDMetric()
    metric.update(features, **labels, weights=torch.tensor([3.0, 1.0, 1.0, 1.0]))
    metric.compute()
    ranking = metric.last_result
    torch.testing.assert_close(ranking.query_features, torch.tensor([[1.0, 0.0]]))
    unweighted = ReIDMetric()
    unweighted.update(features, **labels)
    unweighted.compute()
    torch.testing.assert_close(unweighted.last_result.query_features, torch.tensor([[2.0, 0.0]]))
    with pytest.raises(ValueError, match="positive"):
        ReIDMetric().update(features, **labels, weights=torch.tensor([1.0, 0.0, 1.0, 1.0]))

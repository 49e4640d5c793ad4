"""evaluate_rank: hand-worked cases, a per-query reference loop, chunking, bad input, MARS."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from stgcn_reid.evaluation import evaluate_rank
from stgcn_reid.evaluation.rank import stable_argsort

# One query (pid 1, camera 1) against six gallery items, listed with their distances:
#   0: pid 1, cam 2, d 0.1  good
#   1: pid 2, cam 2, d 0.2  wrong identity
#   2: pid 1, cam 1, d 0.3  junk (same identity, same camera)
#   3: pid 1, cam 3, d 0.4  good
#   4: pid -1, cam 2, d 0.05  junk (identity -1), nearest of all
#   5: pid 3, cam 1, d 0.5  wrong identity
# Without junk the ranked list is [good, wrong, good, wrong]: hits at positions 1 and 3.
TOY_G_PIDS = np.array([1, 2, 1, 1, -1, 3])
TOY_G_CAMS = np.array([2, 2, 1, 3, 2, 1])
TOY_DIST = np.array([[0.1, 0.2, 0.3, 0.4, 0.05, 0.5]])


def _toy(protocol: str) -> dict:
    return evaluate_rank(
        TOY_DIST,
        np.array([1]),
        TOY_G_PIDS,
        np.array([1]),
        TOY_G_CAMS,
        max_rank=4,
        protocol=protocol,
    )


def test_standard_toy_by_hand() -> None:
    result = _toy("standard")
    # AP = mean precision at the hits = (1/1 + 2/3) / 2; INP = 2 hits / last hit at 3.
    assert result["mAP"] == pytest.approx(5 / 6)
    assert result["mINP"] == pytest.approx(2 / 3)
    np.testing.assert_allclose(result["cmc"], [1, 1, 1, 1])
    assert result["num_valid_queries"] == result["num_queries"] == 1


def test_mars_official_trapezoid_toy_by_hand() -> None:
    result = _toy("mars_official")
    # n_good = 2. Walk without junk, from old_recall = 0, old_precision = 1:
    #   j=1 hit:  recall 1/2, precision 1   -> (1/2 - 0) * (1 + 1) / 2     = 1/2
    #   j=2 miss: recall 1/2, precision 1/2 -> 0
    #   j=3 hit:  recall 1,   precision 2/3 -> (1 - 1/2) * (1/2 + 2/3) / 2 = 7/24
    # AP = 12/24 + 7/24 = 19/24 (the standard AP of the same list is 5/6 = 20/24).
    assert result["mAP"] == pytest.approx(19 / 24)
    assert result["mINP"] == pytest.approx(2 / 3)
    np.testing.assert_allclose(result["cmc"], [1, 1, 1, 1])


def test_two_queries_average_by_hand() -> None:
    # Second query: pid 2, camera 1. Its only good item is gallery 1 (cam 2); only gallery 4
    # is junk for it, so the list is [pid 1, good, ...]: first hit at rank 2.
    # standard: AP 1/2, INP 1/2. official: j=1 miss (precision 0), j=2 hit: recall 0 -> 1,
    # precision 1/2, so AP = (1 - 0) * (0 + 1/2) / 2 = 1/4.
    dist = np.vstack([TOY_DIST, TOY_DIST])
    args = (dist, np.array([1, 2]), TOY_G_PIDS, np.array([1, 1]), TOY_G_CAMS)
    standard = evaluate_rank(*args, max_rank=3)
    official = evaluate_rank(*args, max_rank=3, protocol="mars_official")
    np.testing.assert_allclose(standard["cmc"], [0.5, 1, 1])
    np.testing.assert_allclose(official["cmc"], [0.5, 1, 1])
    assert standard["mAP"] == pytest.approx((5 / 6 + 1 / 2) / 2)
    assert official["mAP"] == pytest.approx((19 / 24 + 1 / 4) / 2)
    assert standard["mINP"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    np.testing.assert_allclose(official["all_AP"], [19 / 24, 1 / 4])


def test_ties_keep_gallery_order() -> None:
    # All distances equal: the ranked list is the gallery order [wrong, good, wrong, good].
    g_pids, g_cams = np.array([2, 1, 3, 1]), np.array([2, 2, 2, 3])
    result = evaluate_rank(
        np.ones((1, 4)), np.array([1]), g_pids, np.array([1]), g_cams, max_rank=4
    )
    np.testing.assert_allclose(result["cmc"], [0, 1, 1, 1])
    assert result["mAP"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    # Reversing the gallery order reverses the tie-break: [good, wrong, good, wrong].
    rev = evaluate_rank(
        np.ones((1, 4)),
        np.array([1]),
        g_pids[::-1].copy(),
        np.array([1]),
        g_cams[::-1].copy(),
        max_rank=4,
    )
    assert rev["mAP"] == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_stable_argsort_equals_stable_sort(dtype: torch.dtype) -> None:
    # Few distinct values (many ties), negatives, both zeros, tiny and huge magnitudes.
    gen = torch.Generator().manual_seed(0)
    pool = torch.tensor([-3.5, -1e-30, -0.0, 0.0, 1e-30, 0.25, 2.0, 6e4, -6e4])
    values = pool[torch.randint(len(pool), (50, 200), generator=gen)].to(dtype)
    expected = torch.from_numpy(np.argsort(values.double().numpy(), axis=1, kind="stable"))
    assert torch.equal(stable_argsort(values), expected)


def test_same_camera_match_is_removed() -> None:
    # The nearest item is the query's identity seen by the query's own camera: not a match,
    # and not counted as a miss either.
    result = evaluate_rank(
        np.array([[0.1, 0.2, 0.3]]),
        np.array([1]),
        np.array([1, 1, 2]),
        np.array([1]),
        np.array([1, 2, 2]),
        max_rank=2,
    )
    np.testing.assert_allclose(result["cmc"], [1, 1])
    assert result["mAP"] == pytest.approx(1.0)


@pytest.mark.parametrize("protocol", ["standard", "mars_official"])
def test_query_without_match_is_left_out_and_counted(protocol: str) -> None:
    dist = np.vstack([TOY_DIST, TOY_DIST, TOY_DIST])
    q_pids, q_cams = np.array([1, 9, 1]), np.array([1, 1, 1])  # pid 9 is not in the gallery
    with pytest.warns(UserWarning, match="1 of 3 queries have no correct match"):
        result = evaluate_rank(
            dist, q_pids, TOY_G_PIDS, q_cams, TOY_G_CAMS, max_rank=4, protocol=protocol
        )
    assert result["num_valid_queries"] == 2
    assert result["num_queries"] == 3
    assert math.isnan(result["all_AP"][1])
    assert result["mAP"] == pytest.approx(_toy(protocol)["mAP"])


def test_no_valid_query_at_all_is_an_error() -> None:
    with pytest.raises(ValueError, match="none of the 1 queries"):
        evaluate_rank(np.ones((1, 2)), [5], [5, 6], [1], [1, 2], max_rank=2)


def reference_standard(dist, q_pids, g_pids, q_cams, g_cams, max_rank):
    """torchreid / Market-1501 definitions, one query at a time."""
    cmcs, aps, inps = [], [], []
    for i in range(dist.shape[0]):
        order = np.argsort(dist[i], kind="stable")
        junk = ((g_pids[order] == q_pids[i]) & (g_cams[order] == q_cams[i])) | (g_pids[order] == -1)
        matches = g_pids[order][~junk] == q_pids[i]
        if not matches.any():
            aps.append(np.nan)
            inps.append(np.nan)
            continue
        hit_pos = np.flatnonzero(matches) + 1  # 1-based ranks of the hits
        cmc = np.zeros(max_rank)
        cmc[hit_pos[0] - 1 :] = 1
        cmcs.append(cmc)
        aps.append(np.mean(np.arange(1, len(hit_pos) + 1) / hit_pos))
        inps.append(len(hit_pos) / hit_pos[-1])
    return np.mean(cmcs, axis=0), np.array(aps), np.array(inps)


def reference_mars_official(dist, q_pids, g_pids, q_cams, g_cams, max_rank):
    """The official kit's evaluation_mars.m + compute_AP.m, as a literal walk."""
    cmcs, aps, inps = [], [], []
    for i in range(dist.shape[0]):
        good = set(np.flatnonzero((g_pids == q_pids[i]) & (g_cams != q_cams[i]) & (g_pids != -1)))
        junk = set(np.flatnonzero(((g_pids == q_pids[i]) & (g_cams == q_cams[i])) | (g_pids == -1)))
        if not good:  # the kit would give AP = NaN and a zero CMC row here
            aps.append(np.nan)
            inps.append(np.nan)
            continue
        ap, old_recall, old_precision, hits, j = 0.0, 0.0, 1.0, 0, 0
        cmc = np.zeros(max_rank)
        for g in np.argsort(dist[i], kind="stable"):
            if g in junk:
                continue
            j += 1
            if g in good:
                hits += 1
                if hits == 1:
                    cmc[j - 1 :] = 1
            recall, precision = hits / len(good), hits / j
            ap += (recall - old_recall) * (old_precision + precision) / 2
            old_recall, old_precision = recall, precision
            if hits == len(good):
                break
        cmcs.append(cmc)
        aps.append(ap)
        inps.append(len(good) / j)
    return np.mean(cmcs, axis=0), np.array(aps), np.array(inps)


def _random_case(seed: int, num_q: int = 40, num_g: int = 150):
    rng = np.random.default_rng(seed)
    q_pids = rng.integers(0, 12, num_q)
    g_pids = rng.integers(-1, 12, num_g)  # includes junk identity -1
    q_cams, g_cams = rng.integers(0, 3, num_q), rng.integers(0, 3, num_g)
    dist = rng.integers(0, 30, (num_q, num_g)).astype(np.float32)  # coarse: many ties
    return dist, q_pids, g_pids, q_cams, g_cams


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("protocol", "reference"),
    [("standard", reference_standard), ("mars_official", reference_mars_official)],
)
def test_matches_per_query_reference(seed: int, protocol: str, reference) -> None:
    dist, q_pids, g_pids, q_cams, g_cams = _random_case(seed)
    cmc, aps, inps = reference(dist, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # some random queries have no match
        result = evaluate_rank(
            torch.from_numpy(dist),
            q_pids,
            g_pids,
            q_cams,
            g_cams,
            max_rank=20,
            protocol=protocol,
            chunk_size=16,
        )
    np.testing.assert_allclose(result["cmc"], cmc, atol=1e-6)
    np.testing.assert_allclose(result["all_AP"], aps, atol=1e-6)  # NaN where no match
    np.testing.assert_allclose(result["all_INP"], inps, atol=1e-6)
    assert result["mAP"] == pytest.approx(np.nanmean(aps), abs=1e-6)
    assert result["mINP"] == pytest.approx(np.nanmean(inps), abs=1e-6)
    assert result["num_valid_queries"] == int(np.sum(~np.isnan(aps)))


@pytest.mark.parametrize("protocol", ["standard", "mars_official"])
def test_chunking_does_not_change_the_result(protocol: str) -> None:
    dist, q_pids, g_pids, q_cams, g_cams = _random_case(7, num_q=37)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        results = [
            evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol, chunk_size=c)
            for c in (1, 5, 1000)
        ]
    for other in results[1:]:
        np.testing.assert_array_equal(other["cmc"], results[0]["cmc"])
        np.testing.assert_array_equal(other["all_AP"], results[0]["all_AP"])
        assert other["mINP"] == results[0]["mINP"]


def test_torch_and_numpy_inputs_agree() -> None:
    dist, q_pids, g_pids, q_cams, g_cams = _random_case(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams)
        b = evaluate_rank(*(torch.from_numpy(x) for x in (dist, q_pids, g_pids, q_cams, g_cams)))
    np.testing.assert_array_equal(a["cmc"], b["cmc"])
    assert a["mAP"] == b["mAP"]
    assert isinstance(a["mAP"], float) and isinstance(a["cmc"], np.ndarray)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    dist, q_pids, g_pids, q_cams, g_cams = _random_case(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cpu = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, protocol="mars_official")
        gpu = evaluate_rank(
            torch.from_numpy(dist).cuda(), q_pids, g_pids, q_cams, g_cams, protocol="mars_official"
        )
    np.testing.assert_allclose(gpu["cmc"], cpu["cmc"])
    assert gpu["mAP"] == pytest.approx(cpu["mAP"], abs=1e-12)


def test_max_rank_larger_than_gallery_is_clipped_with_warning() -> None:
    with pytest.warns(UserWarning, match="exceeds the gallery size 6"):
        result = evaluate_rank(TOY_DIST, [1], TOY_G_PIDS, [1], TOY_G_CAMS, max_rank=50)
    assert result["cmc"].shape == (6,)
    assert result["max_rank"] == 6


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"g_pids": TOY_G_PIDS[:5]}, "g_pids has length 5 but distmat has 6 gallery columns"),
        ({"q_camids": np.array([1, 1])}, "q_camids has length 2 but distmat has 1 query rows"),
        ({"distmat": np.array([[0.1, np.nan, 0, 0, 0, 0]])}, "non-finite"),
        ({"distmat": np.array([[0.1, np.inf, 0, 0, 0, 0]])}, "non-finite"),
        ({"distmat": np.zeros((0, 6))}, "empty"),
        ({"distmat": np.zeros((1, 0)), "g_pids": [], "g_camids": []}, "empty"),
        ({"distmat": np.zeros(6)}, "2-D"),
        ({"q_pids": np.array([1.0])}, "integer labels"),
        ({"protocol": "market"}, "protocol must be one of"),
        ({"max_rank": 0}, "max_rank must be >= 1"),
    ],
)
def test_bad_input_raises_clear_errors(change: dict, message: str) -> None:
    kwargs = {
        "distmat": TOY_DIST,
        "q_pids": np.array([1]),
        "g_pids": TOY_G_PIDS,
        "q_camids": np.array([1]),
        "g_camids": TOY_G_CAMS,
        "max_rank": 4,
    }
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        evaluate_rank(**kwargs)


def _mars_test_labels(mars_info_dir: Path) -> tuple[np.ndarray, ...]:
    tracks = scipy.io.loadmat(mars_info_dir / "tracks_test_info.mat")["track_test_info"]
    query_rows = scipy.io.loadmat(mars_info_dir / "query_IDX.mat")["query_IDX"].ravel() - 1
    pids, cams = tracks[:, 2].astype(np.int64), tracks[:, 3].astype(np.int64)
    return pids, cams, query_rows


def test_mars_splits_count_queries_without_match(mars_info_dir: Path) -> None:
    """torchreid split: 140 of 1,980 queries have no cross-camera match; official: none."""
    pids, cams, query_rows = _mars_test_labels(mars_info_dir)
    is_query = np.zeros(len(pids), dtype=bool)
    is_query[query_rows] = True
    rng = np.random.default_rng(0)

    torchreid_gallery = ~is_query & (pids != -1)
    dist = rng.random((len(query_rows), int(torchreid_gallery.sum())), dtype=np.float32)
    with pytest.warns(UserWarning, match="140 of 1980 queries"):
        result = evaluate_rank(
            dist,
            pids[query_rows],
            pids[torchreid_gallery],
            cams[query_rows],
            cams[torchreid_gallery],
        )
    assert result["num_valid_queries"] == 1840

    official_gallery = np.ones(len(pids), dtype=bool)  # the kit: every test tracklet
    dist = rng.random((len(query_rows), int(official_gallery.sum())), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        result = evaluate_rank(
            dist,
            pids[query_rows],
            pids[official_gallery],
            cams[query_rows],
            cams[official_gallery],
            protocol="mars_official",
        )
    assert result["num_valid_queries"] == 1980

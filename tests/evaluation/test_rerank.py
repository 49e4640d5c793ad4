"""k-reciprocal re-ranking: a case it must fix, a set-based reference, limits and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stgcn_reid.evaluation import compute_distance, evaluate_rank, re_ranking


def _distances(qf: torch.Tensor, gf: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return compute_distance(qf, gf), compute_distance(qf, qf), compute_distance(gf, gf)


def _ring(center: tuple[float, float], count: int, radius: float = 0.05) -> torch.Tensor:
    angle = torch.arange(count) * (2 * torch.pi / count)
    return torch.stack([center[0] + radius * angle.cos(), center[1] + radius * angle.sin()], 1)


def test_reciprocity_fixes_a_hard_negative() -> None:
    """2-D toy, query q = (0, 0) of identity A.

    B: 6 points at (0, 1.2), nearer to q than any A point; C: 6 points at (0, 1.6).
    A: 5 points on the x axis at 1.3 ... 1.7. With k1 = 11 (12 neighbours, self included):
    q's neighbours are q, the 6 B's and the 5 nearest others (A's and C's); every B's
    neighbours are the B's and C's (0.4 apart), not q, so no B is k-reciprocal to q;
    every A's neighbours are the 5 A's, q (1.3-1.7) and B's, so A's are reciprocal. The
    original ranking puts 6 B's first; the Jaccard term must bring an A to rank 1.
    k2 = 1 switches off query expansion, which here would average q with B's.
    """
    qf = torch.zeros(1, 2)
    gf = torch.cat(
        [
            _ring((0, 1.2), 6),
            _ring((0, 1.6), 6),
            torch.tensor([[1.3 + 0.1 * i, 0.0] for i in range(5)]),
        ]
    )
    g_pids = np.array([2] * 6 + [3] * 6 + [1] * 5)
    args = (np.array([1]), g_pids, np.array([0]), np.ones(17, dtype=int))
    before = evaluate_rank(compute_distance(qf, gf), *args, max_rank=5)
    after = evaluate_rank(re_ranking(*_distances(qf, gf), k1=11, k2=1), *args, max_rank=5)
    assert before["cmc"][0] == 0
    assert after["cmc"][0] == 1
    assert after["mAP"] > before["mAP"] + 0.5


def _clustered(seed: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
    """40 identities x 12 samples, Gaussian clusters of different spreads; 4 cameras."""
    gen = torch.Generator().manual_seed(seed)
    centers = torch.randn(40, 1, 16, generator=gen)
    spread = 0.15 + 0.75 * torch.rand(40, 1, 1, generator=gen)
    feats = (centers + spread * torch.randn(40, 12, 16, generator=gen)).reshape(-1, 16)
    pids = np.repeat(np.arange(40), 12)
    cams = np.tile(np.arange(12) % 4, 40)
    is_query = np.tile(np.arange(12) == 0, 40)
    return feats, pids, cams, is_query


def test_default_parameters_raise_map_on_clustered_data() -> None:
    feats, pids, cams, is_query = _clustered(0)
    qf, gf = feats[is_query], feats[~is_query]
    args = (pids[is_query], pids[~is_query], cams[is_query], cams[~is_query])
    before = evaluate_rank(compute_distance(qf, gf), *args)
    reranked = re_ranking(*_distances(qf, gf))
    after = evaluate_rank(reranked, *args)
    assert reranked.shape == (40, 440)
    assert reranked.dtype == torch.float32
    assert torch.isfinite(reranked).all()
    assert after["mAP"] > before["mAP"] + 0.03


def reference_re_ranking(q_g, q_q, g_g, k1, k2, lam):
    """Zhong et al. 2017 eqs. 3-12 with Python sets, one item at a time."""
    dist = np.block([[q_q, q_g], [q_g.T, g_g]]).astype(np.float64)
    num, num_q = len(dist), len(q_q)
    order = [np.argsort(row, kind="stable") for row in dist]

    def near(i, k):  # N(i, k): k nearest others plus i itself
        return set(order[i][: k + 1].tolist())

    def reciprocal(i, k):
        return {j for j in near(i, k) if i in near(j, k)}

    half = round(k1 / 2)
    scale = dist.max(axis=1)
    weights = np.zeros_like(dist)
    for p in range(num):
        r_p = reciprocal(p, k1)
        expanded = set(r_p)
        for q in r_p:
            r_q = reciprocal(q, half)
            if 3 * len(r_p & r_q) >= 2 * len(r_q):
                expanded |= r_q
        for g in expanded:
            weights[p, g] = np.exp(-dist[p, g] / scale[p])
    if k2 > 1:
        weights = np.stack([weights[order[p][:k2]].mean(axis=0) for p in range(num)])
    out = np.zeros_like(q_g, dtype=np.float64)
    for q in range(num_q):
        for g in range(q_g.shape[1]):
            a, b = weights[q], weights[num_q + g]
            jaccard = 1 - np.minimum(a, b).sum() / np.maximum(a, b).sum()
            out[q, g] = scale[q] * ((1 - lam) * jaccard + lam * dist[q, num_q + g] / scale[q])
    return out


@pytest.mark.parametrize(("k1", "k2", "lam"), [(4, 3, 0.3), (6, 1, 0.5), (20, 6, 0.3)])
def test_matches_set_based_reference(k1: int, k2: int, lam: float) -> None:
    gen = torch.Generator().manual_seed(k1)
    qf, gf = torch.randn(6, 8, generator=gen), torch.randn(25, 8, generator=gen)
    q_g, q_q, g_g = _distances(qf, gf)
    expected = reference_re_ranking(q_g.numpy(), q_q.numpy(), g_g.numpy(), k1, k2, lam)
    got = re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lam)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


def release_reference(q_g, q_q, g_g, k1, k2, lam):
    """The authors' released procedure, one item at a time in float64: squared distances, each
    column divided by its maximum, then transposed; each V_p summing to 1; a half set joins on
    strictly more than 2/3 of it inside; eq. 12 on the normalised squared distances."""
    pool = np.block([[q_q, q_g], [q_g.T, g_g]]).astype(np.float64) ** 2
    dist = (pool / pool.max(axis=0)).T
    num, num_q = len(dist), len(q_q)
    order = [np.argsort(row, kind="stable") for row in dist]

    def reciprocal(i, k):
        return {int(j) for j in order[i][: k + 1] if i in order[j][: k + 1]}

    half = int(np.around(k1 / 2))
    weights = np.zeros_like(dist)
    for p in range(num):
        r_p = reciprocal(p, k1)
        expanded = set(r_p)
        for q in r_p:
            r_q = reciprocal(q, half)
            if len(r_q & r_p) > 2 / 3 * len(r_q):
                expanded |= r_q
        members = sorted(expanded)
        kernel = np.exp(-dist[p, members])
        weights[p, members] = kernel / kernel.sum()
    if k2 > 1:
        weights = np.stack([weights[order[p][:k2]].mean(axis=0) for p in range(num)])
    out = np.zeros(q_g.shape)
    for q in range(num_q):
        for g in range(q_g.shape[1]):
            shared = np.minimum(weights[q], weights[num_q + g]).sum()
            # Every V sums to 1, so sum max = 2 - sum min.
            out[q, g] = (1 - lam) * (1 - shared / (2 - shared)) + lam * dist[q, num_q + g]
    return out


@pytest.mark.parametrize(("k1", "k2", "lam"), [(4, 3, 0.3), (6, 1, 0.5), (20, 6, 0.3), (7, 2, 1)])
def test_release_mode_matches_the_released_procedure(k1: int, k2: int, lam: float) -> None:
    gen = torch.Generator().manual_seed(100 + k1)
    qf, gf = torch.randn(7, 8, generator=gen), torch.randn(30, 8, generator=gen)
    q_g, q_q, g_g = _distances(qf, gf)
    expected = release_reference(q_g.numpy(), q_q.numpy(), g_g.numpy(), k1, k2, lam)
    got = re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lam, mode="release")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    paper = re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lam)
    assert not np.allclose(paper.numpy(), expected, rtol=1e-3)  # the two modes differ


def test_lambda_one_returns_original_distances() -> None:
    feats, *_ = _clustered(1)
    qf, gf = feats[:10], feats[10:60]
    q_g, q_q, g_g = _distances(qf, gf)
    assert torch.equal(re_ranking(q_g, q_q, g_g, lambda_value=1.0), q_g)


def test_numpy_inputs_accepted() -> None:
    feats, *_ = _clustered(2)
    q_g, q_q, g_g = (m.double().numpy() for m in _distances(feats[:5], feats[5:40]))
    out = re_ranking(q_g, q_q, g_g, k1=5, k2=2)
    assert isinstance(out, torch.Tensor)
    assert out.shape == (5, 35)


def test_refuses_pools_above_max_items() -> None:
    feats, *_ = _clustered(3)
    with pytest.raises(MemoryError, match="exceeds max_items=50"):
        re_ranking(*_distances(feats[:10], feats[10:60]), max_items=50)


@pytest.mark.parametrize(
    ("shapes", "kwargs", "message"),
    [
        (((2, 3), (2, 2), (4, 4)), {}, "expected q_q \\[2, 2\\] and g_g \\[3, 3\\]"),
        (((2, 3), (2, 2), (3, 3)), {"k1": 0}, "k1 and k2 must be >= 1"),
        (((2, 3), (2, 2), (3, 3)), {"lambda_value": 1.5}, "lambda_value must be in"),
        (((0, 3), (0, 0), (3, 3)), {}, "q_g must be a non-empty 2-D matrix"),
        (((2, 3), (2, 2), (3, 3)), {"mode": "torchreid"}, "mode must be one of"),
    ],
)
def test_bad_input(shapes: tuple, kwargs: dict, message: str) -> None:
    q_g, q_q, g_g = (torch.rand(*s) for s in shapes)
    with pytest.raises(ValueError, match=message):
        re_ranking(q_g, q_q, g_g, **kwargs)


def test_non_finite_distances_rejected() -> None:
    q_g = torch.tensor([[0.0, float("inf")]])
    with pytest.raises(ValueError, match="q_g has NaN or inf"):
        re_ranking(q_g, torch.zeros(1, 1), torch.zeros(2, 2))

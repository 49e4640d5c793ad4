"""compute_distance: agreement with the definitions, numerical safety, dtypes, bad input."""

from __future__ import annotations

import pytest
import torch

from stgcn_reid.evaluation import compute_distance


def _features(seed: int, rows: int, dim: int = 16, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed))


def test_euclidean_matches_pairwise_norm() -> None:
    qf, gf = _features(0, 5), _features(1, 7)
    expected = (qf[:, None, :] - gf[None, :, :]).norm(dim=2)
    torch.testing.assert_close(compute_distance(qf, gf), expected, rtol=1e-5, atol=1e-5)


def test_euclidean_of_identical_large_vectors_is_small_and_never_nan() -> None:
    # |q|^2 + |g|^2 - 2 q.g cancels catastrophically for equal large vectors and can round
    # below zero; the result must still be a finite, non-negative (near-zero) distance.
    qf = _features(2, 64, dim=512, scale=1e3)
    dist = compute_distance(qf, qf.clone())
    assert torch.isfinite(dist).all()
    assert (dist >= 0).all()
    off_diagonal = dist + torch.eye(64) * 1e9
    assert dist.diagonal().max() < 1e-2 * off_diagonal.min()


def test_cosine_matches_definition_and_ignores_scale() -> None:
    qf, gf = _features(3, 4), _features(4, 6)
    expected = 1 - torch.nn.functional.cosine_similarity(qf[:, None], gf[None], dim=2)
    dist = compute_distance(qf, gf, metric="cosine")
    torch.testing.assert_close(dist, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(compute_distance(3 * qf, 0.5 * gf, metric="cosine"), dist)
    assert dist.min() >= 0 and dist.max() <= 2


def test_normalized_euclidean_relates_to_cosine() -> None:
    # For unit vectors |a - b|^2 = 2 - 2 cos(a, b).
    qf, gf = _features(5, 4), _features(6, 5)
    euclid = compute_distance(qf, gf, normalize=True)
    cosine = compute_distance(qf, gf, metric="cosine")
    torch.testing.assert_close(euclid**2, 2 * cosine, rtol=1e-4, atol=1e-5)


def test_dtypes() -> None:
    qf = _features(7, 3)
    assert compute_distance(qf.half(), qf.half()).dtype == torch.float32
    assert compute_distance(qf.double(), qf.double()).dtype == torch.float64


@pytest.mark.parametrize(
    ("qf", "gf", "kwargs", "message"),
    [
        (torch.zeros(2, 3), torch.zeros(2, 4), {}, "different feature sizes: 3 vs 4"),
        (torch.zeros(3), torch.zeros(2, 3), {}, "qf must be 2-D"),
        (torch.zeros(2, 3), torch.zeros(0, 3), {}, "gf is empty"),
        (torch.tensor([[0.0, float("nan")]]), torch.zeros(1, 2), {}, "qf has NaN or inf"),
        (torch.zeros(1, 2), torch.zeros(1, 2), {"metric": "manhattan"}, "metric must be one of"),
    ],
)
def test_bad_input(qf: torch.Tensor, gf: torch.Tensor, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_distance(qf, gf, **kwargs)

"""The patch-graph adjacency of paper eq. 2-4."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from stgcn_reid.models.graph import (
    PatchGraph,
    normalized_adjacency,
    pairwise_affinity,
    row_normalize_squared,
)


def reference_adjacency(x: Tensor, w: Tensor) -> Tensor:
    """Eq. 2-4 element by element, in float64, for one graph ``x`` [N, d]."""
    n = x.shape[0]
    z = [w @ x[i] for i in range(n)]
    e = [[float(z[i] @ z[j]) for j in range(n)] for i in range(n)]
    a = [[e[i][j] ** 2 / sum(v**2 for v in e[i]) for j in range(n)] for i in range(n)]
    a_tilde = [[a[i][j] + (1.0 if i == j else 0.0) for j in range(n)] for i in range(n)]
    degree = [sum(row) for row in a_tilde]
    return torch.tensor(
        [[a_tilde[i][j] / math.sqrt(degree[i] * degree[j]) for j in range(n)] for i in range(n)],
        dtype=torch.float64,
    )


def test_matches_elementwise_reference() -> None:
    torch.manual_seed(0)
    graph = PatchGraph(6).double()
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    got = graph(x)
    assert got.shape == (2, 5, 5) and got.dtype == torch.float64
    for b in range(2):
        expected = reference_adjacency(x[b], graph.phi.weight.detach())
        torch.testing.assert_close(got[b].detach(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scale", [1e-17, 1.0, 1e15])
def test_float32_is_exact_over_a_wide_range_of_feature_scales(scale: float) -> None:
    # Â does not depend on the scale of x; naive float32 e^2 would underflow / overflow here.
    torch.manual_seed(1)
    phi = nn.Linear(8, 8, bias=False)
    x = torch.randn(1, 6, 8)
    got = normalized_adjacency(x * scale, phi).detach()
    assert torch.isfinite(got).all()
    expected = reference_adjacency(x[0].double(), phi.weight.detach().double())
    torch.testing.assert_close(got[0].double(), expected, rtol=1e-4, atol=1e-5)


def test_affinity_is_symmetric_and_rows_of_a_sum_to_one() -> None:
    torch.manual_seed(2)
    z = torch.randn(3, 7, 5, dtype=torch.float64)
    e = pairwise_affinity(z)
    torch.testing.assert_close(e, e.transpose(1, 2))
    a = row_normalize_squared(e)
    assert (a >= 0).all()
    torch.testing.assert_close(a.sum(-1), torch.ones(3, 7, dtype=torch.float64))
    # Row normalisation of the symmetric e^2 makes diag(s) A symmetric (s = rows sums of e^2),
    # not A itself.
    s = e.square().sum(-1, keepdim=True)
    torch.testing.assert_close(s * a, (s * a).transpose(1, 2))
    assert not torch.allclose(a, a.transpose(1, 2))


def test_adjacency_is_row_stochastic_and_symmetric_exactly_where_a_is() -> None:
    torch.manual_seed(3)
    phi = nn.Linear(5, 5, bias=False).double()
    x = torch.randn(2, 6, 5, dtype=torch.float64)
    a_hat = normalized_adjacency(x, phi).detach()
    a = row_normalize_squared(pairwise_affinity(phi(x))).detach()
    assert (a_hat >= 0).all()
    # Every degree of A + I is 2, so eq. 4 reduces to (A + I) / 2: rows sum to 1.
    torch.testing.assert_close(a_hat, (a + torch.eye(6, dtype=torch.float64)) / 2)
    torch.testing.assert_close(a_hat.sum(-1), torch.ones(2, 6, dtype=torch.float64))
    assert not torch.allclose(a_hat, a_hat.transpose(1, 2))
    # Identical nodes give a symmetric A (all 1/N), hence a symmetric Â.
    same = normalized_adjacency(x[:, :1].expand(2, 6, 5), phi).detach()
    torch.testing.assert_close(same, same.transpose(1, 2))


def test_zero_features_give_identity_and_finite_gradients() -> None:
    phi = nn.Linear(4, 4, bias=False)
    x = torch.randn(1, 5, 4)
    x[0, 2] = 0.0  # one empty node
    x_zero = torch.zeros(1, 5, 4, requires_grad=True)
    assert torch.equal(normalized_adjacency(x_zero, phi).detach(), torch.eye(5)[None])
    a_hat = normalized_adjacency(x, phi)
    # The empty node relates to nothing: its row and column are those of the identity.
    assert torch.equal(a_hat[0, 2].detach(), torch.eye(5)[2])
    assert torch.equal(a_hat[0, :, 2].detach(), torch.eye(5)[2])
    (a_hat.sum() + normalized_adjacency(x_zero, phi).square().sum()).backward()
    assert torch.isfinite(phi.weight.grad).all() and torch.isfinite(x_zero.grad).all()


def test_gradient_reaches_phi() -> None:
    torch.manual_seed(4)
    graph = PatchGraph(4)
    x = torch.randn(2, 5, 4)
    (graph(x) @ x).square().sum().backward()
    assert graph.phi.weight.grad is not None and graph.phi.weight.grad.abs().sum() > 0


def test_half_precision_input_does_not_overflow() -> None:
    # e ~ 256 * 40^2 = 4e5 > float16 max 65504: a float16 e or e^2 would be inf.
    torch.manual_seed(5)
    phi = nn.Linear(256, 256, bias=False)
    nn.init.eye_(phi.weight)
    x = 40 * torch.rand(1, 8, 256) + 20
    got = normalized_adjacency(x.half(), phi.half())
    assert got.dtype == torch.float16 and torch.isfinite(got).all()
    expected = reference_adjacency(x[0].half().double(), torch.eye(256, dtype=torch.float64))
    torch.testing.assert_close(got[0].double(), expected, rtol=0, atol=2e-3)


def test_bfloat16_autocast_gives_finite_output_in_input_dtype() -> None:
    torch.manual_seed(6)
    graph = PatchGraph(64)
    x = 50 * torch.rand(2, 8, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = graph(x)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    torch.testing.assert_close(got.sum(-1), torch.ones(2, 8), rtol=0, atol=1e-5)

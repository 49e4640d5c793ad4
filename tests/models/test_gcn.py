"""Graph-convolution layers and the temporal / structural GCN branches (paper §3.3-3.4)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from stgcn_reid.models.gcn import (
    GraphConvStack,
    StructuralGCN,
    TemporalGCN,
    horizontal_patches,
)
from stgcn_reid.models.graph import PatchGraph, normalized_adjacency


def manual_stack(stack: GraphConvStack, x: Tensor, a_hat: Tensor | None) -> Tensor:
    """Eq. 5-6 written out: X^m = LeakyReLU(LN(Â X^{m-1} W^m)) (+ X^{m-1} for m >= 2)."""
    for m, layer in enumerate(stack.layers, start=1):
        h = x @ layer.weight.weight.T
        if a_hat is not None:
            h = a_hat @ h
        h = F.leaky_relu(
            F.layer_norm(h, h.shape[-1:], layer.norm.weight, layer.norm.bias), negative_slope=0.1
        )
        x = h + x if m >= 2 else h
    return x


def stripes(fmaps: Tensor, p: int) -> Tensor:
    """[B, T, C, h, w] -> [B, T, P, C] by slicing rows, independently of the pooling op."""
    step = fmaps.shape[-2] // p
    return torch.stack(
        [fmaps[..., i * step : (i + 1) * step, :].mean(dim=(-2, -1)) for i in range(p)], dim=2
    )


def test_horizontal_patches_are_stripe_means_top_first() -> None:
    fmaps = torch.randn(2, 3, 5, 8, 4)
    torch.testing.assert_close(horizontal_patches(fmaps, 4), stripes(fmaps, 4))
    torch.testing.assert_close(horizontal_patches(fmaps, 8), stripes(fmaps, 8))


def test_horizontal_patches_reject_unequal_stripes_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="3 patches do not divide the feature-map height 8"):
        horizontal_patches(torch.randn(1, 2, 4, 8, 4), 3)
    with pytest.raises(ValueError, match=r"\[B, T, C, h, w\]"):
        horizontal_patches(torch.randn(2, 4, 8, 4), 2)


@pytest.mark.parametrize(("in_dim", "out_dim", "layers"), [(6, 6, 3), (6, 4, 2), (5, 3, 1)])
def test_stack_is_eq5_with_shortcut_from_the_second_layer(
    in_dim: int, out_dim: int, layers: int
) -> None:
    torch.manual_seed(0)
    stack = GraphConvStack(in_dim, out_dim, layers)
    x = torch.randn(2, 7, in_dim)
    a_hat = normalized_adjacency(x, PatchGraph(in_dim).phi).detach()
    torch.testing.assert_close(stack(x, a_hat), manual_stack(stack, x, a_hat))
    torch.testing.assert_close(stack(x, None), manual_stack(stack, x, None))


def test_temporal_gcn_builds_one_graph_from_x0_for_all_layers() -> None:
    torch.manual_seed(1)
    tgcn = TemporalGCN(in_dim=6, layers=3, patches=2)
    fmaps = torch.randn(2, 3, 6, 4, 2)
    nodes = stripes(fmaps, 2).flatten(1, 2)  # all T * P patches of the clip, [B, 6, C]
    a_hat = normalized_adjacency(nodes, tgcn.graph.phi)
    expected = manual_stack(tgcn.gcn, nodes, a_hat).amax(dim=1)
    torch.testing.assert_close(tgcn(fmaps), expected)


def test_structural_gcn_builds_one_graph_per_frame() -> None:
    torch.manual_seed(2)
    sgcn = StructuralGCN(in_dim=6, layers=2, patches=4, out_dim=3)
    fmaps = torch.randn(2, 3, 6, 4, 2)
    nodes = stripes(fmaps, 4)  # [B, T, P, C]
    per_frame = [
        manual_stack(sgcn.gcn, nodes[:, t], normalized_adjacency(nodes[:, t], sgcn.graph.phi)).amax(
            dim=1
        )
        for t in range(3)
    ]
    torch.testing.assert_close(sgcn(fmaps), torch.cat(per_frame, dim=1))


@pytest.mark.parametrize("branch", ["temporal", "structural"])
def test_fcn_equals_gcn_with_identity_adjacency(
    branch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(3)
    cls = TemporalGCN if branch == "temporal" else StructuralGCN
    gcn, fcn = cls(8, 2, 2, graph=True), cls(8, 2, 2, graph=False)
    assert fcn.graph is None
    fcn.gcn.load_state_dict(gcn.gcn.state_dict())
    fmaps = torch.randn(2, 3, 8, 4, 2)
    assert not torch.allclose(gcn(fmaps), fcn(fmaps))

    def identity(self: PatchGraph, x: Tensor) -> Tensor:
        return torch.eye(x.shape[1]).expand(x.shape[0], -1, -1)

    monkeypatch.setattr(PatchGraph, "forward", identity)
    torch.testing.assert_close(gcn(fmaps), fcn(fmaps))


def test_stack_is_permutation_equivariant() -> None:
    torch.manual_seed(4)
    graph, stack = PatchGraph(6), GraphConvStack(6, 6, 3)
    x = torch.randn(2, 9, 6)
    perm = torch.randperm(9)
    out = stack(x, graph(x))
    out_perm = stack(x[:, perm], graph(x[:, perm]))
    torch.testing.assert_close(out_perm, out[:, perm])
    torch.testing.assert_close(out_perm.amax(1), out.amax(1))


def test_temporal_feature_ignores_frame_order_structural_follows_it() -> None:
    torch.manual_seed(5)
    tgcn, sgcn = TemporalGCN(6, 3, 2), StructuralGCN(6, 2, 2, out_dim=4)
    fmaps = torch.randn(2, 3, 6, 4, 2)
    order = torch.tensor([2, 0, 1])
    torch.testing.assert_close(tgcn(fmaps[:, order]), tgcn(fmaps))
    f_s, f_s_perm = sgcn(fmaps).reshape(2, 3, 4), sgcn(fmaps[:, order]).reshape(2, 3, 4)
    torch.testing.assert_close(f_s_perm, f_s[:, order])
    # Swapping the two stripes of every frame permutes the nodes of each frame graph.
    swapped = torch.cat([fmaps[..., 2:, :], fmaps[..., :2, :]], dim=-2)
    torch.testing.assert_close(sgcn(swapped), sgcn(fmaps))
    torch.testing.assert_close(tgcn(swapped), tgcn(fmaps))


def test_branch_output_shapes() -> None:
    fmaps = torch.randn(2, 5, 16, 8, 4)
    assert TemporalGCN(16, 3, 4)(fmaps).shape == (2, 16)
    assert StructuralGCN(16, 2, 4, out_dim=8)(fmaps).shape == (2, 5 * 8)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TemporalGCN(8, 0, 4), "at least 1 layer, got 0"),
        (lambda: TemporalGCN(8, 3, -1), "patches must be a positive integer, got -1"),
        (lambda: StructuralGCN(8, 2, 0), "patches must be a positive integer, got 0"),
        (lambda: StructuralGCN(8, 2, 4, out_dim=0), "out_dim must be a positive integer"),
    ],
)
def test_bad_sizes_raise(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]

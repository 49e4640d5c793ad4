"""The two graph-convolution branches of STGCN: temporal (paper §3.3) and structural (§3.4).

Both branches cut every frame's feature map into horizontal patches, build a patch graph
(:mod:`stgcn_reid.models.graph`) and run a stack of graph convolutions on it. With
``graph=False`` the adjacency product is skipped (``Y = XW``): the "FCN" variants of Table 4.
"""

from __future__ import annotations

from itertools import pairwise

import torch.nn.functional as F
from torch import Tensor, nn

from stgcn_reid.models.graph import PatchGraph


def horizontal_patches(fmaps: Tensor, num_patches: int) -> Tensor:
    """Average-pool each feature map over ``num_patches`` horizontal stripes (paper §3.1).

    Args:
        fmaps: ``[B, T, C, h, w]`` per-frame feature maps.
        num_patches: number of stripes ``P``; must divide ``h`` so the stripes are equal.

    Returns:
        ``[B, T, P, C]`` patch features, top stripe first.
    """
    if fmaps.dim() != 5:
        raise ValueError(f"expected feature maps [B, T, C, h, w], got shape {tuple(fmaps.shape)}")
    batch, frames, channels, height, width = fmaps.shape
    if height % num_patches:
        raise ValueError(
            f"{num_patches} patches do not divide the feature-map height {height}: "
            "the horizontal stripes would be unequal"
        )
    # Once the stripes are equal, adaptive pooling to (P, 1) is exactly the per-stripe mean.
    pooled = F.adaptive_avg_pool2d(
        fmaps.reshape(batch * frames, channels, height, width), (num_patches, 1)
    )
    return pooled.reshape(batch, frames, channels, num_patches).transpose(-1, -2)


class GraphConvLayer(nn.Module):
    """One layer ``X' = LeakyReLU_0.1(LayerNorm(Â X W))`` (eq. 5 / eq. 7 and the text after it).

    ``W`` has no bias: the LayerNorm that follows has its own. Computing ``Â (X W)`` instead of
    ``(Â X) W`` gives the same result with fewer operations when the layer narrows (C -> 256).
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Linear(in_dim, out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x: Tensor, adjacency: Tensor | None) -> Tensor:
        """``[B, N, in_dim]`` -> ``[B, N, out_dim]``; ``adjacency=None`` means ``Y = XW``."""
        h = self.weight(x)
        if adjacency is not None:
            h = adjacency @ h
        return self.act(self.norm(h))


class GraphConvStack(nn.Module):
    """``num_layers`` graph convolutions; shortcut ``X^m := X^m + X^{m-1}`` for m >= 2 (eq. 6).

    The first layer maps ``in_dim -> out_dim``, the others ``out_dim -> out_dim``, so every
    shortcut adds tensors of equal width.
    """

    def __init__(self, in_dim: int, out_dim: int, num_layers: int) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"a graph convolution stack needs at least 1 layer, got {num_layers}")
        dims = [in_dim] + [out_dim] * num_layers
        self.layers = nn.ModuleList(GraphConvLayer(a, b) for a, b in pairwise(dims))

    def forward(self, x: Tensor, adjacency: Tensor | None) -> Tensor:
        """Apply every layer with the same ``adjacency`` (``None``: fully connected variant)."""
        x = self.layers[0](x, adjacency)
        for layer in self.layers[1:]:
            x = layer(x, adjacency) + x
        return x


class TemporalGCN(nn.Module):
    """Temporal GCN (paper §3.3, Fig. 3): one graph over all ``N = T * P_t`` patches of a clip.

    ``Â^t`` is built once from the initial patch features ``X^0`` (eq. 2-4) and shared by the
    ``M`` layers of width ``d_m = C`` (eq. 5-6); max pooling over the nodes gives ``f_t``.

    Args:
        in_dim: channels ``C`` of the backbone feature maps (2048 for ResNet-50).
        layers: ``M`` (paper: 3).
        patches: ``P_t``, horizontal patches per frame (paper: 4).
        graph: ``False`` skips the adjacency (TFCN of Table 4) and owns no ``phi``.
    """

    def __init__(self, in_dim: int, layers: int, patches: int, graph: bool = True) -> None:
        super().__init__()
        _require_positive(patches, "patches")
        self.patches = patches
        self.graph = PatchGraph(in_dim) if graph else None
        self.gcn = GraphConvStack(in_dim, in_dim, layers)
        self.out_dim = in_dim

    def forward(self, fmaps: Tensor) -> Tensor:
        """``[B, T, C, h, w]`` feature maps -> ``f_t`` ``[B, C]``."""
        nodes = horizontal_patches(fmaps, self.patches).flatten(1, 2)  # [B, T*P, C]
        adjacency = self.graph(nodes) if self.graph is not None else None
        return self.gcn(nodes, adjacency).amax(dim=1)


class StructuralGCN(nn.Module):
    """Structural GCN (paper §3.4, Fig. 4): one graph per frame over its ``P_s`` patches.

    Each frame's graph runs ``K`` layers (eq. 7) narrowing to ``out_dim`` (paper: 256), is
    max-pooled over its patches, and the ``T`` frame features are concatenated into ``f_s``.

    Choices where the paper is silent: the layers are the same block as in the temporal GCN
    (LayerNorm, LeakyReLU(0.1), shortcut for k >= 2 where the widths match), and ``phi`` and
    ``W^k_i`` are shared by all frames (one set of weights applied to every frame's graph), so
    the parameter count does not grow with ``T``.

    Args:
        in_dim: channels ``C`` of the backbone feature maps.
        layers: ``K`` (paper: 2).
        patches: ``P_s`` (paper: 4).
        out_dim: per-frame feature width (paper: 256).
        graph: ``False`` skips the adjacency (SFCN of Table 4) and owns no ``phi``.
    """

    def __init__(
        self, in_dim: int, layers: int, patches: int, out_dim: int = 256, graph: bool = True
    ) -> None:
        super().__init__()
        _require_positive(patches, "patches")
        _require_positive(out_dim, "out_dim")
        self.patches = patches
        self.graph = PatchGraph(in_dim) if graph else None
        self.gcn = GraphConvStack(in_dim, out_dim, layers)
        self.frame_dim = out_dim

    def forward(self, fmaps: Tensor) -> Tensor:
        """``[B, T, C, h, w]`` feature maps -> ``f_s`` ``[B, T * out_dim]``."""
        batch = fmaps.shape[0]
        nodes = horizontal_patches(fmaps, self.patches).flatten(0, 1)  # [B*T, P, C]
        adjacency = self.graph(nodes) if self.graph is not None else None
        per_frame = self.gcn(nodes, adjacency).amax(dim=1)  # [B*T, out_dim]
        return per_frame.reshape(batch, -1)


def _require_positive(value: int, name: str) -> None:
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")

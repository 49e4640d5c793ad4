"""The learned temporal adjacency Â of a clip as a heatmap over its (frame, patch) nodes.

The temporal graph of STGCN (paper §3.3, eq. 2-4) links every horizontal patch of every frame
of a clip; node ``t * P_t + p`` is patch ``p`` (top first) of frame ``t``. The heatmap shows
row ``i`` of Â as how much node ``i`` draws from each node in one graph convolution, with the
frames as thumbnails along both axes so that occluded frames can be told apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor, nn

OCCLUDED_COLOUR = "#d62728"


def temporal_adjacency(net: nn.Module, clip: Tensor) -> Tensor:
    """Â of the temporal graph (eq. 4) for one clip ``[T, 3, H, W]``, as ``[T*P_t, T*P_t]``.

    Read with a forward hook on ``net.temporal_gcn.graph`` (the :class:`PatchGraph` returns
    Â), so the matrix is exactly the one the model multiplies with, not a re-computation.
    """
    temporal = getattr(net, "temporal_gcn", None)
    graph = getattr(temporal, "graph", None)
    if graph is None:
        raise ValueError(
            "the model has no temporal graph: model.branches must include 'temporal' and "
            "model.temporal.graph must be true"
        )
    if clip.dim() != 4 or clip.shape[1] != 3:
        raise ValueError(f"clip must be [T, 3, H, W] frames, got shape {tuple(clip.shape)}")
    captured: list[Tensor] = []
    handle = graph.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
    try:
        net.eval()
        device = next(net.parameters()).device
        with torch.no_grad():
            net(clip.unsqueeze(0).to(device))
    finally:
        handle.remove()
    return captured[0][0].float().cpu()


def occluded_node_weights(
    adjacency: Tensor | np.ndarray, occluded: Sequence[bool]
) -> tuple[float, float]:
    """How a node of an occluded frame weighs the other nodes in Â, on average per node:
    ``(one node of a visible frame, one other node of an occluded frame)``, self-loops left out.

    The temporal graph is meant to let hidden patches draw from the frames where the body part
    is visible (paper §3.2), which makes the first number the larger; a graph that has learned
    nothing weighs both alike.
    """
    matrix = torch.as_tensor(adjacency, dtype=torch.float64)
    frames = torch.tensor(list(occluded), dtype=torch.bool)
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] % len(frames):
        raise ValueError(
            f"adjacency must be square with nodes a multiple of the {len(frames)} frames, "
            f"got shape {tuple(matrix.shape)}"
        )
    if frames.all() or not frames.any():
        raise ValueError("occluded must mark some frames occluded and some visible")
    hidden = frames.repeat_interleave(matrix.shape[0] // len(frames))
    rows = matrix[hidden]
    among = rows[:, hidden].clone()  # its diagonal holds the self-loops
    among.fill_diagonal_(float("nan"))
    return float(rows[:, ~hidden].mean()), float(among.nanmean())


def plot_adjacency(
    adjacency: Tensor | np.ndarray,
    frames: Sequence[np.ndarray] | np.ndarray,
    path: str | Path,
    occluded: Sequence[bool] | None = None,
    title: str = "temporal graph Â",
    size: tuple[int, int] = (900, 800),
    dpi: int = 100,
) -> Path:
    """Save Â ``[T*P, T*P]`` as a heatmap with the ``T`` frames along the top and left axes.

    Args:
        adjacency: the matrix, nodes ordered frame by frame, patches top first.
        frames: the ``T`` uint8 ``[H, W, 3]`` frames of the clip; ``P = N / T``.
        occluded: per frame, whether it is occluded: its thumbnails get a red frame and its
            tick labels are red.
        size: (width, height) of the PNG in pixels.
    """
    matrix = np.asarray(torch.as_tensor(adjacency).detach().cpu(), dtype=np.float64)
    frames = [np.asarray(f) for f in frames]
    count = len(frames)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"adjacency must be a square matrix, got shape {matrix.shape}")
    if count == 0 or matrix.shape[0] % count:
        raise ValueError(
            f"adjacency has {matrix.shape[0]} nodes, not a multiple of the {count} frames"
        )
    marks = list(occluded) if occluded is not None else [False] * count
    if len(marks) != count:
        raise ValueError(f"occluded has {len(marks)} flags for {count} frames")
    patches = matrix.shape[0] // count
    nodes = matrix.shape[0]

    # Thumbnail strips about as deep as a frame that spans its P nodes keeps frames undistorted
    # (the heatmap is 8 x 8 units); clamped so that long clips still show something.
    aspect = frames[0].shape[0] / frames[0].shape[1]
    figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    grid = figure.add_gridspec(
        2,
        3,
        width_ratios=[float(np.clip(8 / aspect / count, 0.4, 3)), 8, 0.35],
        height_ratios=[float(np.clip(8 * aspect / count, 0.8, 4)), 8],
        wspace=0.04,
        hspace=0.04,
    )
    heat = figure.add_subplot(grid[1, 1])
    top = figure.add_subplot(grid[0, 1], sharex=heat)
    left = figure.add_subplot(grid[1, 0], sharey=heat)
    image = heat.imshow(matrix, cmap="viridis", interpolation="nearest", aspect="auto")
    figure.colorbar(image, cax=figure.add_subplot(grid[1, 2]), label="Â weight")
    for boundary in np.arange(patches, nodes, patches) - 0.5:
        heat.axhline(boundary, color="w", linewidth=0.6)
        heat.axvline(boundary, color="w", linewidth=0.6)
    centres = np.arange(count) * patches + (patches - 1) / 2
    heat.set_xticks(centres, [f"t{t}" for t in range(count)], fontsize=8)
    heat.set_yticks([])
    heat.set_xlabel(f"node j (frame t, {patches} patches each, top first)")
    for label, flag in zip(heat.get_xticklabels(), marks, strict=True):
        label.set_color(OCCLUDED_COLOUR if flag else "k")

    for t, (frame, flag) in enumerate(zip(frames, marks, strict=True)):
        span = (t * patches - 0.5, (t + 1) * patches - 0.5)
        top.imshow(frame, extent=(span[0], span[1], 0, 1), aspect="auto")
        left.imshow(frame, extent=(0, 1, span[1], span[0]), aspect="auto")
        if flag:
            for axes, xy, w, h in (
                (top, (span[0], 0), patches, 1),
                (left, (0, span[0]), 1, patches),
            ):
                axes.add_patch(
                    Rectangle(xy, w, h, fill=False, edgecolor=OCCLUDED_COLOUR, linewidth=2.5)
                )
    # imshow sets the limits of the shared axes to the last thumbnail: restore the full range.
    heat.set_xlim(-0.5, nodes - 0.5)
    heat.set_ylim(nodes - 0.5, -0.5)
    top.set_ylim(0, 1)
    left.set_xlim(0, 1)
    left.set_ylabel("node i (row of Â)")
    for axes in (top, left):
        axes.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)
    top.set_title(title + (" (red: occluded frames)" if any(marks) else ""), fontsize=10)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")
    return out

"""Grad-CAM class activation maps over the frames of a clip (Figure 5 of the STGCN paper).

Grad-CAM (Selvaraju et al., ICCV 2017) weights the channels of a convolutional layer by the
spatial mean of the gradient of a target score and keeps the positive part of the weighted
sum. We use ``pytorch_grad_cam``. That library treats a 5-D input as a volume
``[B, C, D, H, W]``, whereas STGCN takes clips ``[B, T, 3, H, W]``; so the network is wrapped
as an image model over the ``T`` frames of one clip (``[T, 3, H, W] -> [1, D]``): its backbone
sees exactly those ``T`` frames and the library returns one map per frame, at the frame size.

The target score is the clip's test-time embedding ``f_all`` projected on a reference
direction, by default the tracklet's own feature: which pixels make this clip look like this
person. An identity logit would not do for re-id test identities, which the classifier never
saw; the cosine similarity to the clip's own embedding would not either (zero gradient there).

Method. Plain Grad-CAM fails on STGCN: the graph branches normalise their patch features
(eq. 3 and LayerNorm), so the score hardly changes when a whole feature map is scaled, the
spatially averaged gradients of the channels cancel, and the weighted sum came out negative at
every pixel of every frame (measured on a trained smoke model: an all-zero map after the ReLU).
The default is therefore HiResCAM (Draelos & Carin, 2020): the gradient multiplies the
activation pixel by pixel before the channel sum, instead of being averaged first. For the
baseline, whose only branch averages the feature map, the gradient is spatially uniform and
HiResCAM equals Grad-CAM exactly; ``method="gradcam"`` gives the original.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from pytorch_grad_cam import GradCAM, HiResCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from torch import Tensor, nn

OCCLUDED_COLOUR = "#d62728"
CAM_METHODS = {"hirescam": HiResCAM, "gradcam": GradCAM}


class _FramesAsImages(nn.Module):
    """``[T, 3, H, W]`` frames of one clip -> ``[1, D]`` embedding of the clip ``[1, T, ...]``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: Tensor) -> Tensor:
        return self.net(frames.unsqueeze(0)).embedding


class _ProjectionTarget:
    """Grad-CAM target: the embedding's component along ``reference`` (a fixed direction)."""

    def __init__(self, reference: Tensor) -> None:
        self.direction = F.normalize(reference.detach().flatten().float(), dim=0)

    def __call__(self, embedding: Tensor) -> Tensor:
        if embedding.shape[-1] != self.direction.numel():
            raise ValueError(
                f"reference has {self.direction.numel()} values but the model's embedding "
                f"f_all has {embedding.shape[-1]}: pass a feature of this model"
            )
        return embedding @ self.direction.to(embedding.device)


def clip_grad_cam(
    net: nn.Module,
    clip: Tensor,
    reference: Tensor | None = None,
    target_layer: nn.Module | None = None,
    method: Literal["hirescam", "gradcam"] = "hirescam",
) -> np.ndarray:
    """Class activation map of every frame of one clip, each in ``[0, 1]``, at the frame size.

    Args:
        net: an :class:`~stgcn_reid.models.STGCN` (anything mapping ``[1, T, 3, H, W]`` to an
            output with ``.embedding`` ``[1, D]``). It is put in eval mode; its parameter
            gradients are cleared afterwards.
        clip: ``[T, 3, H, W]`` normalised frames (the test transform of the model's input).
        reference: ``[D]`` direction of the target score ``f_all . reference / |reference|``;
            default the clip's own embedding (the target is then the embedding's norm).
        target_layer: layer whose activations are weighted; default ``net.backbone.layer4``.
        method: ``"hirescam"`` or ``"gradcam"`` (see the module docstring).

    Returns:
        float32 ``[T, H, W]``; each frame's map is min-max scaled on its own, as the library
        does, so maps show where a frame looks, not how much one frame counts against another.
    """
    if clip.dim() != 4 or clip.shape[1] != 3:
        raise ValueError(f"clip must be [T, 3, H, W] frames, got shape {tuple(clip.shape)}")
    if method not in CAM_METHODS:
        raise ValueError(f"method must be one of {sorted(CAM_METHODS)}, got {method!r}")
    layer = target_layer if target_layer is not None else _default_layer(net)
    model = _FramesAsImages(net)
    device = next(net.parameters()).device
    # The input requires grad so that the layer's output does even when the weights are frozen,
    # and enable_grad lets the caller sit in a no_grad block.
    frames = clip.detach().to(device).clone().requires_grad_(True)
    with torch.enable_grad():
        if reference is None:
            with torch.no_grad():
                reference = model.eval()(frames)[0]
        cam = CAM_METHODS[method](model=model, target_layers=[layer])
        try:
            maps = cam(input_tensor=frames, targets=[_ProjectionTarget(reference)])
        finally:
            # Not `with HiResCAM(...)`: the library's __exit__ swallows IndexError with a print.
            cam.activations_and_grads.release()
            net.zero_grad(set_to_none=True)
    return np.asarray(maps, dtype=np.float32)


def _default_layer(net: nn.Module) -> nn.Module:
    backbone = getattr(net, "backbone", None)
    layer = getattr(backbone, "layer4", None)
    if not isinstance(layer, nn.Module):
        raise ValueError(
            f"{type(net).__name__} has no backbone.layer4; pass target_layer= explicitly"
        )
    return layer


def overlay_cam(frame: np.ndarray, cam: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """A uint8 ``[H, W, 3]`` frame blended with the jet-coloured map ``[H, W]`` in ``[0, 1]``."""
    if frame.shape[:2] != cam.shape or frame.ndim != 3:
        raise ValueError(
            f"frame [H, W, 3] and cam [H, W] must match, got {frame.shape} and {cam.shape}"
        )
    return show_cam_on_image(
        frame.astype(np.float32) / 255.0, cam, use_rgb=True, image_weight=image_weight
    )


def plot_gradcam(
    frames: np.ndarray | Sequence[np.ndarray],
    cams: Mapping[str, np.ndarray],
    path: str | Path,
    occluded: Sequence[bool] | None = None,
    title: str = "class activation maps",
    dpi: int = 100,
) -> Path:
    """Save a grid like Figure 5: the frames, then one row of CAM overlays per model.

    Args:
        frames: ``T`` uint8 ``[H, W, 3]`` frames (the model's input size).
        cams: per row label (e.g. ``"baseline"``, ``"STGCN"``), ``[T, H, W]`` maps in [0, 1].
        occluded: per frame, whether it is occluded; such frames get a red caption.
    """
    frames = [np.asarray(f) for f in frames]
    if not frames or not cams:
        raise ValueError("plot_gradcam needs at least one frame and one {label: cams} entry")
    for label, maps in cams.items():
        if len(maps) != len(frames):
            raise ValueError(f"cams[{label!r}] has {len(maps)} maps for {len(frames)} frames")
    marks = list(occluded) if occluded is not None else [False] * len(frames)
    if len(marks) != len(frames):
        raise ValueError(f"occluded has {len(marks)} flags for {len(frames)} frames")
    rows = [("frames", frames)] + [
        (label, [overlay_cam(f, m) for f, m in zip(frames, maps, strict=True)])
        for label, maps in cams.items()
    ]
    height, width = frames[0].shape[:2]
    cell = 1.1  # inches per frame width
    figure = Figure(
        figsize=(0.8 + cell * len(frames), 0.5 + len(rows) * cell * height / width),
        dpi=dpi,
        layout="constrained",
    )
    grid = figure.subplots(len(rows), len(frames), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for t, image in enumerate(images):
            axes = grid[r, t]
            axes.imshow(image)
            axes.set_xticks([])
            axes.set_yticks([])
            if r == 0:
                caption = f"t={t}" + (" occl." if marks[t] else "")
                axes.set_title(caption, fontsize=8, color=OCCLUDED_COLOUR if marks[t] else "k")
            if t == 0:
                axes.set_ylabel(label, fontsize=9)
    figure.suptitle(title, fontsize=10)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")
    return out

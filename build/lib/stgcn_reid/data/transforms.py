"""Spatial transforms of a clip (torchvision.transforms.v2).

A clip is either a uint8 tensor ``[T, 3, H, W]`` or a list of ``T`` ``tv_tensors.Image`` frames
(the frames of a DukeMTMC-VideoReID tracklet differ in size, so :mod:`stgcn_reid.data.clips`
passes the list and stacks the result). In both forms a v2 transform draws its random parameters
once per call, so every frame of a clip gets the same flip decision and the same erased box: the
augmentation must not make the frames of one person disagree with each other.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_train_transform(
    height: int = 256,
    width: int = 128,
    flip_prob: float = 0.5,
    random_erasing: float = 0.0,
) -> v2.Compose:
    """Resize, clip-level horizontal flip, float, ImageNet normalisation, optional erasing.

    The paper (Sec. 4.2) resizes to 256x128 and flips at random; random erasing is an optional
    extra (off by default) that erases the same box in every frame of the clip.
    """
    steps: list[v2.Transform] = [
        v2.Resize((height, width), antialias=True),
        v2.RandomHorizontalFlip(p=flip_prob),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ]
    if random_erasing > 0:
        steps.append(v2.RandomErasing(p=random_erasing, value=0))
    return v2.Compose(steps)


def build_test_transform(height: int = 256, width: int = 128) -> v2.Compose:
    """Resize, float and ImageNet normalisation (deterministic)."""
    return v2.Compose(
        [
            v2.Resize((height, width), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )

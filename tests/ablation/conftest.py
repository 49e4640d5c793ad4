"""Fixtures of the ablation tests: the smoke benchmark and tiny untrained STGCN models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from stgcn_reid.data.synthetic import load_synthetic
from stgcn_reid.models import STGCN, ResNetBackbone
from stgcn_reid.utils.config import CONFIG_DIR

#: Frames per clip and input size of the tiny models (64 x 32 gives 4 x 2 feature maps).
T, HEIGHT, WIDTH = 4, 64, 32


@pytest.fixture(scope="session")
def smoke_dataset_options() -> dict[str, Any]:
    """The ``dataset`` options of ``experiment=smoke`` (a few identities, 64 x 32 frames)."""
    return OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "dataset" / "synthetic_smoke.yaml"))[
        "dataset"
    ]


@pytest.fixture(scope="session")
def smoke_data_dir(
    tmp_path_factory: pytest.TempPathFactory, smoke_dataset_options: dict[str, Any]
) -> Path:
    """The tiny benchmark of ``experiment=smoke``, generated once for the session."""
    root = tmp_path_factory.mktemp("ablation-data")
    load_synthetic(root, **smoke_dataset_options)
    return root


@pytest.fixture
def make_net() -> Callable[..., STGCN]:
    """An untrained ResNet-18 STGCN for ``T``-frame 64 x 32 clips, seeded."""

    def make(seed: int = 0, **model: Any) -> STGCN:
        torch.manual_seed(seed)
        return STGCN(ResNetBackbone("resnet18"), num_classes=5, seq_len=T, **model).eval()

    return make


@pytest.fixture
def clip() -> torch.Tensor:
    """A normalised-looking random clip ``[T, 3, H, W]``."""
    return torch.randn(T, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(1))

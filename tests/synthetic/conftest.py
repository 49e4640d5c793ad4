"""A tiny synthetic benchmark shared by the tests of this folder (generated once per session)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stgcn_reid.data.synthetic import SyntheticConfig, generate, make_config

# 6 train / 4 test ids / 1 distractor, short 64 x 32 tracklets: about 40 tracklets, < 2 s.
TINY: dict[str, Any] = {
    "num_train_ids": 6,
    "num_test_ids": 4,
    "num_distractors": 1,
    "num_cameras": 3,
    "min_frames": 6,
    "max_frames": 10,
    "height": 64,
    "width": 32,
    "num_val_ids": 3,
    "occlusion_prob": 0.5,
    "confuser_share": 0.5,
    "confuser_group_size": 2,
}


@pytest.fixture(scope="session")
def tiny_config() -> SyntheticConfig:
    return make_config(**TINY)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory, tiny_config: SyntheticConfig) -> Path:
    """Cache root holding the generated tiny benchmark."""
    root = tmp_path_factory.mktemp("synthetic")
    generate(tiny_config, root, workers=1)
    return root

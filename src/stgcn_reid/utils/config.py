"""Where the Hydra configs live, and helpers on composed configs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

#: ``conf/`` at the repository root (the package is installed editable from the checkout);
#: ``STGCN_CONFIG_DIR`` points elsewhere, e.g. at a copy of ``conf/`` for a non-editable install.
CONFIG_DIR = Path(
    os.environ.get("STGCN_CONFIG_DIR", Path(__file__).resolve().parents[3] / "conf")
).resolve()


def model_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved parts of a run config that rebuild its model and test-time input.

    Stored in every checkpoint, so that evaluation, embedding and export need neither Hydra nor
    the original command line.
    """
    # Resolving each node against the whole config keeps interpolations such as ${backbone}.
    return {
        key: OmegaConf.to_container(cfg[key], resolve=True)
        for key in ("model", "data", "dataset")
        if key in cfg
    }

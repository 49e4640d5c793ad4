"""Where the Hydra configs live, and helpers on composed configs."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

#: The Hydra configs: ``conf/`` of the repository, installed as the package ``stgcn_reid.conf``
#: (an editable install maps it to the checkout's ``conf/``, a wheel ships a copy).
CONFIG_DIR = Path(str(files("stgcn_reid.conf")))


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

"""Where the Hydra configs live, and helpers on composed configs."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stgcn_reid.utils.io import json_digest

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


def config_hash(*keys: str, _root_: DictConfig) -> str:
    """Short SHA-256 of the resolved config nodes ``keys`` (dotted paths; a missing one counts
    as ``null``): the ``${config_hash:dataset,model,...}`` resolver, which names caches by what
    produced them (``experiment=pretrain`` names its weights this way). A node's ``root`` entry
    (where a dataset lives on this machine) is left out: moving the data changes nothing."""
    selected = {key: _plain(OmegaConf.select(_root_, key, default=None)) for key in keys}
    return json_digest(selected)


def _plain(node: Any) -> Any:
    if not OmegaConf.is_config(node):
        return node
    value = OmegaConf.to_container(node, resolve=True)
    if isinstance(value, dict):
        value.pop("root", None)
    return value


OmegaConf.register_new_resolver("config_hash", config_hash, replace=True)

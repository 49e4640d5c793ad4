"""Rebuilding the trained network of a checkpoint from the run configuration it carries, and
checking that a checkpoint's state dict fits a model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch

from stgcn_reid.checkpoints.files import load_checkpoint
from stgcn_reid.errors import CheckpointError


def check_state_dict(
    path: str | Path, checkpoint: Mapping[str, Any], expected: Mapping[str, torch.Tensor]
) -> None:
    """Raise :class:`CheckpointError` listing keys missing, unexpected or of another shape."""
    found = checkpoint["state_dict"]
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = sorted(
        f"{k}: checkpoint {tuple(found[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(found) & set(expected)
        if tuple(found[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or shapes:
        parts = [
            f"{title} ({len(keys)}): {', '.join(keys[:10])}{' ...' if len(keys) > 10 else ''}"
            for title, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("shape mismatch", shapes),
            )
            if keys
        ]
        raise CheckpointError(
            f"checkpoint {path} was trained with another model configuration; "
            + "; ".join(parts)
            + ". Use the same model/backbone/data.seq_len settings as the run that wrote it."
        )


#: The only classes a checkpoint's stored run configuration may name as ``_target_``.
TRUSTED_TARGETS = frozenset(
    {
        "stgcn_reid.models.STGCN",
        "stgcn_reid.models.stgcn.STGCN",
        "stgcn_reid.models.ResNetBackbone",
        "stgcn_reid.models.backbone.ResNetBackbone",
        "stgcn_reid.data.datamodule.ReIDDataModule",
    }
)


def build_net(run_config: Mapping[str, Any]) -> torch.nn.Module:
    """The STGCN described by a checkpoint's ``run_config``, with freshly initialised weights.

    Backbone weights are not requested again (no download, no ``weights_path`` needed): the
    checkpoint's state dict carries all of them.

    The configuration comes from the checkpoint file, and Hydra calls whatever a ``_target_``
    names (here, and in ``stgcn_reid.eval`` for its dataset part): a configuration naming any
    other target than :data:`TRUSTED_TARGETS` is refused, so that a crafted checkpoint cannot
    have an arbitrary function called.
    """
    foreign = sorted(set(_targets(run_config)) - TRUSTED_TARGETS)
    if foreign:
        raise CheckpointError(
            f"the checkpoint's run configuration names _target_ {', '.join(foreign)}; only "
            f"{', '.join(sorted(TRUSTED_TARGETS))} may be built from a checkpoint"
        )
    model_cfg = dict(run_config["model"])
    model_cfg["backbone"] = {**model_cfg["backbone"], "weights": None, "weights_path": None}
    return hydra.utils.instantiate(model_cfg)


def _targets(node: Any) -> list[str]:
    """Every ``_target_`` value in a nested configuration of dicts and lists."""
    if isinstance(node, Mapping):
        own = [str(node["_target_"])] if "_target_" in node else []
        return own + [t for value in node.values() for t in _targets(value)]
    if isinstance(node, list | tuple):
        return [t for value in node for t in _targets(value)]
    return []


def load_net(path: str | Path, map_location: str | torch.device = "cpu") -> LoadedNet:
    """Rebuild the trained STGCN of a Lightning checkpoint written by ``stgcn_reid.train``."""
    checkpoint = load_checkpoint(path)
    run_config = checkpoint.get("hyper_parameters", {}).get("run_config")
    if not run_config:
        raise CheckpointError(
            f"{path} has no stored run configuration: it was not written by stgcn_reid.train"
        )
    net = build_net(run_config)
    prefix = "net."
    state = {
        k.removeprefix(prefix): v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith(prefix)
    }
    check_state_dict(path, {"state_dict": state}, net.state_dict())
    net.load_state_dict(state)
    return LoadedNet(net.to(map_location).eval(), run_config)


@dataclass(frozen=True)
class LoadedNet:
    """A trained network in eval mode and the run configuration it was trained with."""

    net: torch.nn.Module
    run_config: Mapping[str, Any]

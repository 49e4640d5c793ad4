"""Checking checkpoints before Lightning loads them, with messages a user can act on."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the model."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint's tensors and plain containers (``weights_only=True``).

    ``weights_only`` refuses pickled code, so a checkpoint from an untrusted source cannot run
    anything here; Lightning's own resume path unpickles fully (see the README's security note).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint (not a torch.save zip archive): truncated, "
            "corrupt, or another kind of file"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} holds no 'state_dict': not a Lightning checkpoint")
    return dict(checkpoint)


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


def resolve_resume_checkpoint(cfg: DictConfig, module: torch.nn.Module) -> str | None:
    """The checkpoint to resume from: ``ckpt_path``, or ``last.ckpt`` of the run dir if ``resume``.

    The checkpoint is checked against ``module`` first, so that a wrong file fails with a message
    naming the mismatching keys instead of deep inside Lightning.
    """
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path)
    elif cfg.get("resume"):
        path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise CheckpointError(
                f"resume=true but there is no {path}; pass the run directory of the run to "
                "continue with hydra.run.dir=<run dir>, or give ckpt_path=<file>"
            )
    else:
        return None
    check_state_dict(path, load_checkpoint(path), module.state_dict())
    return str(path)


def build_net(run_config: Mapping[str, Any]) -> torch.nn.Module:
    """The STGCN described by a checkpoint's ``run_config``, with freshly initialised weights.

    Backbone weights are not requested again (no download, no ``weights_path`` needed): the
    checkpoint's state dict carries all of them.
    """
    model_cfg = dict(run_config["model"])
    model_cfg["backbone"] = {**model_cfg["backbone"], "weights": None, "weights_path": None}
    return hydra.utils.instantiate(model_cfg)


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

"""Build Lightning callbacks and loggers from their Hydra config groups."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, open_dict
from pytorch_lightning.loggers import Logger

log = logging.getLogger(__name__)


def instantiate_callbacks(cfg: DictConfig | None) -> list[pl.Callback]:
    """One callback per ``_target_`` entry of the ``callbacks`` group (empty when ``None``)."""
    if not cfg:
        return []
    return [hydra.utils.instantiate(entry) for entry in cfg.values() if entry is not None]


def wandb_api_key_configured() -> bool:
    """Whether W&B can authenticate: ``WANDB_API_KEY`` or an ``api.wandb.ai`` entry in netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def instantiate_loggers(cfg: DictConfig | None) -> list[Logger]:
    """One logger per ``_target_`` entry of the ``logger`` group (empty when ``None``).

    A W&B logger with ``offline: null`` runs offline unless an API key is configured, so that a
    run never blocks on login or on the network.
    """
    if not cfg:
        return []
    loggers = []
    for name, entry in cfg.items():
        if entry is None:
            continue
        if name == "wandb" and entry.get("offline") is None:
            offline = os.environ.get("WANDB_MODE") == "offline" or not wandb_api_key_configured()
            with open_dict(entry):
                entry.offline = offline
            if offline:
                log.info("W&B: no API key configured, logging offline (upload with `wandb sync`)")
        loggers.append(hydra.utils.instantiate(entry))
    return loggers


def finish_loggers(loggers: list[Logger]) -> None:
    """Close the W&B run, even after a crash, so the next job of a multirun starts clean."""
    for logger in loggers:
        logger.finalize("success")
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()

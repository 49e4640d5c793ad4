"""Write a trained run's backbone as a torchvision state dict (the pretraining of
``experiment=pretrain``), with the validation curve that chose it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from stgcn_reid.checkpoints.files import load_checkpoint
from stgcn_reid.checkpoints.policy import LAST_WEIGHTS, best_checkpoint
from stgcn_reid.utils.io import atomic_write, write_json

log = logging.getLogger(__name__)

#: Prefix of the backbone's weights in the LightningModule's state dict (``ReIDLitModule.net``).
BACKBONE_PREFIX = "net.backbone."


class BackboneExport(Callback):
    """At the end of fitting, save the backbone of the best checkpoint (by ``monitor``) to
    ``path``, loadable with ``backbone.weights_path=<path>``; beside it ``<path>.json`` holds
    the validation curve, the chosen epoch and the source checkpoint.

    The curve is part of the callback's state, so a resumed run keeps the epochs before the
    interruption. Without any validation the last weights are exported.

    Args:
        path: the ``.pt`` file to write (its folder is created).
        monitor: the validation metric of the curve (the checkpoint callback's).
    """

    def __init__(self, path: str, monitor: str = "val/mAP") -> None:
        self.path = Path(path)
        self.monitor = monitor
        self.curve: list[tuple[int, float]] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or trainer.sanity_checking:
            return
        epoch = trainer.current_epoch + 1
        self.curve = [point for point in self.curve if point[0] != epoch]
        self.curve.append((epoch, float(value)))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        source = best_checkpoint(trainer)
        state = load_checkpoint(source)["state_dict"] if source else pl_module.state_dict()
        backbone = {
            key.removeprefix(BACKBONE_PREFIX): value.detach().cpu()
            for key, value in state.items()
            if key.startswith(BACKBONE_PREFIX)
        }
        if not backbone:
            raise RuntimeError(f"no '{BACKBONE_PREFIX}*' weights to export in {source or 'model'}")
        atomic_write(self.path, lambda handle: torch.save(backbone, handle))
        record = self.record(source or LAST_WEIGHTS)
        write_json(_sidecar(self.path), record)
        log.info(
            "Backbone weights (%s, epoch %s, %s %.2f%%): %s",
            record["source"],
            record["chosen_epoch"],
            self.monitor,
            100 * (record["chosen_value"] or 0.0),
            self.path,
        )
        for epoch, value in self.curve:
            log.info("  validation curve: epoch %3d  %s %.2f%%", epoch, self.monitor, 100 * value)

    def record(self, source: str) -> dict[str, Any]:
        """What the sidecar JSON holds: the curve and which point of it was exported."""
        best = max(self.curve, key=lambda point: point[1]) if self.curve else None
        return {
            "weights": self.path.name,
            "source": source,
            "monitor": self.monitor,
            "curve": [{"epoch": e, "value": v} for e, v in self.curve],
            "chosen_epoch": best[0] if best and source != LAST_WEIGHTS else None,
            "chosen_value": best[1] if best and source != LAST_WEIGHTS else None,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"curve": [list(point) for point in self.curve]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.curve = [(int(e), float(v)) for e, v in state_dict.get("curve", [])]


def pretraining_record(weights: str | Path) -> dict[str, Any]:
    """The sidecar JSON of exported backbone weights (curve, chosen epoch, source); empty for
    weights made elsewhere (no sidecar)."""
    sidecar = _sidecar(Path(weights))
    return json.loads(sidecar.read_text()) if sidecar.is_file() else {}


def _sidecar(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".json")

"""Record which identities each rank trained on and which tracklets it evaluated.

A debugging aid for data parallelism (``+callbacks.audit._target_=stgcn_reid.callbacks.DataAudit``):
under DDP every rank writes ``<dirpath>/rank<r>.json``, which shows whether the P x K sampler gave
ranks disjoint identities and whether the test shards covered every tracklet exactly once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from stgcn_reid.utils.io import atomic_write


class DataAudit(pl.Callback):
    """Collect per-rank training identities (per step) and test tracklet ids; dump at the end."""

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)
        self.train_pids: list[list[int]] = []
        self.test_tracks: list[int] = []

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.train_pids.append(batch["pid"].tolist())

    def on_test_batch_start(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self.test_tracks.extend(batch["track"].tolist())

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "train_pids": self.train_pids,
            "test_tracks": self.test_tracks,
        }
        text = json.dumps(record)
        atomic_write(
            self.dirpath / f"rank{trainer.global_rank}.json",
            lambda handle: handle.write(text.encode()),
        )

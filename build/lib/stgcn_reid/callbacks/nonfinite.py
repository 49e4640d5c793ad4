"""Stop a run whose loss became NaN/inf, naming the step and the loss term."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite."""


class NonFiniteLossGuard(pl.Callback):
    """Record, on the device, the first step at which any loss term is not finite.

    The record is read back (a host sync) only every ``check_every_n_steps`` steps and at the end
    of each epoch, so the training step itself never waits for the device; the step and term
    reported are the first bad ones, not the step at which the check ran.
    """

    def __init__(self, check_every_n_steps: int = 50) -> None:
        if check_every_n_steps < 1:
            raise ValueError(f"check_every_n_steps must be >= 1, got {check_every_n_steps}")
        self.check_every_n_steps = check_every_n_steps
        self._names: list[str] = []
        self._first_bad: Tensor | None = None  # per term: first bad training batch, or -1
        self._batches_seen = 0

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Mapping[str, Any],
        batch: Any,
        batch_idx: int,
    ) -> None:
        terms: Mapping[str, Tensor] = outputs["terms"]
        values = torch.stack([v.float() for v in terms.values()])
        if self._first_bad is None or self._names != list(terms):
            self._names = list(terms)
            self._first_bad = torch.full_like(values, -1, dtype=torch.long)
        bad_now = ~torch.isfinite(values) & (self._first_bad < 0)
        self._first_bad = torch.where(bad_now, self._batches_seen, self._first_bad)
        self._batches_seen += 1
        if self._batches_seen % self.check_every_n_steps == 0:
            self._raise_if_bad()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._raise_if_bad()

    def _raise_if_bad(self) -> None:
        if self._first_bad is None:
            return
        first_bad = self._first_bad.tolist()
        bad = [(step, name) for step, name in zip(first_bad, self._names, strict=True) if step >= 0]
        if bad:
            step, name = min(bad)
            raise NonFiniteLossError(
                f"loss term '{name}' became non-finite at training step {step} "
                f"(all non-finite terms: {', '.join(n for _, n in sorted(bad))}). Try a lower "
                "learning rate, fp32 instead of fp16 (trainer.precision), or check the data."
            )

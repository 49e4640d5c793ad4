"""A test-only callback that signals its own training process at a chosen step.

Subprocess runs load it with ``+callbacks.signal._target_=signals.SignalAtStep`` and
``tests/reliability`` on ``PYTHONPATH``: the signal then arrives at a known point of training
(a step boundary inside an epoch), which an outside timer could not guarantee.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytorch_lightning as pl


class SignalAtStep(pl.Callback):
    """Send ``signum`` to this process once ``global_step`` reaches ``step``.

    ``SIGKILL`` is sent when the next training batch starts, that is after every callback
    (checkpoints included) has handled step ``step``: the process dies holding a fetched but
    untrained batch. Other signals are sent at the end of step ``step``, before the checkpoint
    callbacks run, as a scheduler's signal could arrive.
    """

    def __init__(self, step: int, signum: str) -> None:
        self.step = step
        self.signum = signal.Signals[signum]

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.signum == signal.SIGKILL and trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.signum != signal.SIGKILL and trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)

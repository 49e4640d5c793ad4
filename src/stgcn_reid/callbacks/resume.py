"""The callback that keeps ``last.ckpt`` fresh, so that a killed run resumes exactly.

:class:`ResumeCheckpoint` writes ``last.ckpt`` (at least every N training steps, at the end, and
at the step where SIGTERM or an unreadable frame stopped the run), keeps the previous one as
``last.prev.ckpt``, and carries the global RNG states on top of Lightning's own state (weights,
optimizer, scheduler, loop progress, the training loader's position). The file itself is written
by the trainer's CheckpointIO (:class:`~stgcn_reid.checkpoints.files.AtomicCheckpointIO`:
atomic, with the SHA-256 of its tensors).

Why not Lightning's ``ModelCheckpoint(save_last=True, every_n_train_steps=N)`` with the extras
(RNG states, previous copy, finite-weights check) on top: in Lightning 2.6 it differs in the
schedule itself, not only in the extras, so a subclass would override every hook it has.

- ``every_n_train_steps`` is ``global_step % N == 0``, and with it set no save happens at an
  epoch end (``every_n_epochs`` becomes 0): an epoch end that is not a multiple of N, the end of
  the last epoch included, is not written. Here the count runs from the last save, and every
  epoch end that is due, and the last one, is written
  (``tests/reliability/test_checkpoint_io.py::
  test_checkpoint_every_n_steps_and_at_the_epoch_end_keeping_the_previous``).
- Without a monitored metric a due step that ends the epoch is written at the batch end, before
  validation: the checkpoint then lacks that validation (the best-model state, the metrics of a
  resumed run). Here it is written after it.
- Nothing is written before validation, and a step is never written twice (its
  ``_last_global_step_saved`` check): a validation that fails loses every step since the last
  periodic save. Here ``last.ckpt`` is written right before validation and again after it
  (``test_a_failing_validation_leaves_last_checkpoint_at_its_step``).
- ``save_on_exception`` (and ``OnExceptionCheckpoint``) write on any exception, also one that
  struck inside a step (Ctrl-C) or left non-finite weights, to a file named by the metrics.
  Here only a stop between two steps (SIGTERM, an unreadable training frame) writes
  ``last.ckpt``, at that step, and the log says which file holds which step
  (``test_unreadable_batch_stops_training_with_the_step_before_saved``,
  ``test_bad_frame_at_step_0_says_no_checkpoint_was_written``). ``OnExceptionCheckpoint``
  moreover deletes its file at teardown.
- A subclass of ``ModelCheckpoint`` gets its ``state_key`` (the class name plus monitor and
  intervals) instead of the class name alone, so the RNG states of the checkpoints written so
  far would no longer be restored on resume.

Kept as the extras on this schedule: the RNG states and their restore point
(``test_rng_states_survive_a_weights_only_round_trip_and_are_restored``), the previous copy,
never over a sound one by a torn one (``test_torn_last_checkpoint_is_replaced_but_not_kept``),
the finite-weights check (``test_non_finite_weights_never_replace_a_good_checkpoint``), and the
removal of temporary files left by a write that a SIGKILL cut short.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities.exceptions import SIGTERMException

from stgcn_reid.checkpoints.files import keep_copy, load_checkpoint
from stgcn_reid.checkpoints.policy import LAST_CHECKPOINT, PREVIOUS_CHECKPOINT
from stgcn_reid.errors import CheckpointError, DatasetError

log = logging.getLogger(__name__)


def rng_states() -> dict[str, Any]:
    """The global torch (CPU, and this process's CUDA device once in use), numpy and Python states.

    In types that ``torch.load(weights_only=True)`` accepts: numpy's key array becomes a tensor.
    Only the current CUDA device: asking for every device's state would open a CUDA context on
    each GPU of the node from every DDP process.
    """
    name, key, position, has_gauss, gauss = np.random.get_state(legacy=True)
    cuda = torch.cuda.get_rng_state() if torch.cuda.is_initialized() else None
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "numpy": (name, torch.from_numpy(key.astype(np.int64)), position, has_gauss, gauss),
        "python": random.getstate(),
    }


def set_rng_states(states: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_states` returned (the CUDA state onto the current device)."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])
    name, key, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


class ResumeCheckpoint(Checkpoint):
    """Keep ``<dirpath>/last.ckpt`` fresh, so that a killed run loses at most N training steps.

    Written (with the trainer's CheckpointIO, atomically with :class:`AtomicCheckpointIO`):

    - once ``every_n_train_steps`` optimizer steps have passed since the last one: at the end of
      the epoch (after validation) if the epoch ends on that step, else at the end of that step,
      inside the epoch; the training loader's position is part of the checkpoint, so resuming
      continues the epoch exactly. ``0``: at every epoch end, never inside an epoch;
    - at the end of the last epoch, and when training stops inside an epoch (``max_steps``);
    - when Lightning stops the run on SIGTERM (cluster pre-emption), or a training batch fails
      to load (:class:`DatasetError`: an unreadable frame), at the step where it stopped. SIGTERM
      only sets a flag that Lightning checks between steps, so this checkpoint is consistent;
      during validation or test nothing new is written (the last one stays and the resumed run
      redoes the validation).

    Before a new ``last.ckpt`` replaces the old one, the old one becomes ``last.prev.ckpt``
    (``keep_previous``): a ``last.ckpt`` damaged after it was written still leaves a good one.
    A model with non-finite weights is never written over a good checkpoint.

    Lightning does not save the global RNG states; this callback does (its ``state_dict``) and
    restores them where the uninterrupted run stood: at load time for a checkpoint taken after
    an epoch's last batch, and again right before the next training step for one taken inside
    an epoch (Lightning creates the DataLoader iterator in between, which draws a seed).
    """

    def __init__(
        self, dirpath: str | Path, every_n_train_steps: int = 500, keep_previous: bool = True
    ) -> None:
        if every_n_train_steps < 0:
            raise ValueError(
                "callbacks.resume_checkpoint.every_n_train_steps must be >= 0 (0: at every epoch "
                f"end), got {every_n_train_steps}"
            )
        self.dirpath = Path(dirpath)
        self.every_n_train_steps = every_n_train_steps
        self.keep_previous = keep_previous
        self._saved_step = -1
        self._written_step = -1  # the step of this process's newest write
        self._rewrite_step = -1  # written before validation; written again after it
        self._rng_before_next_step: Mapping[str, Any] | None = None
        # state_dict() gets no trainer argument, but needs to know where in the epoch it is.
        self._trainer: pl.Trainer | None = None

    @property
    def last_path(self) -> Path:
        return self.dirpath / LAST_CHECKPOINT

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer
        if stage == "fit" and trainer.is_global_zero:
            # Temporary files of writes that a SIGKILL cut short (each as big as a checkpoint).
            for stale in self.dirpath.glob(".*.ckpt.*.tmp"):
                stale.unlink(missing_ok=True)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._saved_step = trainer.global_step  # count from where this run (re)started

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._rng_before_next_step is not None:
            set_rng_states(self._rng_before_next_step)
            self._rng_before_next_step = None

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        # A due step that ends the epoch is saved at the epoch end, after validation.
        if self.every_n_train_steps and self._due(trainer) and not _after_last_batch(trainer):
            self.save(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._due(trainer) or _last_epoch(trainer) or self._rewrite_step == trainer.global_step:
            self.save(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.save(trainer)  # a stop inside an epoch (max_steps); else saved at the epoch end

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        # Both stop training between two steps (SIGTERM: Lightning checks its flag after a step;
        # DatasetError: the next batch failed to load), so the state is consistent. Anything
        # else may strike inside a step (Ctrl-C) or leave bad weights (a non-finite loss).
        if not (trainer.state.fn == TrainerFn.FITTING and trainer.training):
            return
        if isinstance(exception, SIGTERMException):
            reason = "SIGTERM"
        elif isinstance(exception, DatasetError):
            reason = "unreadable data (fix or remove the file, or set data.skip_corrupt=true)"
        else:
            return
        self.save(trainer)
        log.warning(
            "Stopped at step %d by %s; %s", trainer.global_step, reason, self._held(trainer)
        )

    def _held(self, trainer: pl.Trainer) -> str:
        """What holds the step at which training stopped, and how to go on from it."""
        step = trainer.global_step
        if step == self._written_step:
            return (
                f"{self.last_path} holds that step. Resume with resume=true hydra.run.dir=<this "
                f"run's directory>, or ckpt_path={self.last_path}."
            )
        if step == 0:
            return (
                "no training step had finished, so no checkpoint was written. Start the run "
                "again once the data is fixed (there is nothing to resume)."
            )
        if step == self._saved_step:
            return "no new checkpoint: the checkpoint this run resumed from holds that step."
        return f"no checkpoint holds that step (see the warning above); {self.last_path} is older."

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A data error of the validation split then costs no training step. The save at the
        # epoch end, after validation, writes this step again with the validation's results.
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self.save(trainer)
            self._rewrite_step = trainer.global_step

    def save(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` (once per global step, again after validation), keeping the
        previous one."""
        step = trainer.global_step
        if step == 0 or trainer.sanity_checking:
            return
        if step == self._saved_step and step != self._rewrite_step:
            return
        if not _weights_are_finite(trainer.lightning_module):
            log.warning(
                "Not writing %s at step %d: the model has non-finite weights; the previous "
                "checkpoint stays.",
                self.last_path,
                trainer.global_step,
            )
            return
        # A rewrite of the same step (after validation) keeps the older previous checkpoint.
        rotate = self.keep_previous and step != self._written_step
        if trainer.is_global_zero and rotate and self.last_path.is_file():
            if _sound(self.last_path):
                keep_copy(self.last_path, self.dirpath / PREVIOUS_CHECKPOINT)
            else:  # never let a torn last.ckpt replace the good previous one
                log.warning("Replacing %s, which is not a valid checkpoint", self.last_path)
        trainer.save_checkpoint(self.last_path)
        self._saved_step = self._written_step = step
        self._rewrite_step = -1

    def _due(self, trainer: pl.Trainer) -> bool:
        return trainer.global_step - self._saved_step >= self.every_n_train_steps

    def state_dict(self) -> dict[str, Any]:
        trainer = self._trainer
        return {
            "rng": rng_states(),
            "mid_epoch": trainer is not None and not _after_last_batch(trainer),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_rng_states(state_dict["rng"])
        if state_dict["mid_epoch"]:
            self._rng_before_next_step = state_dict["rng"]


def _sound(path: Path) -> bool:
    """Whether ``path`` is a whole checkpoint whose tensors match their stored digest."""
    try:
        load_checkpoint(path)
    except CheckpointError:
        return False
    return True


def _last_epoch(trainer: pl.Trainer) -> bool:
    """Whether the epoch that is ending is the run's last (its ``current_epoch`` not yet bumped)."""
    max_epochs, max_steps = trainer.max_epochs, trainer.max_steps
    return (
        trainer.should_stop
        or (max_epochs is not None and max_epochs >= 0 and trainer.current_epoch + 1 >= max_epochs)
        or (max_steps >= 0 and trainer.global_step >= max_steps)
    )


def _after_last_batch(trainer: pl.Trainer) -> bool:
    """Whether the training epoch in progress has handed out its last batch."""
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


def _weights_are_finite(module: torch.nn.Module) -> bool:
    checks = [torch.isfinite(p).all() for p in module.parameters()]
    return bool(torch.stack(checks).all()) if checks else True

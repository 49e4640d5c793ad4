"""Writing checkpoints that a run can always resume from, exactly.

- :class:`AtomicCheckpointIO` (``trainer.plugins``): how every checkpoint reaches the disk. A crash
  or a full disk while writing leaves the previous file intact.
- :class:`ResumeCheckpoint` (a callback): when ``last.ckpt`` is written (at least every N
  training steps, at the end, and at the step where SIGTERM or an unreadable frame stopped the
  run), that the previous one is kept as ``last.prev.ckpt``, and the global RNG states it
  carries on top of Lightning's own state (weights, optimizer, scheduler, loop progress, the
  training loader's position).
"""

from __future__ import annotations

import errno
import logging
import os
import random
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities.exceptions import SIGTERMException

from stgcn_reid.data.datasets.base import DatasetError
from stgcn_reid.utils.checkpoints import (
    DIGEST_KEY,
    LAST_CHECKPOINT,
    PREVIOUS_CHECKPOINT,
    CheckpointError,
    load_checkpoint,
    tensor_bytes,
    tensors_digest,
    verify_digest,
)
from stgcn_reid.utils.io import atomic_write

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file beside the target, fsync, then rename over it.

    Lightning's own writer goes through an fsspec transaction without fsync, after serialising
    the whole checkpoint into memory; this one streams to disk and survives a power loss
    (:func:`stgcn_reid.utils.io.atomic_write`). Remote paths (``s3://`` ...) keep Lightning's
    writer, whose object-store uploads are atomic themselves.

    Every checkpoint carries the SHA-256 of its tensors (:data:`~stgcn_reid.utils.checkpoints.
    DIGEST_KEY`), checked on every load here and in :func:`~stgcn_reid.utils.checkpoints.
    load_checkpoint`, so that bytes changed on disk after the write fail naming the file.

    Loading refuses pickled code (``weights_only=True``) unless the caller asks otherwise: the
    checkpoints of this project hold tensors and plain containers only.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        checkpoint = {**checkpoint, DIGEST_KEY: tensors_digest(checkpoint)}
        filesystem, local_path = url_to_fs(str(path))
        if storage_options is not None or not isinstance(filesystem, LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        try:
            atomic_write(local_path, lambda handle: torch.save(checkpoint, handle))
        except (OSError, RuntimeError) as err:
            if not _out_of_space(err):
                raise
            needed, free = tensor_bytes(checkpoint), shutil.disk_usage(Path(local_path).parent).free
            raise CheckpointError(
                f"cannot write {local_path}: no space left on its device; the checkpoint needs "
                f"about {needed / 2**20:.1f} MiB, {free / 2**20:.1f} MiB are free. The previous "
                "checkpoint stays; free some space and resume with resume=true"
            ) from err

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: Callable[..., Any] | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        checkpoint = super().load_checkpoint(
            path, map_location, weights_only=True if weights_only is None else weights_only
        )
        verify_digest(path, checkpoint)
        return checkpoint


def _out_of_space(error: BaseException) -> bool:
    """Whether ``error`` or an error it was raised from is ``ENOSPC`` (torch's writer wraps the
    ``OSError`` of the file in a ``RuntimeError``)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        error = error.__cause__ or error.__context__
    return False


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


def keep_copy(source: Path, target: Path) -> None:
    """Make ``target`` a copy of ``source`` atomically, by a hard link when possible.

    ``source`` stays in place throughout, so that a crash at any moment leaves a checkpoint
    under the name the next run resumes from.
    """
    temporary = target.with_name(f".{target.name}.link.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
        os.replace(temporary, target)
    except OSError:  # no hard links on this file system: copy the bytes
        temporary.unlink(missing_ok=True)
        with source.open("rb") as reader:
            atomic_write(target, lambda handle: shutil.copyfileobj(reader, handle))


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

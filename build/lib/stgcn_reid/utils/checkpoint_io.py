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

import logging
import os
import random
import shutil
import zipfile
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
from stgcn_reid.utils.checkpoints import LAST_CHECKPOINT, PREVIOUS_CHECKPOINT
from stgcn_reid.utils.io import atomic_write

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file beside the target, fsync, then rename over it.

    Lightning's own writer goes through an fsspec transaction without fsync, after serialising
    the whole checkpoint into memory; this one streams to disk and survives a power loss
    (:func:`stgcn_reid.utils.io.atomic_write`). Remote paths (``s3://`` ...) keep Lightning's
    writer, whose object-store uploads are atomic themselves.

    Loading refuses pickled code (``weights_only=True``) unless the caller asks otherwise: the
    checkpoints of this project hold tensors and plain containers only.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        filesystem, local_path = url_to_fs(str(path))
        if storage_options is not None or not isinstance(filesystem, LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_write(local_path, lambda handle: torch.save(checkpoint, handle))

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: Callable[..., Any] | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        return super().load_checkpoint(
            path, map_location, weights_only=True if weights_only is None else weights_only
        )


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
        if self._due(trainer) or _last_epoch(trainer):
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
            "Stopped at step %d by %s; %s holds that step. Resume with resume=true "
            "hydra.run.dir=<this run's directory>, or ckpt_path=%s.",
            trainer.global_step,
            reason,
            self.last_path,
            self.last_path,
        )

    def save(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` (once per global step), keeping the previous one."""
        if trainer.global_step in (0, self._saved_step) or trainer.sanity_checking:
            return
        if not _weights_are_finite(trainer.lightning_module):
            log.warning(
                "Not writing %s at step %d: the model has non-finite weights; the previous "
                "checkpoint stays.",
                self.last_path,
                trainer.global_step,
            )
            return
        if trainer.is_global_zero and self.keep_previous and self.last_path.is_file():
            if _sound(self.last_path):
                keep_copy(self.last_path, self.dirpath / PREVIOUS_CHECKPOINT)
            else:  # never let a torn last.ckpt replace the good previous one
                log.warning("Replacing %s, which is not a valid checkpoint", self.last_path)
        trainer.save_checkpoint(self.last_path)
        self._saved_step = trainer.global_step

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
    """Whether ``path`` is a whole ``torch.save`` archive (its zip directory, at the end, reads)."""
    return path.is_file() and zipfile.is_zipfile(path)


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

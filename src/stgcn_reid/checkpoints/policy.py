"""Which checkpoint: the names of a run's checkpoints, the best and the tested one, and the one
a run resumes from.

A training run directory holds ``checkpoints/`` (:data:`CHECKPOINT_DIR`) with ``last.ckpt``
(:data:`LAST_CHECKPOINT`, written by :class:`~stgcn_reid.callbacks.resume.ResumeCheckpoint`),
the one it replaced (:data:`PREVIOUS_CHECKPOINT`) and the best by validation mAP (written by
Lightning's ``ModelCheckpoint``, named by ``conf/callbacks/default.yaml``: found through the
callback, never by globbing its name). ``metrics.json`` records which one the final test used.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint

from stgcn_reid.checkpoints.files import load_checkpoint
from stgcn_reid.checkpoints.rebuild import check_state_dict
from stgcn_reid.errors import CheckpointError

if TYPE_CHECKING:
    from stgcn_reid.data.datasets import VideoReIDDataset

log = logging.getLogger(__name__)

#: The folder of a run directory that holds its checkpoints.
CHECKPOINT_DIR = "checkpoints"
#: The checkpoint a run resumes from, in :data:`CHECKPOINT_DIR`, and the one it replaced.
LAST_CHECKPOINT = "last.ckpt"
PREVIOUS_CHECKPOINT = "last.prev.ckpt"
#: ``metrics.json``'s ``tested_checkpoint`` when the final test used the weights training ended
#: with (no validation ran, so no best checkpoint exists).
LAST_WEIGHTS = "last weights"


def last_checkpoint(run_dir: str | Path) -> Path:
    """``<run_dir>/checkpoints/last.ckpt`` (it may not exist yet)."""
    return Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT


def best_checkpoint(trainer: pl.Trainer) -> str:
    """The best checkpoint of the first ``ModelCheckpoint`` that monitors a metric, or ``""``."""
    return next(
        (
            callback.best_model_path
            for callback in trainer.checkpoint_callbacks
            if isinstance(callback, ModelCheckpoint) and callback.monitor
        ),
        "",
    )


def checkpoint_selection(best: str, dataset: VideoReIDDataset) -> dict[str, str]:
    """What the final test tests and by which rule (recorded in ``metrics.json``)."""
    if best:
        return {
            "tested_checkpoint": best,
            "checkpoint_rule": f"best val/mAP on the validation split ({dataset.val_source})",
        }
    reason = (
        "no validation ran before the end of training"
        if dataset.has_validation
        else "no validation split (data.val_split=none)"
    )
    log.warning("No best checkpoint (%s): testing the last weights.", reason)
    return {"tested_checkpoint": LAST_WEIGHTS, "checkpoint_rule": f"last epoch: {reason}"}


def tested_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint the run's final test used, as its ``metrics.json`` records it (chosen on
    the validation split; ``last.ckpt`` when the run had none)."""
    run_dir = Path(run_dir)
    try:
        tested = json.loads((run_dir / "metrics.json").read_text())["tested_checkpoint"]
    except (OSError, ValueError, KeyError) as err:
        raise FileNotFoundError(
            f"{run_dir}/metrics.json does not say which checkpoint was tested ({err!r})"
        ) from err
    path = last_checkpoint(run_dir) if tested == LAST_WEIGHTS else Path(tested)
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: the tested checkpoint {path} is gone")
    return path


def resolve_resume_checkpoint(cfg: DictConfig, module: torch.nn.Module) -> str | None:
    """The checkpoint to resume from: ``ckpt_path``, or the run directory's if ``resume``.

    ``resume``: ``false`` starts afresh; ``true`` continues the run in ``paths.output_dir``
    (see :func:`find_resume_checkpoint`); ``auto`` does the same when that directory holds a
    checkpoint and starts afresh otherwise (a job script that is requeued runs unchanged).
    ``resume_fallback=true`` resumes from the newest good checkpoint when ``last.ckpt`` is
    corrupt, instead of failing.

    The checkpoint is checked against ``module`` first, so that a wrong file fails with a message
    naming the mismatching keys instead of deep inside Lightning.
    """
    resume = cfg.get("resume", False)
    if resume not in (False, True, "auto"):
        raise ValueError(f"resume={resume!r}; expected false, true or auto")
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path)
        checkpoint = load_checkpoint(path)
    elif resume:
        found = find_resume_checkpoint(
            Path(cfg.paths.output_dir),
            required=resume is True,
            fallback=bool(cfg.get("resume_fallback", False)),
        )
        if found is None:
            log.info("resume=auto: no checkpoint in %s, starting afresh", cfg.paths.output_dir)
            return None
        path, checkpoint = found
    else:
        return None
    check_state_dict(path, checkpoint, module.state_dict())
    log.info("Resuming from %s (step %d)", path, checkpoint_step(checkpoint))
    return str(path)


def find_resume_checkpoint(
    run_dir: Path, required: bool = True, fallback: bool = False
) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint that continues the run in ``run_dir``, loaded.

    That is ``checkpoints/last.ckpt``, or a SLURM ``hpc_ckpt_<n>.ckpt`` (written by Lightning on
    the requeue signal) at a later step. A corrupt ``last.ckpt`` raises :class:`CheckpointError`
    naming it and listing the checkpoints of the run that load; with ``fallback`` the newest of
    them (by training step) is used instead, with a warning.

    Returns ``None`` when the run has no checkpoint and ``required`` is false.
    """
    last = last_checkpoint(run_dir)
    requeue = sorted(run_dir.glob("hpc_ckpt_*.ckpt"))
    if not last.is_file() and not requeue:
        if not required:
            return None
        raise CheckpointError(
            f"resume=true but there is no {last}; pass the run directory of the run to "
            "continue with hydra.run.dir=<run dir>, or give ckpt_path=<file>"
        )
    chosen: tuple[Path, dict[str, Any]] | None = None
    if last.is_file():
        try:
            chosen = last, load_checkpoint(last)
        except CheckpointError as err:
            return _instead_of_corrupt(run_dir, last, err, fallback)
    for path in requeue:
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as err:
            log.warning("ignoring %s", err)
            continue
        # On a tie last.ckpt wins: it is written between steps, not inside a signal handler.
        if chosen is None or checkpoint_step(checkpoint) > checkpoint_step(chosen[1]):
            chosen = path, checkpoint
    if chosen is None:
        raise CheckpointError(f"no checkpoint of {run_dir} loads: {', '.join(map(str, requeue))}")
    return chosen


def _instead_of_corrupt(
    run_dir: Path, corrupt: Path, error: CheckpointError, fallback: bool
) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint of the run other than ``corrupt`` if ``fallback``, else an error."""
    others = []
    for path in sorted(
        {*run_dir.glob(f"{CHECKPOINT_DIR}/*.ckpt"), *run_dir.glob("hpc_ckpt_*.ckpt")}
    ):
        if path != corrupt:
            try:
                others.append((path, load_checkpoint(path)))
            except CheckpointError:
                continue
    # Newest first; on a tie the previous last.ckpt, which holds the epoch end after validation.
    others.sort(
        key=lambda item: (checkpoint_step(item[1]), item[0].name == PREVIOUS_CHECKPOINT),
        reverse=True,
    )
    if not others:
        raise CheckpointError(
            f"cannot resume: {error}. No other checkpoint of {run_dir} loads; start afresh "
            "(resume=false) in a new run directory"
        )
    if not fallback:
        listing = "; ".join(f"{path} (step {checkpoint_step(c)})" for path, c in others)
        raise CheckpointError(
            f"cannot resume: {error}. Checkpoints of this run that load, newest first: "
            f"{listing}. Resume from one with ckpt_path=<file>, or set resume_fallback=true to "
            f"take the newest"
        )
    log.warning("%s; resume_fallback=true: resuming from %s instead", error, others[0][0])
    return others[0]


def checkpoint_step(checkpoint: Mapping[str, Any]) -> int:
    """The optimizer steps a Lightning checkpoint had taken."""
    return int(checkpoint.get("global_step", 0))

"""Choosing and checking checkpoints before they are loaded, with messages a user can act on."""

from __future__ import annotations

import hashlib
import logging
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint

log = logging.getLogger(__name__)

#: The checkpoint a run resumes from, in ``<run dir>/checkpoints/``, and the one it replaced.
LAST_CHECKPOINT = "last.ckpt"
PREVIOUS_CHECKPOINT = "last.prev.ckpt"
#: Key of the SHA-256 of every tensor of a checkpoint, stored when it is written.
DIGEST_KEY = "tensors_sha256"


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


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, damaged, cannot be written, or does not fit the
    model."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint's tensors and plain containers (``weights_only=True``).

    ``weights_only`` refuses pickled code, so a checkpoint from an untrusted source cannot run
    anything here (the trainer loads with ``weights_only=True`` too: see docs/robustness.md).
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
    verify_digest(path, checkpoint)
    return dict(checkpoint)


def tensors_digest(checkpoint: Mapping[str, Any]) -> str:
    """Hex SHA-256 over every tensor of a checkpoint (weights, optimizer moments, RNG states),
    with its place, dtype and shape; the stored digest itself is left out."""
    digest = hashlib.sha256()
    for place, tensor in _tensors({k: v for k, v in checkpoint.items() if k != DIGEST_KEY}):
        digest.update(f"{place}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().data if flat.numel() else b"")
    return digest.hexdigest()


def tensor_bytes(checkpoint: Mapping[str, Any]) -> int:
    """The bytes of every tensor of a checkpoint: about the size of its file."""
    return sum(tensor.nbytes for _, tensor in _tensors(checkpoint))


def _tensors(node: Any, place: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """``(place, tensor)`` of every tensor in nested dicts, lists and tuples, in stored order."""
    if isinstance(node, torch.Tensor):
        yield place, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _tensors(value, f"{place}/{key}")
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _tensors(value, f"{place}/{index}")


def verify_digest(path: str | Path, checkpoint: Mapping[str, Any]) -> None:
    """Raise :class:`CheckpointError` naming ``path`` when its tensors no longer match the
    digest stored when it was written (checkpoints without one, from before, pass)."""
    stored = checkpoint.get(DIGEST_KEY)
    if stored is not None and stored != tensors_digest(checkpoint):
        raise CheckpointError(
            f"{path} is damaged: its weights and states no longer match the SHA-256 stored when "
            "it was written (changed on disk since)"
        )


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
    last = run_dir / "checkpoints" / LAST_CHECKPOINT
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
    for path in sorted({*run_dir.glob("checkpoints/*.ckpt"), *run_dir.glob("hpc_ckpt_*.ckpt")}):
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


#: The only classes a checkpoint's stored run configuration may name as ``_target_``.
TRUSTED_TARGETS = frozenset(
    {
        "stgcn_reid.models.STGCN",
        "stgcn_reid.models.stgcn.STGCN",
        "stgcn_reid.models.ResNetBackbone",
        "stgcn_reid.models.backbone.ResNetBackbone",
        "stgcn_reid.data.datamodule.ReIDDataModule",
    }
)


def build_net(run_config: Mapping[str, Any]) -> torch.nn.Module:
    """The STGCN described by a checkpoint's ``run_config``, with freshly initialised weights.

    Backbone weights are not requested again (no download, no ``weights_path`` needed): the
    checkpoint's state dict carries all of them.

    The configuration comes from the checkpoint file, and Hydra calls whatever a ``_target_``
    names (here, and in ``stgcn_reid.eval`` for its dataset part): a configuration naming any
    other target than :data:`TRUSTED_TARGETS` is refused, so that a crafted checkpoint cannot
    have an arbitrary function called.
    """
    foreign = sorted(set(_targets(run_config)) - TRUSTED_TARGETS)
    if foreign:
        raise CheckpointError(
            f"the checkpoint's run configuration names _target_ {', '.join(foreign)}; only "
            f"{', '.join(sorted(TRUSTED_TARGETS))} may be built from a checkpoint"
        )
    model_cfg = dict(run_config["model"])
    model_cfg["backbone"] = {**model_cfg["backbone"], "weights": None, "weights_path": None}
    return hydra.utils.instantiate(model_cfg)


def _targets(node: Any) -> list[str]:
    """Every ``_target_`` value in a nested configuration of dicts and lists."""
    if isinstance(node, Mapping):
        own = [str(node["_target_"])] if "_target_" in node else []
        return own + [t for value in node.values() for t in _targets(value)]
    if isinstance(node, list | tuple):
        return [t for value in node for t in _targets(value)]
    return []


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

"""Checkpoint files: written atomically with the SHA-256 of their tensors, loaded checked.

- :class:`AtomicCheckpointIO` (``trainer.plugins``): how every checkpoint reaches the disk. A crash
  or a full disk while writing leaves the previous file intact.
- :func:`load_checkpoint`: how every checkpoint is read outside the trainer (evaluation,
  embedding, export, resume checks): tensors and plain containers only, digest verified.
- :func:`keep_copy`: an atomic copy (the previous ``last.ckpt``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from stgcn_reid.errors import CheckpointError
from stgcn_reid.utils.io import atomic_write

#: Key of the SHA-256 of every tensor of a checkpoint, stored when it is written.
DIGEST_KEY = "tensors_sha256"


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


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file beside the target, fsync, then rename over it.

    Lightning's own writer goes through an fsspec transaction without fsync, after serialising
    the whole checkpoint into memory; this one streams to disk and survives a power loss
    (:func:`stgcn_reid.utils.io.atomic_write`). Remote paths (``s3://`` ...) keep Lightning's
    writer, whose object-store uploads are atomic themselves.

    Every checkpoint carries the SHA-256 of its tensors (:data:`DIGEST_KEY`), checked on every
    load here and in :func:`load_checkpoint`, so that bytes changed on disk after the write fail
    naming the file.

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

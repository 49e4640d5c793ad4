"""Feature maps of a frozen backbone for every frame of a split, cached on disk.

Two cuts of the backbone are cached:

- ``rows`` (the frozen-feature study): the whole backbone, each frame stored as its ``[h, C]``
  row means. Every branch of STGCN pools whole rows of the feature map (the global branch all
  of them, the patch graphs horizontal stripes of rows, §3.1), so the branches computed on them
  equal the branches on the full map (:meth:`stgcn_reid.models.STGCN.forward_maps`), at
  ``1 / w`` of the size.
- ``layer3`` (the last-stage study): the ResNet up to ``layer3``, each frame its full
  ``[C, h, w]`` map, on which ``layer4`` is trained with the branches.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from stgcn_reid.data.clips import read_frame
from stgcn_reid.data.datasets import Tracklet
from stgcn_reid.data.transforms import build_test_transform
from stgcn_reid.models import ResNetBackbone
from stgcn_reid.utils.io import atomic_write

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameFeatures:
    """Cached features of every frame of some tracklets, frames of a tracklet contiguous.

    Attributes:
        rows: float16 ``[num_frames, h, C]`` row means (cut ``rows``) or ``[num_frames, C, h,
            w]`` maps (cut ``layer3``).
        flipped: the same of the horizontally flipped frames (training splits), or ``None``.
        offsets: int64 ``[num_tracklets + 1]``; tracklet ``i`` is ``rows[offsets[i]:offsets[i+1]]``.
        pids, camids: int64 ``[num_tracklets]``.
    """

    rows: np.ndarray
    flipped: np.ndarray | None
    offsets: np.ndarray
    pids: np.ndarray
    camids: np.ndarray

    @property
    def cut(self) -> str:
        """The cut of the backbone whose output this holds (see :data:`CUTS`)."""
        return "layer3" if self.rows.ndim == 4 else "rows"

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.pids)


#: The cuts of the backbone that can be cached (see the module docstring).
CUTS: tuple[str, ...] = ("rows", "layer3")


def cache_key(
    weights: Path, dataset_name: str, height: int, width: int, arch: str, cut: str = "rows"
) -> str:
    """Names a cache by what produced it: the weights file's content, the data, the input size,
    the cut (``rows`` keys are those of the caches written before ``layer3`` existed)."""
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(f"{dataset_name}|{height}x{width}|{arch}".encode())
    if cut != "rows":
        digest.update(f"|{cut}".encode())
    return digest.hexdigest()[:12]


def frozen_part(backbone: ResNetBackbone, cut: str) -> nn.Module:
    """The part of ``backbone`` whose output a cache of ``cut`` holds."""
    if cut == "rows":
        return backbone
    if cut == "layer3":
        parts = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3")
        return nn.Sequential(*(getattr(backbone, name) for name in parts))
    raise ValueError(f"unknown cut {cut!r}; expected one of {CUTS}")


@torch.inference_mode()
def frame_rows(backbone: nn.Module, frames: Tensor, flip: bool = False) -> Tensor:
    """``[N, 3, H, W]`` normalised frames -> ``[N, h, C]`` row means of the feature maps."""
    return frame_maps(backbone, frames, flip).mean(dim=-1).transpose(1, 2)


@torch.inference_mode()
def frame_maps(part: nn.Module, frames: Tensor, flip: bool = False) -> Tensor:
    """``[N, 3, H, W]`` normalised frames -> ``[N, C, h, w]`` feature maps of ``part``."""
    return part(frames.flip(-1) if flip else frames)


def extract_split(
    backbone: nn.Module,
    tracklets: Sequence[Tracklet],
    folder: Path,
    height: int,
    width: int,
    flips: bool,
    batch_size: int = 64,
    desc: str = "frames",
    cut: str = "rows",
) -> FrameFeatures:
    """The :class:`FrameFeatures` of ``tracklets``, read from ``folder`` if a previous call
    completed it, else computed (the backbone in eval mode) and written there atomically.

    ``backbone`` is the whole backbone for cut ``rows``, :func:`frozen_part` for ``layer3``.
    A split is the unit of resumption: an interrupted extraction restarts that split.
    """
    names = ("rows", "flipped", "offsets", "pids", "camids")
    paths = {name: folder / f"{name}.npy" for name in names}
    if not paths["camids"].exists():  # written last: its presence marks a complete split
        encode = frame_rows if cut == "rows" else frame_maps
        _extract(encode, backbone, tracklets, paths, (height, width), flips, batch_size, desc)
    loaded = {name: np.load(path, mmap_mode="r") for name, path in paths.items() if path.exists()}
    return FrameFeatures(
        rows=loaded["rows"],
        flipped=loaded.get("flipped"),
        offsets=np.array(loaded["offsets"]),  # small: copied into (writable) memory
        pids=np.array(loaded["pids"]),
        camids=np.array(loaded["camids"]),
    )


def _extract(
    encode: Callable[..., Tensor],
    backbone: nn.Module,
    tracklets: Sequence[Tracklet],
    paths: dict[str, Path],
    size: tuple[int, int],
    flips: bool,
    batch_size: int,
    desc: str,
) -> None:
    transform = build_test_transform(*size)
    frames = [frame for tracklet in tracklets for frame in tracklet.frames]
    backbone.eval()
    rows, flipped = [], []
    for start in tqdm(range(0, len(frames), batch_size), desc=desc, unit="batch"):
        batch = torch.stack([transform(read_frame(f)) for f in frames[start : start + batch_size]])
        rows.append(encode(backbone, batch).half())
        if flips:
            flipped.append(encode(backbone, batch, flip=True).half())
    offsets = np.concatenate([[0], np.cumsum([len(t.frames) for t in tracklets])])
    arrays = {
        "rows": torch.cat(rows).numpy(),
        "flipped": torch.cat(flipped).numpy() if flips else None,
        "offsets": offsets.astype(np.int64),
        "pids": np.array([t.pid for t in tracklets], dtype=np.int64),
        "camids": np.array([t.camid for t in tracklets], dtype=np.int64),
    }
    for name, array in arrays.items():  # camids last: see extract_split
        if array is not None:
            atomic_write(paths[name], lambda handle, a=array: np.save(handle, a))
    log.info("cached %d frames of %d tracklets in %s", len(frames), len(tracklets), paths["rows"])

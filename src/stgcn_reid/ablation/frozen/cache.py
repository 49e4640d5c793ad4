"""Feature maps of a frozen backbone for every frame of a split, cached on disk.

Every branch of STGCN pools whole rows of the backbone's feature map (the global branch all of
them, the patch graphs horizontal stripes of rows, §3.1), so a frame is stored as its
``[h, C]`` row means: the branches computed on them equal the branches on the full map
(:meth:`stgcn_reid.models.STGCN.forward_maps`), at ``1 / w`` of the size.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from stgcn_reid.data.clips import read_frame
from stgcn_reid.data.datasets import Tracklet
from stgcn_reid.data.transforms import build_test_transform
from stgcn_reid.utils.io import atomic_write

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameFeatures:
    """Row-mean feature maps of every frame of some tracklets, frames of a tracklet contiguous.

    Attributes:
        rows: float16 ``[num_frames, h, C]``.
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
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.pids)


def cache_key(weights: Path, dataset_name: str, height: int, width: int, arch: str) -> str:
    """Names a cache by what produced it: the weights file's content, the data, the input size."""
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(f"{dataset_name}|{height}x{width}|{arch}".encode())
    return digest.hexdigest()[:12]


@torch.inference_mode()
def frame_rows(backbone: nn.Module, frames: Tensor, flip: bool = False) -> Tensor:
    """``[N, 3, H, W]`` normalised frames -> ``[N, h, C]`` row means of the feature maps."""
    if flip:
        frames = frames.flip(-1)
    return backbone(frames).mean(dim=-1).transpose(1, 2)


def extract_split(
    backbone: nn.Module,
    tracklets: Sequence[Tracklet],
    folder: Path,
    height: int,
    width: int,
    flips: bool,
    batch_size: int = 64,
    desc: str = "frames",
) -> FrameFeatures:
    """The :class:`FrameFeatures` of ``tracklets``, read from ``folder`` if a previous call
    completed it, else computed (the backbone in eval mode) and written there atomically.

    A split is the unit of resumption: an interrupted extraction restarts that split.
    """
    names = ("rows", "flipped", "offsets", "pids", "camids")
    paths = {name: folder / f"{name}.npy" for name in names}
    if not paths["camids"].exists():  # written last: its presence marks a complete split
        _extract(backbone, tracklets, paths, height, width, flips, batch_size, desc)
    loaded = {name: np.load(path, mmap_mode="r") for name, path in paths.items() if path.exists()}
    return FrameFeatures(
        rows=loaded["rows"],
        flipped=loaded.get("flipped"),
        offsets=np.array(loaded["offsets"]),  # small: copied into (writable) memory
        pids=np.array(loaded["pids"]),
        camids=np.array(loaded["camids"]),
    )


def _extract(
    backbone: nn.Module,
    tracklets: Sequence[Tracklet],
    paths: dict[str, Path],
    height: int,
    width: int,
    flips: bool,
    batch_size: int,
    desc: str,
) -> None:
    transform = build_test_transform(height, width)
    frames = [frame for tracklet in tracklets for frame in tracklet.frames]
    backbone.eval()
    rows, flipped = [], []
    for start in tqdm(range(0, len(frames), batch_size), desc=desc, unit="batch"):
        batch = torch.stack([transform(read_frame(f)) for f in frames[start : start + batch_size]])
        rows.append(frame_rows(backbone, batch).half())
        if flips:
            flipped.append(frame_rows(backbone, batch, flip=True).half())
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

"""Training frames decoded once and kept in memory (``data.cache_frames``).

Every epoch the training loader decodes the frames it samples. Where the loader's workers
share the cores with the training step (the 2-core CPU default), that decoding is the largest
cost of the loop outside the step (``benchmarks/loop.py``: the ``+ loader`` rows). With
``data.cache_frames=true`` the datamodule decodes every training frame once, before training,
into one flat uint8 buffer (frames may differ in size), and the clips read views of it.

The buffer is built in the main process. Forked DataLoader workers share its pages (Linux's
default start method up to Python 3.13). Under ``spawn`` or ``forkserver``, torch moves it to
shared memory (``/dev/shm``) for the workers. Each process of a multi-GPU run holds its own.

Memory is the frames' decoded size, ``3 * H * W`` bytes each. For example, MARS's 509,914
training frames at 256 x 128 need 50 GB, which is why the option is off by default. The
synthetic benchmarks' presets turn it on. The size is checked from the image headers before
anything is decoded, against half of the memory available, so a set that does not fit stops
with a clear error instead of swapping.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from stgcn_reid.data.clips import read_frame
from stgcn_reid.errors import DatasetError

log = logging.getLogger(__name__)


def available_bytes() -> int:
    """Memory the system can give now (Linux/macOS ``sysconf``; unbounded elsewhere)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def frame_size(path: str) -> tuple[int, int] | None:
    """``(height, width)`` from the image header, or ``None`` if it cannot be read."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError):
        return None
    return height, width


class DecodedFrames:
    """Every readable frame of ``paths`` as a uint8 ``[3, H, W]`` view of one buffer.

    Unreadable frames are left out: :meth:`read` decodes them from disk, so that
    ``data.skip_corrupt`` keeps its meaning. The views share the buffer: transforms must not
    write into their input (torchvision's v2 transforms do not, by default).
    """

    def __init__(
        self, paths: Sequence[str], max_bytes: int | None = None, progress: bool = True
    ) -> None:
        unique = list(dict.fromkeys(paths))
        sizes = {p: s for p in unique if (s := frame_size(p)) is not None}
        total = sum(3 * h * w for h, w in sizes.values())
        limit = available_bytes() // 2 if max_bytes is None else max_bytes
        if total > limit:
            raise DatasetError(
                f"data.cache_frames: the {len(sizes):,} training frames need "
                f"{total / 2**30:.1f} GiB decoded, more than the {limit / 2**30:.1f} GiB "
                "allowed (half of the memory available); set data.cache_frames=false"
            )
        self.buffer = torch.empty(total, dtype=torch.uint8)
        self.index: dict[str, tuple[int, int, int]] = {}
        offset = 0
        for path, (height, width) in tqdm(
            sizes.items(), desc="decoding training frames", unit="frame", disable=not progress
        ):
            size = 3 * height * width
            try:
                frame = read_frame(path)
            except DatasetError:  # a readable header, a broken body (e.g. a truncated JPEG)
                continue
            if frame.shape != (3, height, width):  # a header that lies: keep it out
                continue
            self.buffer[offset : offset + size] = frame.reshape(-1)
            self.index[path] = (offset, height, width)
            offset += size
        log.info(
            "decoded %d training frames into memory (%.2f GiB)", len(self.index), offset / 2**30
        )

    def __len__(self) -> int:
        return len(self.index)

    @property
    def nbytes(self) -> int:
        return self.buffer.numel()

    def read(self, path: str) -> Tensor:
        """The frame at ``path``: a view of the buffer, or decoded from disk if not held."""
        if path not in self.index:
            return read_frame(path)
        offset, height, width = self.index[path]
        return self.buffer[offset : offset + 3 * height * width].view(3, height, width)

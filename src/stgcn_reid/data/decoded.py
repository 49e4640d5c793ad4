"""Training frames decoded once and kept in memory (``data.cache_frames``).

Every epoch the training loader decodes the frames it samples. Where the loader's workers
share the cores with the training step (the 2-core CPU default), that decoding is the largest
cost of the loop outside the step (``benchmarks/loop.py``: the ``+ loader`` rows). With
``data.cache_frames=true`` the datamodule decodes every training frame once, when it builds
the training loader, into one flat uint8 buffer (frames may differ in size), and the clips
read views of it.

The buffer is built in the main process. Forked DataLoader workers share its pages (Linux's
default start method up to Python 3.13). Under ``spawn`` or ``forkserver``, torch moves it to
shared memory (``/dev/shm``, which a container may keep small) for the workers.

Memory is the frames' decoded size, ``3 * H * W`` bytes each. For example, MARS's 509,914
training frames at 256 x 128 need 50 GB, which is why the option is off by default. The
synthetic benchmarks' presets turn it on. The size is read from the image headers before
anything is decoded. It is compared with half of the memory this process can still take,
shared among the training processes of the node. A set that does not fit is not cached: a
warning says so, and the frames are read from disk as without the option.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from stgcn_reid.data import clips
from stgcn_reid.errors import DatasetError

log = logging.getLogger(__name__)

UNBOUNDED = 1 << 62


def available_bytes(
    meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")
) -> int:
    """Memory this process can still take: ``MemAvailable`` (free memory plus reclaimable
    page cache), capped by the cgroup v2 limit of a container or batch job, where readable
    (Linux); unbounded where neither is."""
    limits = []
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        high = (cgroup / "memory.max").read_text().strip()
        if high != "max":
            limits.append(int(high) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return min(limits) if limits else UNBOUNDED


def frame_size(path: str) -> tuple[int, int] | None:
    """``(height, width)`` from the image header, or ``None`` if it cannot be read."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except clips.UNREADABLE:
        return None
    return height, width


class DecodedFrames:
    """Every readable frame of ``paths`` as a uint8 ``[3, H, W]`` view of one buffer.

    ``max_bytes`` bounds the buffer (default: half of :func:`available_bytes`, shared by the
    ``processes`` that each hold a copy, e.g. the training processes of a node). A set that needs
    more is not held at all, and a warning says so. Frames that cannot be decoded are not held
    either: :meth:`read` decodes them from disk, so that ``data.skip_corrupt`` keeps its
    meaning. The views share the buffer, so transforms must not write into their input
    (torchvision's v2 transforms do not, by default).
    """

    def __init__(
        self,
        paths: Sequence[str],
        max_bytes: int | None = None,
        processes: int = 1,
        progress: bool = True,
    ) -> None:
        unique = list(dict.fromkeys(paths))
        sizes = {p: s for p in unique if (s := frame_size(p)) is not None}
        total = sum(3 * h * w for h, w in sizes.values())
        limit = available_bytes() // (2 * processes) if max_bytes is None else max_bytes
        if total > limit:
            log.warning(
                "data.cache_frames: the %d training frames need %.1f GiB decoded, more than "
                "the %.1f GiB allowed (half of the memory available): reading them from disk",
                len(sizes),
                total / 2**30,
                limit / 2**30,
            )
            sizes, total = {}, 0
        self.buffer = torch.empty(total, dtype=torch.uint8)
        self.index: dict[str, tuple[int, int, int]] = {}
        offset = 0
        for path, (height, width) in tqdm(
            sizes.items(), desc="decoding training frames", unit="frame", disable=not progress
        ):
            try:
                frame = clips.read_frame(path)
            except DatasetError:  # a readable header, a broken body (e.g. a truncated JPEG)
                continue
            if frame.shape != (3, height, width):  # a header that lies: keep it out
                continue
            size = 3 * height * width
            self.buffer[offset : offset + size] = frame.reshape(-1)
            self.index[path] = (offset, height, width)
            offset += size
        if sizes:
            log.info(
                "decoded %d training frames into memory (%.2f GiB); %d unreadable ones are "
                "read from disk when sampled",
                len(self.index),
                offset / 2**30,
                len(unique) - len(self.index),
            )

    def __len__(self) -> int:
        return len(self.index)

    def read(self, path: str) -> Tensor:
        """The frame at ``path``: a view of the buffer, or decoded from disk if not held."""
        if path not in self.index:
            return clips.read_frame(path)
        offset, height, width = self.index[path]
        return self.buffer[offset : offset + 3 * height * width].view(3, height, width)

"""Torch datasets that turn tracklet records into transformed clips ``[T, 3, H, W]``.

Frames are decoded with PIL (torchvision's own decoders are deprecated since 0.29 in favour of
TorchCodec, which this project does not depend on). An unreadable frame (missing, empty,
truncated or not an image) raises :class:`DatasetError` naming its path; with
``skip_corrupt=True`` it is replaced by the nearest readable frame of the same tracklet and a
warning names both paths.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms.v2.functional import pil_to_tensor

from stgcn_reid.data.datasets.base import Tracklet
from stgcn_reid.data.temporal import EVAL_SAMPLINGS, eval_clips, num_eval_clips, restricted_random
from stgcn_reid.errors import DatasetError

#: A v2 transform: it takes a clip as one stacked ``tv_tensors.Image`` ``[T, 3, H, W]`` or as a
#: list of frames, and returns the same form.
ClipTransform = Callable[[Any], Any]
#: A frame path -> uint8 ``[3, H, W]`` (:func:`read_frame`, or frames held in memory).
FrameReader = Callable[[str], Tensor]
Sampling = Literal["evenly", "consecutive", "strided"]
#: What PIL raises for missing, empty, truncated and non-image files (OSError); some broken
#: chunks surface as SyntaxError or ValueError.
UNREADABLE = (OSError, SyntaxError, ValueError)


def read_frame(path: str) -> Tensor:
    """One frame as a uint8 RGB tensor ``[3, H, W]``; :class:`DatasetError` if unreadable."""
    try:
        with Image.open(path) as image:
            # convert() copies even an RGB image (a fifth of a small frame's decoding time)
            return pil_to_tensor(image if image.mode == "RGB" else image.convert("RGB"))
    except UNREADABLE as err:
        raise DatasetError(f"{path}: unreadable frame ({err})") from err


def load_clip(
    frames: Sequence[str],
    indices: np.ndarray,
    skip_corrupt: bool,
    read: FrameReader | None = None,
) -> list[Tensor]:
    """Decode ``frames[i]`` for every ``i`` in ``indices`` (each distinct frame once), with
    ``read`` (default :func:`read_frame`)."""
    read = read or read_frame
    unique = np.unique(indices).tolist()
    decoded = {i: _read_or_replace(frames, i, skip_corrupt, read) for i in unique}
    return [decoded[i] for i in indices.tolist()]


def _read_or_replace(
    frames: Sequence[str], index: int, skip_corrupt: bool, read: FrameReader
) -> Tensor:
    try:
        return read(frames[index])
    except DatasetError as err:
        if not skip_corrupt:
            raise
        reason = err
    for other in _nearest_first(index, len(frames)):
        try:
            image = read(frames[other])
        except DatasetError:
            continue
        warnings.warn(f"{reason}; using {frames[other]} instead", RuntimeWarning, stacklevel=2)
        return image
    raise DatasetError(f"no readable frame in the tracklet of {frames[index]} ({reason})")


def _nearest_first(index: int, n: int) -> Iterator[int]:
    """The other frame indices of a tracklet of ``n`` frames, nearest to ``index`` first."""
    for step in range(1, n):
        for other in (index + step, index - step):
            if 0 <= other < n:
                yield other


def transform_clip(transform: ClipTransform, frames: list[Tensor]) -> Tensor:
    """Apply one clip transform to all frames (one random draw) and stack them ``[T, 3, H, W]``.

    Frames of one size (MARS, the synthetic benchmarks) are stacked first and transformed in one
    call, about 7x cheaper than a call over a list of ``T`` frames, with the same random draws
    and so the same result. The frames of a DukeMTMC-VideoReID tracklet differ in size until they
    are resized, so those go in as a list and are stacked after the transform.
    """
    if all(frame.shape == frames[0].shape for frame in frames):
        return transform(tv_tensors.Image(torch.stack(frames))).as_subclass(Tensor)
    return torch.stack(transform([tv_tensors.Image(frame) for frame in frames]))


class TrainClips(Dataset[dict[str, Tensor]]):
    """Training clips: ``T`` frames per tracklet by restricted random sampling (paper Sec. 4.2).

    Every random choice of an item (its frames, the flip, the erased box) comes from
    ``(seed, epoch, index, occurrence)``, never from a worker's global state, so the clips do
    not depend on the number of DataLoader workers. ``occurrence`` numbers repeats of one index
    inside a batch (identities with fewer than ``K`` tracklets), which therefore get different
    clips.

    The epoch lives in a shared-memory tensor: :meth:`set_epoch` in the main process also
    reaches persistent DataLoader workers, which hold their own copy of the dataset.

    Items: ``{"clips": float [T, 3, H, W], "pid": long, "camid": long}``.
    """

    def __init__(
        self,
        tracklets: Sequence[Tracklet],
        seq_len: int,
        transform: ClipTransform,
        seed: int = 0,
        skip_corrupt: bool = False,
        read: FrameReader | None = None,
    ) -> None:
        self.tracklets = list(tracklets)
        self.seq_len = seq_len
        self.transform = transform
        self.seed = seed
        self.skip_corrupt = skip_corrupt
        self.read = read
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch that seeds the items (see the class docstring)."""
        self._epoch.fill_(epoch)

    def __len__(self) -> int:
        return len(self.tracklets)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self._item(index, occurrence=0)

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Tensor]]:
        """One batch (the DataLoader calls this instead of ``__getitem__`` when it exists)."""
        seen: dict[int, int] = {}
        items = []
        for index in indices:
            items.append(self._item(index, occurrence=seen.get(index, 0)))
            seen[index] = seen.get(index, 0) + 1
        return items

    def _item(self, index: int, occurrence: int) -> dict[str, Tensor]:
        tracklet = self.tracklets[index]
        rng = np.random.default_rng([self.seed, self.epoch, index, occurrence])
        indices = restricted_random(len(tracklet.frames), self.seq_len, rng)
        frames = load_clip(tracklet.frames, indices, self.skip_corrupt, self.read)
        # The v2 transforms draw from torch's global CPU generator: seed a private copy of it.
        # Not torch.manual_seed, which also seeds every device's generator: where CUDA is not
        # initialised (a worker, a CPU run) each call records a traceback for a lazy seed (about
        # 40 % of a batch's loading time), and in a GPU run's main process it reseeds CUDA's.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(int(rng.integers(2**63)))
            clip = transform_clip(self.transform, frames)
        return {
            "clips": clip,
            "pid": torch.tensor(tracklet.pid),
            "camid": torch.tensor(tracklet.camid),
        }


class TestClips(Dataset[dict[str, Tensor]]):
    """Every tracklet as a run of clip items, for feature extraction (deterministic).

    ``sampling`` is a rule of :func:`~stgcn_reid.data.temporal.eval_clips`: ``"strided"``
    (every frame, in clips that each span the tracklet like a training clip), ``"consecutive"``
    (every frame, in runs of ``T``) or ``"evenly"`` (one clip of ``T`` spread frames). The
    tracklet feature is the mean of its clip features weighted by ``weight`` (the frames each
    clip adds), so every frame counts once.

    Items: ``{"clips", "pid", "camid", "track", "weight"}`` where ``track`` is the index of the
    tracklet in ``tracklets``, plus ``extras[key][track]`` for every key of ``extras``
    (per-tracklet values passed through, e.g. ``is_query``). Items of one tracklet are
    consecutive; :attr:`clips_per_tracklet` gives their counts.
    """

    __test__ = False  # a dataset, not a pytest test class, despite its name

    def __init__(
        self,
        tracklets: Sequence[Tracklet],
        seq_len: int,
        transform: ClipTransform,
        sampling: Sampling = "strided",
        extras: Mapping[str, Sequence[Any]] | None = None,
        skip_corrupt: bool = False,
    ) -> None:
        if sampling not in EVAL_SAMPLINGS:
            raise ValueError(f"test sampling must be one of {EVAL_SAMPLINGS}, got {sampling!r}")
        self.extras = dict(extras or {})
        for key, values in self.extras.items():
            if key in ("clips", "pid", "camid", "track", "weight"):
                raise ValueError(f"extras key {key!r} would overwrite an item field")
            if len(values) != len(tracklets):
                raise ValueError(
                    f"extras[{key!r}] has {len(values)} values for {len(tracklets)} tracklets"
                )
        self.tracklets = list(tracklets)
        self.seq_len = seq_len
        self.transform = transform
        self.sampling = sampling
        self.skip_corrupt = skip_corrupt
        counts = np.array(
            [num_eval_clips(len(t.frames), seq_len, sampling) for t in self.tracklets],
            dtype=np.int64,
        )
        self.clips_per_tracklet: list[int] = counts.tolist()
        # Item i is clip number _clip_of[i] of tracklet _track_of[i].
        self._track_of = np.repeat(np.arange(len(counts)), counts)
        self._clip_of = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)

    def __len__(self) -> int:
        return len(self._track_of)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        track = int(self._track_of[index])
        tracklet = self.tracklets[track]
        clips, weights = eval_clips(len(tracklet.frames), self.seq_len, self.sampling)
        number = self._clip_of[index]
        frames = load_clip(tracklet.frames, clips[number], self.skip_corrupt)
        item = {
            "clips": transform_clip(self.transform, frames),
            "pid": torch.tensor(tracklet.pid),
            "camid": torch.tensor(tracklet.camid),
            "track": torch.tensor(track),
            "weight": torch.tensor(weights[number], dtype=torch.float32),
        }
        for key, values in self.extras.items():
            item[key] = torch.as_tensor(values[track])
        return item

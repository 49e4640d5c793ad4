"""Embedding tracklets with a trained STGCN, exactly as the evaluation does, without training code.

:class:`Embedder` rebuilds the network of a checkpoint written by ``stgcn_reid.train`` and reads
the test-time input settings from the checkpoint's stored run configuration (``data.seq_len``,
``data.height``, ``data.width``, ``data.test_sampling``): no Hydra composition, no Lightning.

A tracklet is turned into a descriptor the way :class:`~stgcn_reid.data.clips.TestClips` and
:class:`~stgcn_reid.evaluation.ReIDMetric` do it in evaluation, with the same functions:

1. frame indices and clip weights by :func:`~stgcn_reid.data.temporal.eval_clips` with the
   checkpoint's ``data.test_sampling`` (``strided``: every frame, each clip spanning the
   tracklet as in training; ``consecutive``: every frame in runs of ``T``; ``evenly``: one clip
   of ``T`` spread frames);
2. each clip resized and ImageNet-normalised by
   :func:`~stgcn_reid.data.transforms.build_test_transform`;
3. ``f_all`` (the concatenated global, temporal and structural features, paper eq. 9) per clip,
   averaged over the clips of the tracklet with the clip weights (every frame counts once).

Frames may be image paths (decoded with :func:`~stgcn_reid.data.clips.load_clip`, as in
evaluation), PIL images, or a ``uint8`` tensor / array ``[T, H, W, 3]`` (RGB).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms.v2.functional import pil_to_tensor
from tqdm.auto import tqdm

from stgcn_reid.checkpoints.rebuild import load_net

# The evaluation's own clip transform and loader: this module must preprocess exactly
# as TestClips does.
from stgcn_reid.data.clips import ClipTransform, Sampling, load_clip, transform_clip
from stgcn_reid.data.temporal import EVAL_SAMPLINGS, eval_clips
from stgcn_reid.data.transforms import build_test_transform
from stgcn_reid.errors import CheckpointError
from stgcn_reid.models import STGCN

#: One tracklet: frame paths, PIL images, or a uint8 ``[T, H, W, 3]`` RGB tensor / array.
Frames: TypeAlias = Sequence[str | Path] | Sequence[Image.Image] | Tensor | np.ndarray
#: Decodes the frames at some indices into uint8 ``[3, H, W]`` tensors.
FrameLoader: TypeAlias = Callable[[np.ndarray], list[Tensor]]


class Embedder:
    """A trained STGCN with its test-time sampling and preprocessing.

    Args:
        net: the network, in eval mode (see :meth:`from_checkpoint`).
        seq_len: clip length ``T``.
        height, width: input size of every frame.
        sampling: a rule of :func:`~stgcn_reid.data.temporal.eval_clips` (``"strided"``,
            ``"consecutive"`` or ``"evenly"``).
        device: where the network runs; embeddings are returned on the CPU.
        skip_corrupt: replace an unreadable frame file by its nearest readable neighbour (with
            a warning) instead of raising :class:`~stgcn_reid.data.datasets.base.DatasetError`.
        run_config: the run configuration the network was trained with (kept as metadata).
    """

    def __init__(
        self,
        net: STGCN,
        seq_len: int,
        height: int,
        width: int,
        sampling: Sampling = "strided",
        device: str | torch.device = "cpu",
        skip_corrupt: bool = False,
        run_config: Mapping[str, Any] | None = None,
    ) -> None:
        if sampling not in EVAL_SAMPLINGS:
            raise ValueError(f"sampling must be one of {EVAL_SAMPLINGS}, got {sampling!r}")
        self.net = net.eval()
        self.seq_len = seq_len
        self.image_size = (height, width)
        self.sampling: Sampling = sampling
        self.device = torch.device(device)
        self.skip_corrupt = skip_corrupt
        self.run_config: Mapping[str, Any] = dict(run_config or {})
        self.transform: ClipTransform = build_test_transform(height, width)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device = "cpu", skip_corrupt: bool = False
    ) -> Embedder:
        """The network and test-time settings of a checkpoint written by ``stgcn_reid.train``.

        Raises:
            CheckpointError: the file is missing, not a checkpoint, not written by
                ``stgcn_reid.train``, or its weights do not fit its stored model config.
        """
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={device} was asked for, but CUDA is not available here")
        loaded = load_net(path, map_location=device)
        if not isinstance(loaded.net, STGCN):
            raise CheckpointError(
                f"{path} holds a {type(loaded.net).__name__}, not an STGCN: not a checkpoint of "
                "this project's model"
            )
        data = loaded.run_config.get("data") or {}
        settings = {key: data.get(key) for key in ("seq_len", "height", "width", "test_sampling")}
        missing = [f"data.{key}" for key, value in settings.items() if value is None]
        if missing:
            raise CheckpointError(
                f"{path}: the stored run configuration lacks {', '.join(missing)}, which fix "
                "the test-time input; re-save it with the current stgcn_reid.train"
            )
        return cls(
            loaded.net,
            seq_len=settings["seq_len"],
            height=settings["height"],
            width=settings["width"],
            sampling=settings["test_sampling"],
            device=device,
            skip_corrupt=skip_corrupt,
            run_config=loaded.run_config,
        )

    @property
    def embedding_dim(self) -> int:
        """Width ``D`` of an embedding (``f_all``)."""
        return self.net.embedding_dim

    def preprocess(self, frames: Frames) -> Tensor:
        """The network input of one tracklet: float ``[num_clips, T, 3, H, W]``, normalised.

        This is also the input an exported model (:mod:`stgcn_reid.export`) takes.
        """
        rows, _, load = self._clip_plan(frames, "the tracklet")
        return torch.stack([self._clip(load, indices) for indices in rows])

    def embed(self, frames: Frames, batch_size: int = 32) -> Tensor:
        """The embedding ``[D]`` (float32, CPU) of one tracklet: the mean of its clip features.

        A long tracklet runs in forward passes of at most ``batch_size`` clips.
        """
        return self.embed_many([frames], batch_size=batch_size, progress=False)[0]

    @torch.inference_mode()
    def embed_many(
        self, tracklets: Sequence[Frames], batch_size: int = 32, progress: bool = True
    ) -> Tensor:
        """Embeddings ``[N, D]`` (float32, CPU) of ``N`` tracklets, in order.

        The clips of consecutive tracklets share forward passes of ``batch_size`` clips, so
        short tracklets do not each pay for a nearly empty batch. ``progress`` shows a tqdm bar
        counting finished tracklets.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        sums = torch.zeros(len(tracklets), self.embedding_dim)
        counts = torch.zeros(len(tracklets))
        batch: list[tuple[int, Tensor, float, bool]] = []
        with tqdm(total=len(tracklets), unit="tracklet", disable=not progress) as bar:
            for item in self._all_clips(tracklets):
                batch.append(item)
                if len(batch) == batch_size:
                    self._accumulate(batch, sums, counts, bar)
                    batch = []
            if batch:
                self._accumulate(batch, sums, counts, bar)
        # Weighted sum, then divide: the clip mean of ReIDMetric, so both give the same numbers.
        return sums / counts[:, None]

    def _accumulate(
        self,
        batch: list[tuple[int, Tensor, float, bool]],
        sums: Tensor,
        counts: Tensor,
        bar: tqdm,
    ) -> None:
        """Run one batch of clips and add each weighted clip feature to its tracklet's sum."""
        tracks = torch.tensor([track for track, _, _, _ in batch])
        weights = torch.tensor([weight for _, _, weight, _ in batch], dtype=torch.float32)
        clips = torch.stack([clip for _, clip, _, _ in batch]).to(self.device)
        features = self.net(clips).embedding.float().cpu()
        sums.index_add_(0, tracks, features * weights[:, None])
        counts.index_add_(0, tracks, weights)
        bar.update(sum(last for _, _, _, last in batch))

    def _all_clips(self, tracklets: Sequence[Frames]) -> Iterator[tuple[int, Tensor, float, bool]]:
        """``(tracklet index, clip, clip weight, is the tracklet's last clip)`` for every clip,
        in order.

        Clips are decoded one at a time: a long tracklet never sits in memory whole.
        """
        for track, frames in enumerate(tracklets):
            rows, weights, load = self._clip_plan(frames, f"tracklet {track}")
            for number, indices in enumerate(rows):
                last = number == len(rows) - 1
                yield track, self._clip(load, indices), float(weights[number]), last

    def _clip_plan(self, frames: Frames, what: str) -> tuple[np.ndarray, np.ndarray, FrameLoader]:
        """The frame indices of every clip ``[num_clips, T]``, their weights and the decoder."""
        num_frames, load = self._frame_loader(frames, what)
        rows, weights = eval_clips(num_frames, self.seq_len, self.sampling)
        return rows, weights, load

    def _clip(self, load: FrameLoader, indices: np.ndarray) -> Tensor:
        """One transformed clip ``[T, 3, H, W]``: the call TestClips makes, on the same frames."""
        return transform_clip(self.transform, load(indices))

    def _frame_loader(self, frames: Frames, what: str) -> tuple[int, FrameLoader]:
        """Number of frames and a decoder of frames by index, for any accepted input type."""
        if isinstance(frames, Tensor | np.ndarray):
            return _array_loader(torch.as_tensor(frames), what)
        if isinstance(frames, str | Path):
            raise TypeError(
                f"{what} is a single path ({frames}); pass the list of its frame paths "
                "(stgcn_reid.inference.list_frames lists a folder's frames)"
            )
        items = list(frames)
        if not items:
            raise ValueError(f"{what} has no frames; a tracklet needs at least one")
        if all(isinstance(item, str | Path) for item in items):
            paths = [str(item) for item in items]
            return len(paths), lambda indices: load_clip(paths, indices, self.skip_corrupt)
        if all(isinstance(item, Image.Image) for item in items):
            decoded = [pil_to_tensor(item.convert("RGB")) for item in items]
            return len(decoded), lambda indices: [decoded[i] for i in indices.tolist()]
        kinds = sorted({type(item).__name__ for item in items})
        raise TypeError(
            f"{what}: frames must be all paths or all PIL images, got {', '.join(kinds)}"
        )


def _array_loader(frames: Tensor, what: str) -> tuple[int, FrameLoader]:
    """Frames of a uint8 ``[T, H, W, 3]`` tensor as ``[3, H, W]`` tensors."""
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"{what}: a frame tensor must be uint8 [T, H, W, 3] (RGB), got {frames.dtype} "
            f"{tuple(frames.shape)}"
        )
    if frames.shape[0] == 0:
        raise ValueError(f"{what} has no frames; a tracklet needs at least one")
    # Contiguous [3, H, W] frames, as decoding a file gives, so that the resize sees the same
    # memory layout whatever the input type.
    channels_first = frames.permute(0, 3, 1, 2)
    return len(frames), lambda indices: [channels_first[i].contiguous() for i in indices.tolist()]

"""What an exported model takes and returns, and the network with exactly that signature.

**Input contract.** The exported model maps clips to clip embeddings; it does *not* decode,
resize or normalise, and must not be given pre-normalised frames twice (a classic mistake with
exported re-id models whose graph normalises internally; this one does not):

- input ``clips``: float32 ``[B, T, 3, H, W]``, ``B`` dynamic, ``T`` = ``seq_len``, ``H x W`` =
  ``height x width`` of the checkpoint's data config (all fixed);
- each frame RGB, resized to ``H x W`` (bilinear, antialiased), scaled to ``[0, 1]`` (pixel /
  255), then normalised per channel as ``(x - mean) / std`` with the ImageNet mean and std;
- the ``T`` frames of a clip in temporal order, chosen as in evaluation by
  :func:`stgcn_reid.data.temporal.eval_clips` with the stored ``test_sampling`` (``strided``:
  clip ``j`` takes frame ``j`` of each of ``T`` equal chunks; ``consecutive``: runs of ``T``
  frames, the last one loop-padded; ``evenly``: ``T`` frames spread over the tracklet);
- output ``embedding``: float32 ``[B, D]``, the paper's ``f_all`` (eq. 9) of each clip; a
  tracklet's descriptor is the mean over its clips weighted by the frames each clip adds
  (:func:`stgcn_reid.data.temporal.clip_weights`).

:meth:`stgcn_reid.inference.Embedder.preprocess` produces exactly this input from frames. The
contract is stored in the file (:meth:`InputContract.metadata`): as ONNX ``metadata_props``,
and in a ``torch.export`` archive as an extra JSON file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from stgcn_reid import __version__
from stgcn_reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from stgcn_reid.inference import Embedder
from stgcn_reid.models import STGCN
from stgcn_reid.utils.io import file_sha256

INPUT_NAME = "clips"
OUTPUT_NAME = "embedding"


class EmbeddingNet(nn.Module):
    """``clips [B, T, 3, H, W] -> embedding [B, D]``: STGCN without logits or branch features."""

    def __init__(self, net: STGCN) -> None:
        super().__init__()
        self.net = net

    def forward(self, clips: Tensor) -> Tensor:
        return self.net(clips).embedding


@dataclass(frozen=True)
class InputContract:
    """What an exported model expects and returns (see the module docstring)."""

    seq_len: int
    height: int
    width: int
    embedding_dim: int
    test_sampling: str
    checkpoint: str
    checkpoint_sha256: str

    @classmethod
    def of(cls, embedder: Embedder, checkpoint: str | Path) -> InputContract:
        height, width = embedder.image_size
        return cls(
            embedder.seq_len,
            height,
            width,
            embedder.embedding_dim,
            embedder.sampling,
            str(Path(checkpoint).resolve()),
            file_sha256(checkpoint),
        )

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(T, 3, H, W)``: the shape of one clip."""
        return self.seq_len, 3, self.height, self.width

    def metadata(self) -> dict[str, str]:
        """The contract as string key/values (ONNX ``metadata_props`` take strings only)."""
        return {
            "input_name": INPUT_NAME,
            "input_layout": "B,T,3,H,W float32 RGB",
            "input_normalization": "(pixel / 255 - mean) / std per channel, after resizing",
            "mean": json.dumps(list(IMAGENET_MEAN)),
            "std": json.dumps(list(IMAGENET_STD)),
            "seq_len": str(self.seq_len),
            "height": str(self.height),
            "width": str(self.width),
            "resize": "bilinear, antialias",
            "test_sampling": self.test_sampling,
            "output_name": OUTPUT_NAME,
            "embedding_dim": str(self.embedding_dim),
            "tracklet_descriptor": "mean of the clip embeddings of the tracklet, weighted by the "
            "number of its frames each clip adds (stgcn_reid.data.temporal.clip_weights)",
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256,
            "stgcn_reid_version": __version__,
        }

    def random_clips(self, batch_size: int, seed: int = 0) -> Tensor:
        """Normalised clips of uniformly random pixels: inputs in the range real frames give."""
        generator = torch.Generator().manual_seed(seed)
        pixels = torch.rand((batch_size, *self.input_shape), generator=generator)
        mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
        std = torch.tensor(IMAGENET_STD)[:, None, None]
        return (pixels - mean) / std

    def batch_example(self) -> tuple[Tensor, dict[str, dict[int, torch.export.Dim]]]:
        """An example input and ``dynamic_shapes`` for ``torch.export``: a symbolic batch.

        The example has 2 clips, not 1: ``torch.export`` specialises sizes 0 and 1.
        """
        batch = torch.export.Dim("batch", min=1)
        return self.random_clips(2), {INPUT_NAME: {0: batch}}

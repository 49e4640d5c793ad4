"""The measured configs: shapes composed from ``conf/train.yaml``, their batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from stgcn_reid.utils.config import CONFIG_DIR


@dataclass(frozen=True)
class Shape:
    """A measured input/model size: a composition of ``conf/train.yaml`` plus the batch.

    ``cpu_batch`` (identities P, tracklets K) replaces the configured P x K on CPU, where a
    full batch takes minutes per step; on CUDA the configured batch is used.
    """

    name: str
    overrides: tuple[str, ...]
    cpu_batch: tuple[int, int]
    num_classes: int  # training identities of the dataset the shape stands for
    label: str


SHAPES: dict[str, Shape] = {
    "paper": Shape(
        "paper", ("experiment=paper_mars", "backbone.weights=null"), (2, 2), 625, "paper"
    ),
    # `make train` as configured (synthetic dataset input); 150 = the synthetic default
    # training identities.
    "cpu": Shape("cpu", (), (4, 2), 150, "CPU default"),
    # The smallest valid model: for the smoke tests only.
    "tiny": Shape(
        "tiny",
        ("data.seq_len=2", "data.height=64", "data.width=32", "backbone.arch=resnet18"),
        (2, 2),
        4,
        "tiny (smoke test)",
    ),
}


@dataclass(frozen=True)
class Setup:
    """A shape resolved for a device: its composed config and its batch."""

    shape: Shape
    cfg: DictConfig
    identities: int
    instances: int

    @property
    def clips(self) -> int:
        return self.identities * self.instances

    @property
    def seq_len(self) -> int:
        return int(self.cfg.data.seq_len)

    @property
    def height(self) -> int:
        return int(self.cfg.data.height)

    @property
    def width(self) -> int:
        return int(self.cfg.data.width)

    @property
    def images(self) -> int:
        return self.clips * self.seq_len

    @property
    def label(self) -> str:
        """The shape's name and what the config makes of it, e.g. ``paper (resnet50, ...)``."""
        backbone = self.cfg.backbone
        return (
            f"{self.shape.label} ({backbone.arch}, last stride {backbone.last_stride}, "
            f"T={self.seq_len}, {self.height}x{self.width})"
        )

    def describe(self) -> str:
        configured = f"{self.cfg.data.num_identities} x {self.cfg.data.num_instances}"
        return (
            f"{self.label}, batch {self.identities} ids x {self.instances} tracklets "
            f"x {self.seq_len} frames = {self.images} images (configured P x K: {configured})"
        )


def compose_train(overrides: Sequence[str]) -> DictConfig:
    """``conf/train.yaml`` composed with ``overrides``, as ``python -m stgcn_reid.train`` does."""
    with initialize_config_dir(version_base=None, config_dir=str(CONFIG_DIR)):
        return compose("train", overrides=list(overrides))


def setup(
    shape_name: str,
    device: torch.device,
    batch: tuple[int, int] | None = None,
    extra: Sequence[str] = (),
) -> Setup:
    """Resolve a shape: ``batch`` overrides P x K; else CPU uses the shape's small batch."""
    if shape_name not in SHAPES:
        raise SystemExit(f"unknown shape {shape_name!r}; valid: {', '.join(SHAPES)}")
    shape = SHAPES[shape_name]
    cfg = compose_train([*shape.overrides, *extra])
    if batch is None:
        batch = (
            (int(cfg.data.num_identities), int(cfg.data.num_instances))
            if device.type == "cuda"
            else shape.cpu_batch
        )
    return Setup(shape, cfg, *batch)


def random_batch(s: Setup, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """A P x K training batch of random clips ``[B, T, 3, H, W]`` with pids ``[B]``."""
    gen = torch.Generator().manual_seed(seed)
    clips = torch.randn(s.clips, s.seq_len, 3, s.height, s.width, generator=gen)
    pids = torch.arange(s.identities).repeat_interleave(s.instances)
    return {"clips": clips.to(device), "pid": pids.to(device)}

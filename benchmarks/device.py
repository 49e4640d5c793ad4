"""The benchmarked device: the machine it is on, choosing it, synchronising, autocast."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from stgcn_reid.utils.machine import cpu_kernels, cpu_model, usable_cores


@dataclass(frozen=True)
class Machine:
    """Where a benchmark ran."""

    cpu: str
    cpu_kernels: str
    cores: int
    torch_threads: int
    torch_version: str
    device: str

    def line(self) -> str:
        return (
            f"{self.cpu} ({self.cpu_kernels} kernels), {self.cores} cores, "
            f"{self.torch_threads} torch threads, torch {self.torch_version}, device: {self.device}"
        )


def machine(device: torch.device) -> Machine:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return Machine(
        cpu_model(), cpu_kernels(), usable_cores(), torch.get_num_threads(), torch.__version__, name
    )


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when visible, else CPU), ``cpu`` or ``cuda[:i]``; a clear error if absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise SystemExit(f"--device {name!r} is not a torch device ({err})") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: no CUDA device is visible to torch on this machine")
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device {name}: only cpu and cuda are benchmarked")
    return device


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """``bf16``: bfloat16 autocast, as Lightning's ``bf16-mixed``; ``fp32``: nothing."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield


PRECISIONS = ("fp32", "bf16")

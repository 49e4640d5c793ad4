"""What the benchmarks share: the machine, the configs they measure, interleaved timing, peak
memory and the report (tables plus key figures) that every script prints and returns.

Timing discipline: the variants of one question run interleaved, round after round, and a
comparison is the median over rounds of the ratio of two adjacent runs. On a shared machine the
absolute times drift with the load of other processes; ratios of runs a few seconds apart do not.
"""

from __future__ import annotations

import argparse
import ctypes
import re
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from stgcn_reid.utils.config import CONFIG_DIR
from stgcn_reid.utils.machine import cpu_model, usable_cores
from stgcn_reid.utils.markdown import markdown_table

REPO_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


# --------------------------------------------------------------------------- machine and device


@dataclass(frozen=True)
class Machine:
    """Where a benchmark ran."""

    cpu: str
    cores: int
    torch_threads: int
    torch_version: str
    device: str

    def line(self) -> str:
        return (
            f"{self.cpu}, {self.cores} cores, {self.torch_threads} torch threads, "
            f"torch {self.torch_version}, device: {self.device}"
        )


def machine(device: torch.device) -> Machine:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return Machine(cpu_model(), usable_cores(), torch.get_num_threads(), torch.__version__, name)


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


# --------------------------------------------------------------------------- configs


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


# --------------------------------------------------------------------------- command line


def base_parser(description: str, repeats: int, warmup: int = 1) -> argparse.ArgumentParser:
    """The options every script shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", default="auto", help="auto (CUDA if visible), cpu or cuda")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and variants")
    parser.add_argument("--repeats", type=int, default=repeats, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed calls per variant")
    return parser


def parse_list(text: str, allowed: Sequence[str], option: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``, each checked against ``allowed``."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    bad = [item for item in items if item not in allowed]
    if bad or not items:
        raise SystemExit(f"{option}: expected a comma list from {list(allowed)}, got {text!r}")
    return items


def parse_batch(text: str | None) -> tuple[int, int] | None:
    """``"PxK"`` -> ``(P, K)``; both at least 2 (the batch-hard triplet loss needs them)."""
    if text is None:
        return None
    found = re.fullmatch(r"(\d+)x(\d+)", text)
    if not found or int(found.group(1)) < 2 or int(found.group(2)) < 2:
        raise SystemExit(f"--batch: expected PxK with P, K >= 2 (e.g. 4x2), got {text!r}")
    return int(found.group(1)), int(found.group(2))


def command_line(module: str, argv: Sequence[str]) -> str:
    return " ".join(["python -m", module, *argv])


# --------------------------------------------------------------------------- timing and memory


@dataclass
class Samples:
    """Seconds of one variant's calls: warm-up (wall), timed (wall and this process's CPU time,
    all threads), and its peak memory."""

    warmup: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)
    peak_bytes: int | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_times)


def interleaved(
    variants: Mapping[str, Callable[[], object]],
    device: torch.device,
    repeats: int,
    warmup: int = 1,
) -> dict[str, Samples]:
    """Warm every variant up, then run ``repeats`` rounds in which each variant runs once.

    The order rotates from round to round so that no variant always follows the same one.
    Every call is timed between device synchronisations; its peak memory is recorded
    (:class:`PeakMemory`) and the largest over the timed calls kept.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    names = list(variants)
    samples = {name: Samples() for name in names}
    peak = PeakMemory(device)
    for name in names:
        for _ in range(warmup):
            samples[name].warmup.append(_timed(variants[name], device)[0])
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            (seconds, cpu_seconds), used = peak.measure(
                lambda fn=variants[name]: _timed(fn, device)
            )
            samples[name].times.append(seconds)
            samples[name].cpu_times.append(cpu_seconds)
            if used is not None:
                samples[name].peak_bytes = max(samples[name].peak_bytes or 0, used)
    return samples


def paired_ratio(samples: Mapping[str, Samples], numerator: str, denominator: str) -> float:
    """Median over rounds of ``time(numerator) / time(denominator)`` (runs of one round)."""
    pairs = zip(samples[numerator].times, samples[denominator].times, strict=True)
    return statistics.median(a / b for a, b in pairs)


def one_thread(fn: Callable[[], T]) -> Callable[[], T]:
    """``fn`` on one torch thread: its CPU time is then its cost on one idle core, whatever the
    load of the machine (with more threads, waiting threads spin and inflate it)."""

    def run() -> T:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn()
        finally:
            torch.set_num_threads(threads)

    return run


def _timed(fn: Callable[[], object], device: torch.device) -> tuple[float, float]:
    """Wall and process CPU seconds of one call, between device synchronisations."""
    synchronize(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    fn()
    synchronize(device)
    return time.perf_counter() - start, time.process_time() - cpu_start


class PeakMemory:
    """Peak memory of one call above the level before it.

    CUDA: the caching allocator's peak (``torch.cuda.max_memory_allocated``). CPU (Linux): the
    growth of the resident-set high-water mark during the call. Before the call, glibc's
    ``malloc_trim`` hands freed heap memory back to the OS (otherwise the call would reuse it
    without growing the resident set and read near 0) and ``/proc/self/clear_refs`` resets the
    mark. The CPU figure counts every allocation of the process (oneDNN scratch, Python), not
    only tensors. Elsewhere it is ``None``.
    """

    CLEAR_REFS = Path("/proc/self/clear_refs")
    STATUS = Path("/proc/self/status")

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._malloc_trim = _malloc_trim()
        self.available = device.type == "cuda" or (
            self._malloc_trim is not None and self._reset_cpu_peak()
        )

    def measure(self, fn: Callable[[], T]) -> tuple[T, int | None]:
        if not self.available:
            return fn(), None
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device)
            result = fn()
            return result, torch.cuda.max_memory_allocated(self.device) - before
        self._reset_cpu_peak()
        before = self._status_kib("VmRSS")
        result = fn()
        return result, max(0, self._status_kib("VmHWM") - before) * 1024

    def _reset_cpu_peak(self) -> bool:
        if self._malloc_trim is not None:
            self._malloc_trim(0)
        try:
            self.CLEAR_REFS.write_text("5")  # "5": reset the peak RSS to the current RSS
        except OSError:
            return False
        return True

    def _status_kib(self, key: str) -> int:
        found = re.search(rf"^{key}:\s+(\d+) kB", self.STATUS.read_text(), re.MULTILINE)
        if found is None:
            raise RuntimeError(f"{self.STATUS} has no {key} line")
        return int(found.group(1))


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` (not Linux/glibc)."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def memory_note(device: torch.device) -> str:
    if device.type == "cuda":
        return "Peak memory: torch.cuda.max_memory_allocated above the level before the call."
    if PeakMemory(device).available:
        return (
            "Peak memory on CPU: growth of the process's resident-set high-water mark during "
            "the call, after malloc_trim (so freed memory is not silently reused) and a reset "
            "of the mark via /proc/self/clear_refs; all allocations of the process, not only "
            "tensors."
        )
    return "Peak memory: not measured on this platform (needs CUDA, or Linux with glibc)."


# --------------------------------------------------------------------------- reports


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a table: fixed digits, thousands separators; '-' for missing."""
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)

    def markdown(self) -> str:
        return "\n".join([f"**{self.title}**", "", *markdown_table(self.columns, self.rows)])


@dataclass
class Report:
    """What one benchmark measured: tables for people, ``figures`` (positive numbers) for
    run_all's target checks and the smoke tests."""

    topic: str
    command: str
    machine: Machine
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def markdown(self, heading: str = "##") -> str:
        parts = [
            f"{heading} {self.topic}",
            "",
            f"`{self.command}` on {self.machine.line()}",
        ]
        for table in self.tables:
            parts += ["", table.markdown()]
        if self.notes:
            parts += ["", *[f"- {note}" for note in self.notes]]
        return "\n".join(parts)

    def print(self) -> None:
        print(self.markdown(), flush=True)

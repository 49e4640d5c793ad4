"""Interleaved timing: variants run round after round, compared by paired ratios.

On a shared machine the absolute times drift with the load of other processes; ratios of runs
a few seconds apart do not.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import torch

from benchmarks.device import synchronize
from benchmarks.memory import PeakMemory

T = TypeVar("T")


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


def paired_ratios(samples: Mapping[str, Samples], numerator: str, denominator: str) -> list[float]:
    """``time(numerator) / time(denominator)`` of each round (runs of one round)."""
    pairs = zip(samples[numerator].times, samples[denominator].times, strict=True)
    return [a / b for a, b in pairs]


def paired_ratio(samples: Mapping[str, Samples], numerator: str, denominator: str) -> float:
    """Median over rounds of ``time(numerator) / time(denominator)`` (runs of one round)."""
    return statistics.median(paired_ratios(samples, numerator, denominator))


def median_coverage(rounds: int) -> float:
    """Probability that the median of a continuous distribution lies between the least and
    the largest of ``rounds`` independent draws: ``1 - 2 ** (1 - rounds)`` (94 % at 5), so the
    range over rounds is a distribution-free interval for the median."""
    return 1.0 - 2.0 ** (1 - rounds)


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
    """Wall and process CPU seconds of one call, between device synchronisations. A call that
    times itself returns its seconds (a float), which replace the wall time of the whole call
    (a loop that must leave its own setup out)."""
    synchronize(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = fn()
    synchronize(device)
    wall = time.perf_counter() - start
    return (result if isinstance(result, float) else wall), time.process_time() - cpu_start

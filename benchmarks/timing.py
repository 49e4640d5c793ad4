"""Interleaved timing: variants run round after round, compared by paired ratios.

On a shared machine the absolute times drift with the load of other processes; ratios of runs
a few seconds apart do not.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import torch
from scipy import stats

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


def median_rank(n: int, level: float = 0.95) -> tuple[int, float]:
    """``(k, coverage)`` of the distribution-free interval for the median of ``n`` independent
    draws, from their ``k``-th least to their ``k``-th largest value: the largest ``k`` whose
    coverage ``1 - 2 * P(Binomial(n, 1/2) < k)`` is still at least ``level``, or ``k = 1`` (the
    least and the largest; 94 % at n = 5) where even that falls short (n < 6 at 95 %)."""
    if n < 2:
        raise ValueError(f"an interval needs at least 2 values, got {n}")
    k = 1
    while k < n // 2 and 1 - 2 * stats.binom.cdf(k, n, 0.5) >= level:
        k += 1
    return k, float(1 - 2 * stats.binom.cdf(k - 1, n, 0.5))


def median_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """The interval of :func:`median_rank` for the median of ``values``: ``(low, high)``."""
    ordered = sorted(values)
    k, _ = median_rank(len(ordered), level)
    return ordered[k - 1], ordered[len(ordered) - k]


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

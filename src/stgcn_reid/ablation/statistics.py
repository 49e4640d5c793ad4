"""Seed statistics of the study: mean ± std, and paired differences with a Student-t interval.

Two variants trained with the same seed see the same batches in the same order and start their
shared parts (the backbone) from the same weights, so the seed-to-seed noise they share cancels
in their difference: comparing them seed by seed (paired) is much tighter than comparing their
two means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Verdicts of :attr:`PairedDifference.verdict`.
BETTER, WORSE, UNDECIDED, TOO_FEW = "better", "worse", "no difference shown", "too few seeds"
#: Verdict and place where a score is NaN (a diverged run, say): no interval can be drawn.
NOT_A_NUMBER = "a score is not a number"
MINUS = "\u2212"  # typographic minus sign, as in "−0.40"
#: Where a value lies against an interval: :meth:`PairedDifference.locate`.
BELOW, INSIDE, ABOVE = "below the interval", "inside the interval", "above the interval"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``) of ``values``; the std of a single
    value is NaN. Raises ``ValueError`` on no values."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        raise ValueError("mean_std needs at least one value")
    std = float(np.std(array, ddof=1)) if array.size > 1 else math.nan
    return float(np.mean(array)), std


@dataclass(frozen=True)
class PairedDifference:
    """``variant - baseline`` over the ``n`` seeds both have: the mean difference and its
    two-sided confidence interval ``[low, high]`` (NaN when ``n < 2``; all NaN when ``n = 0``)."""

    mean: float
    low: float
    high: float
    n: int
    seeds: tuple[int, ...]

    @property
    def missing_interval(self) -> str | None:
        """Why there is no interval: ``"too few seeds"`` (``n < 2``), ``"a score is not a
        number"`` (a NaN score among the seeds); ``None`` when there is one."""
        if self.n < 2:
            return TOO_FEW
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return NOT_A_NUMBER
        return None

    @property
    def verdict(self) -> str:
        """``"better"`` if the interval lies above 0, ``"worse"`` if below, ``"no difference
        shown"`` if it contains 0; without an interval, why (:attr:`missing_interval`)."""
        if self.missing_interval is not None:
            return self.missing_interval
        if self.low > 0:
            return BETTER
        if self.high < 0:
            return WORSE
        return UNDECIDED

    def locate(self, value: float) -> str:
        """Where ``value`` (another study's difference, say the paper's, in the same units)
        lies against the interval, which excludes it unless it lies ``"inside the interval"``;
        without an interval, why (:attr:`missing_interval`)."""
        if self.missing_interval is not None:
            return self.missing_interval
        if value < self.low:
            return BELOW
        if value > self.high:
            return ABOVE
        return INSIDE


def paired_difference(
    variant: Mapping[int, float], baseline: Mapping[int, float], level: float = 0.95
) -> PairedDifference:
    """Paired difference of two ``{seed: score}`` tables over the seeds present in both.

    The interval is ``mean ± t(1 - (1 - level) / 2, n - 1) * sd / sqrt(n)`` with ``sd`` the
    sample standard deviation of the ``n`` per-seed differences (Student t, two-sided); seeds
    present in only one table are ignored.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    seeds = tuple(sorted(set(variant) & set(baseline)))
    differences = [float(variant[seed]) - float(baseline[seed]) for seed in seeds]
    n = len(differences)
    if n == 0:
        return PairedDifference(math.nan, math.nan, math.nan, 0, seeds)
    mean, sd = mean_std(differences)
    if n < 2:
        return PairedDifference(mean, math.nan, math.nan, n, seeds)
    half = float(stats.t.ppf(1 - (1 - level) / 2, n - 1)) * sd / math.sqrt(n)
    return PairedDifference(mean, mean - half, mean + half, n, seeds)


def signed(value: float, digits: int = 2) -> str:
    """``+1.23`` / ``−0.40`` (a typographic minus; a rounded zero prints as ``+0.00``)."""
    rounded = round(value, digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{rounded:+.{digits}f}".replace("-", MINUS)


def format_difference(difference: PairedDifference, scale: float = 100.0, digits: int = 2) -> str:
    """``+1.23 [−0.40, +2.86]``: the mean difference and its interval times ``scale``
    (percentage points of fractions by default); says so where there is no interval."""
    if difference.n == 0:
        return "no common seeds"
    if difference.missing_interval == NOT_A_NUMBER:
        return f"no interval: {NOT_A_NUMBER}"  # the mean is NaN too
    mean = signed(scale * difference.mean, digits)
    if difference.n < 2:
        return f"{mean} (1 seed: no interval)"
    low, high = (signed(scale * x, digits) for x in (difference.low, difference.high))
    return f"{mean} [{low}, {high}]"

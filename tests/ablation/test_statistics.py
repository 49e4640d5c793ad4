"""Seed statistics: mean ± std and the paired Student-t interval, against values done by hand."""

from __future__ import annotations

import math

import pytest

from stgcn_reid.ablation.statistics import (
    PairedDifference,
    format_difference,
    mean_std,
    paired_difference,
    signed,
)

#: t(0.975, 2) from a t table (4.303), to more digits.
T_975_2DF = 4.302653


def test_mean_std_is_the_mean_and_the_sample_std() -> None:
    assert mean_std([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    # Sample std (n - 1): [2, 4, 4, 4, 5, 5, 7, 9] has squared deviations summing to 32.
    assert mean_std([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx((5.0, math.sqrt(32 / 7)))
    mean, std = mean_std([0.25])
    assert mean == 0.25 and math.isnan(std)
    with pytest.raises(ValueError, match="at least one value"):
        mean_std([])


def test_paired_difference_uses_the_common_seeds_and_a_student_t_interval() -> None:
    # Seeds 0-2 are in both: differences 1, 2, 3 (mean 2, sd 1). Seed 7 (variant only) and
    # seed 9 (baseline only) are ignored, however far off they are.
    variant = {0: 1.5, 1: 3.0, 2: 5.0, 7: 100.0}
    baseline = {2: 2.0, 1: 1.0, 0: 0.5, 9: -50.0}
    diff = paired_difference(variant, baseline)
    half = T_975_2DF * 1.0 / math.sqrt(3)  # 2.484
    assert half == pytest.approx(2.484, abs=1e-3)
    assert diff.n == 3 and diff.seeds == (0, 1, 2)
    assert diff.mean == pytest.approx(2.0)
    assert diff.low == pytest.approx(2.0 - half, rel=1e-6)
    assert diff.high == pytest.approx(2.0 + half, rel=1e-6)
    assert diff.verdict == "no difference shown"  # [-0.48, 4.48] contains 0
    # Swapping the two sides flips the interval.
    flipped = paired_difference(baseline, variant)
    assert (flipped.mean, flipped.low, flipped.high) == pytest.approx(
        (-2.0, -2.0 - half, -2.0 + half)
    )


def test_pairing_removes_the_noise_the_seeds_share() -> None:
    # Both variants swing by 10 points from seed to seed, the variant always 1 point above:
    # unpaired, their intervals overlap widely; paired, the difference is exactly 1.
    baseline = {0: 50.0, 1: 60.0, 2: 40.0}
    variant = {seed: value + 1.0 for seed, value in baseline.items()}
    diff = paired_difference(variant, baseline)
    assert (diff.mean, diff.low, diff.high) == pytest.approx((1.0, 1.0, 1.0))
    assert diff.verdict == "better"


@pytest.mark.parametrize(
    ("differences", "verdict"),
    [
        ([1.0, 1.1, 0.9], "better"),  # 1 ± 4.303 * 0.1 / sqrt(3) = [0.75, 1.25]
        ([-1.0, -1.1, -0.9], "worse"),
        ([1.0, -1.0, 0.5], "no difference shown"),
        ([0.5], "too few seeds"),
        ([], "too few seeds"),
    ],
)
def test_verdict_says_better_or_worse_only_when_the_interval_excludes_0(
    differences: list[float], verdict: str
) -> None:
    variant = dict(enumerate(differences))
    baseline = dict.fromkeys(range(len(differences)), 0.0)
    assert paired_difference(variant, baseline).verdict == verdict


def test_locate_says_whether_the_interval_excludes_another_studys_difference() -> None:
    diff = paired_difference({0: 1.0, 1: 1.1, 2: 0.9}, dict.fromkeys(range(3), 0.0))
    # [0.75, 1.25], as above
    assert diff.locate(0.5) == "below the interval"
    assert diff.locate(1.2) == "inside the interval"
    assert diff.locate(1.3) == "above the interval"
    assert diff.locate(diff.low) == diff.locate(diff.high) == "inside the interval"
    assert paired_difference({0: 1.0}, {0: 0.0}).locate(1.0) == "too few seeds"


def test_fewer_than_two_common_seeds_give_no_interval() -> None:
    one = paired_difference({0: 0.7, 1: 0.9}, {1: 0.8, 2: 0.1})
    assert one.n == 1 and one.seeds == (1,)
    assert one.mean == pytest.approx(0.1)
    assert math.isnan(one.low) and math.isnan(one.high)
    assert format_difference(one) == "+10.00 (1 seed: no interval)"

    none = paired_difference({0: 0.7}, {1: 0.8})
    assert none.n == 0 and none.seeds == ()
    assert math.isnan(none.mean)
    assert format_difference(none) == "no common seeds"


def test_a_nan_score_gives_no_interval_and_no_verdict() -> None:
    # A diverged run's NaN must not read as "no difference shown" or "inside the interval".
    diff = paired_difference({0: 1.0, 1: math.nan, 2: 0.9}, dict.fromkeys(range(3), 0.0))
    assert diff.n == 3
    assert diff.verdict == diff.locate(0.5) == "a score is not a number"
    assert format_difference(diff) == "no interval: a score is not a number"


def test_format_difference_gives_signed_percentage_points() -> None:
    diff = PairedDifference(mean=0.0123, low=-0.0040, high=0.0286, n=3, seeds=(0, 1, 2))
    assert format_difference(diff) == "+1.23 [−0.40, +2.86]"
    assert format_difference(diff, scale=1.0, digits=3) == "+0.012 [−0.004, +0.029]"
    assert signed(-0.001) == "+0.00"  # no "−0.00"
    with pytest.raises(ValueError, match="level must be in"):
        paired_difference({0: 1.0}, {0: 0.0}, level=95)

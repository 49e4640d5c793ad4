"""Every benchmark still runs end to end, through run_all, at the tiniest settings.

No timing is asserted (timings belong in docs/performance.md, not in tests); the figures must
be positive finite numbers and the document must carry every report.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from benchmarks import backbone, data_loading, evaluation, loop, run_all, timing, train_step
from benchmarks.report import Report

TINY = ("--device", "cpu", "--repeats", "1", "--warmup", "0")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, mars_info_dir: Path) -> tuple:
    """run_all.main with a plan of tiny runs; returns the reports and the written document."""
    data_root = tmp_path_factory.mktemp("bench-data")
    output = tmp_path_factory.mktemp("docs") / "performance.md"
    runs = [
        run_all.Run(
            train_step.main,
            (
                *TINY,
                "--shapes",
                "tiny",
                "--precisions",
                "fp32",
                "--no-channels-last",
                "--compile",
                "none",
            ),
        ),
        run_all.Run(backbone.main, (*TINY, "--shapes", "tiny", "--precisions", "fp32")),
        run_all.Run(
            loop.main,
            (*TINY, "--repeats", "2", "--shape", "tiny", "--steps", "2", "--root", str(data_root)),
        ),
        run_all.Run(
            data_loading.main,
            (
                *TINY,
                "--shapes",
                "tiny",
                "--batches",
                "1",
                "--workers",
                "0,1",
                "--data-root",
                str(data_root),
            ),
        ),
        run_all.Run(
            evaluation.main,
            (
                *TINY,
                "--mars-info",
                str(mars_info_dir),
                "--max-queries",
                "20",
                "--loop-every",
                "4",
                "--extract-shapes",
                "tiny",
                "--extract-batch",
                "2",
                "--precisions",
                "fp32",
            ),
        ),
    ]
    threads = torch.get_num_threads()
    # Tiny ops: one thread avoids waiting for a second one when the machine is busy.
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(run_all, "plan", lambda device, quick: runs)
            reports = run_all.main(["--device", "cpu", "--output", str(output)])
    finally:
        torch.set_num_threads(threads)
    return reports, output.read_text()


def _assert_positive(report: Report) -> None:
    assert report.figures, f"{report.topic} returned no figures"
    for key, value in report.figures.items():
        assert math.isfinite(value) and value > 0, f"{report.topic}: {key} = {value}"


def test_every_report_has_positive_figures_and_tables(tiny_run: tuple) -> None:
    reports, _ = tiny_run
    assert [r.topic for r in reports] == [
        "Training step",
        "Backbone ceiling",
        "Training loop",
        "Data loading",
        "Evaluation",
    ]
    for report in reports:
        _assert_positive(report)
        assert report.tables and all(table.rows for table in report.tables)
        assert report.machine.torch_version == torch.__version__


def test_train_step_compares_the_model_with_its_baseline(tiny_run: tuple) -> None:
    figures = tiny_run[0][0].figures
    assert "tiny.gcn_overhead.fp32" in figures
    # The graph branches only add work to the same backbone.
    assert figures["tiny.flop_ratio"] > 1


def test_the_loop_is_measured_stage_by_stage_against_the_ceiling(tiny_run: tuple) -> None:
    report = tiny_run[0][2]
    assert [row[0] for row in report.tables[0].rows] == list(loop.STAGES)
    assert report.figures["tiny.loop.backbone.fraction_of_ceiling"] == 1.0
    table = report.tables[0]
    fraction, interval = (
        table.columns.index(c) for c in ("stage / ceiling", "interval over rounds")
    )
    for row in table.rows:
        low, high = map(float, row[interval].strip("[]").split(", "))
        assert low <= float(row[fraction]) <= high, row  # the interval holds the median
    assert report.figures["tiny.loop.fit_cached.interval_coverage"] == 0.5  # 2 rounds


def test_one_round_gives_no_interval(tmp_path: Path) -> None:
    report = loop.main(
        [*TINY, "--shape", "tiny", "--steps", "2", "--root", str(tmp_path / "bench-data")]
    )
    assert {row[4] for row in report.tables[0].rows} == {"-"}
    assert not any(key.endswith(("_low", "_high", "_coverage")) for key in report.figures)
    assert not any("interval over rounds" in note for note in report.notes)


@pytest.mark.parametrize(("n", "expected_k"), [(5, 1), (9, 2), (15, 4), (17, 5)])
def test_the_interval_over_rounds_covers_the_median_as_often_as_it_says(
    n: int, expected_k: int
) -> None:
    k, coverage = timing.median_rank(n)
    assert k == expected_k  # the narrowest order-statistic interval of >= 95 % (or min-max)
    draws = np.sort(np.random.default_rng(n).exponential(size=(40_000, n)), axis=1)
    covered = (draws[:, k - 1] < np.log(2)) & (np.log(2) < draws[:, n - k])  # median: ln 2
    assert covered.mean() == pytest.approx(coverage, abs=0.005)
    assert timing.median_interval(list(range(n, 0, -1))) == (k, n - k + 1)


def test_a_fit_is_timed_from_its_second_step() -> None:
    clock = loop.SteadyClock()
    clock.starts = [0.0, 5.0, 6.0, 7.5]  # the first step (optimizer state, warm-up) left out
    assert clock.per_step == pytest.approx(1.25)
    clock.starts = clock.starts[:2]
    with pytest.raises(RuntimeError, match=">= 3 steps"):
        _ = clock.per_step


def test_evaluation_agrees_with_the_loop_it_is_timed_against(tiny_run: tuple) -> None:
    report = tiny_run[0][4]
    ranking = report.tables[0]
    column = list(ranking.columns).index("mAP vs loop")
    agreements = [row[column] for row in ranking.rows if row[column]]
    assert agreements
    # "|diff| 2e-19": evaluate_rank and the per-query loop give the same mAP (ties aside).
    assert all(float(cell.split()[-1]) < 1e-6 for cell in agreements)


def test_document_carries_targets_machine_and_every_report(tiny_run: tuple) -> None:
    reports, text = tiny_run
    assert "## Targets" in text and "not measurable here: no GPU" in text
    assert f"{reports[0].machine.cpu} ({torch.backends.cpu.get_cpu_capability()} kernels)" in text
    for report in reports:
        assert f"## {report.topic}" in text
        for table in report.tables:
            assert table.title in text


def test_the_bf16_reading_names_this_cpus_kernels_and_claims_nothing_else() -> None:
    # bf16 at 0.03x fp32 on an AVX2 CPU: the reading must not say the CPU has AVX-512 BF16.
    figures = {"cpu.stgcn bf16.images_per_s": 3.0, "cpu.stgcn fp32.images_per_s": 100.0}
    reading = run_all.interpretation(figures, torch.device("cpu"))
    assert f"0.03x the fp32 images/s here ({torch.backends.cpu.get_cpu_capability()} kernels)" in (
        reading
    )
    assert "this CPU has" not in reading


@pytest.mark.parametrize(
    ("median", "low", "high", "coverage", "status"),
    [
        (0.97, 0.955, 0.99, 0.96, "met"),
        (0.90, 0.85, 0.94, 0.96, "not met"),
        (0.97, 0.90, 0.99, 0.96, "met by the median; its interval holds the target"),
        (0.94, 0.90, 0.99, 0.96, "not met by the median; its interval holds the target"),
        (
            0.97,
            0.96,
            0.99,
            0.75,
            "met by the median; no interval of 95 % coverage (too few rounds)",
        ),
        (
            0.97,
            None,
            None,
            None,
            "met by the median; no interval of 95 % coverage (too few rounds)",
        ),
    ],
)
def test_the_loop_target_is_decided_only_by_an_interval_on_one_side(
    median: float, low: float | None, high: float | None, coverage: float | None, status: str
) -> None:
    key = "cpu.loop.fit_cached"
    figures = {f"{key}.fraction_of_ceiling": median}
    if low is not None:
        figures |= {
            f"{key}.fraction_low": low,
            f"{key}.fraction_high": high,
            f"{key}.interval_coverage": coverage,
        }
    row = run_all._loop_row(figures)
    assert row[2] == status
    assert ("[" in row[1]) == (low is not None)

"""The report: sweep tables that follow the budget (its values, and the note on what it leaves
out), and Tables 3-4 with paired differences to the baseline and between GCN / FCN twins."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stgcn_reid.ablation.report import (
    DASH,
    PAIRED_NOTE,
    protocol_decision,
    protocol_difference,
    protocol_rows,
    sweep_section,
    variant_section,
)
from stgcn_reid.ablation.results import Scores, StudyResults
from stgcn_reid.ablation.runner import Run
from stgcn_reid.utils.markdown import markdown_table


def _first_column(lines: list[str], heading: str) -> list[str]:
    """The first cells of the table rows under ``heading``."""
    start = lines.index(heading) + 4  # heading, blank line, header, separator
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line.strip("|").split("|")[0].strip())
    return rows


def test_quick_sweep_tables_list_its_values_and_say_why_p8_is_missing() -> None:
    lines = sweep_section(0, StudyResults({}, {}), "quick")
    assert _first_column(lines, "### P_t (P_s = 4)") == ["2", "4"]
    assert _first_column(lines, "### M (K = 2)") == ["2", "3", "4", "5", "6"]
    assert any("P = 8 needs 8 feature rows" in line for line in lines)


def test_smoke_sweep_tables_keep_the_papers_values() -> None:
    lines = sweep_section(0, StudyResults({}, {}), "smoke")
    assert _first_column(lines, "### P_s (P_t = 4)") == ["2", "4", "8"]
    assert not any("feature rows" in line for line in lines)


def _scores(mean_ap: float, rank1: float) -> Scores:
    return Scores(mean_ap, rank1, rank1, np.array([rank1]))


def _runs(keys: list[str], seeds: list[int]) -> list[Run]:
    return [Run("variants", k, s, Path(f"/runs/{k}/{s}"), ()) for k in keys for s in seeds]


def _cells(lines: list[str], label: str, after: str = "") -> list[str]:
    """The cells of the first table row starting with ``label`` after the line ``after``."""
    start = lines.index(after) if after else 0
    row = next(line for line in lines[start:] if line.startswith(f"| {label} "))
    return [cell.strip() for cell in row.strip("|").split("|")]


# mAP and rank-1 by seed: TGCN+global is 1, 2, 3 points above the baseline in mAP (mean 2,
# sd 1: 2 ± 4.303 / sqrt(3) = [-0.48, +4.48]) and exactly 5 points above in rank-1; its FCN
# twin is 1 point below TGCN in mAP at every seed, 2 below in rank-1.
RESULTS = StudyResults(
    {
        **{("baseline", s): _scores(0.50 + 0.10 * s, 0.60) for s in (0, 1, 2)},
        **{("tgcn_global", s): _scores(0.51 + 0.11 * s, 0.65) for s in (0, 1, 2)},
        **{("tfcn_global", s): _scores(0.50 + 0.11 * s, 0.63) for s in (0, 1, 2)},
        ("sgcn_global", 0): _scores(0.40, 0.40),  # one seed: no interval
    },
    {},
)


def test_variant_tables_give_the_paired_difference_to_the_baseline() -> None:
    runs = _runs(["baseline", "tfcn_global", "tgcn_global", "sgcn_global"], [0, 1, 2])
    lines = variant_section(runs, RESULTS)
    header = [cell.strip() for cell in lines[lines.index(PAIRED_NOTE) + 4].strip("|").split("|")]
    assert header[4:8] == [
        "Δ mAP vs baseline (95 % CI)",
        "Δ rank-1 vs baseline (95 % CI)",
        "verdict",
        "seeds",
    ]
    assert "Student-t" in PAIRED_NOTE and "paired by seed" in PAIRED_NOTE
    assert "excludes 0" in PAIRED_NOTE

    table4 = "## Table 4: graph convolution vs fully connected layers"
    for after in ("", table4):  # Table 3, then Table 4
        assert _cells(lines, "Baseline", after)[4:7] == [DASH] * 3
        tgcn = _cells(lines, "TGCN+global", after)
        assert tgcn[4] == "+2.00 [−0.48, +4.48]"
        assert tgcn[5] == "+5.00 [+5.00, +5.00]"
        assert tgcn[6] == "no difference shown"
        sgcn = _cells(lines, "SGCN+global", after)
        assert sgcn[4:7] == ["−10.00 (1 seed: no interval)", "−20.00 (1 seed: no interval)",
                             "too few seeds"]  # fmt: skip
    # The ensemble's row (its members present, no ensemble scores) has no difference.
    assert _cells(lines, "Ensemble")[4:7] == [DASH] * 3
    assert any("each divided by its mean query–gallery distance" in line for line in lines)


def test_twin_table_pairs_each_gcn_with_its_fcn_twin_where_both_ran() -> None:
    runs = _runs(["baseline", "tfcn_global", "tgcn_global", "sgcn_global"], [0, 1, 2])
    lines = variant_section(runs, RESULTS)
    heading = "### GCN vs its FCN twin (paired, 95 % CI)"
    assert lines.index(heading) > lines.index(
        "## Table 4: graph convolution vs fully connected layers"
    )
    # Only TGCN / TFCN: SGCN+global has no SFCN+global twin results, the others none at all.
    twins = [row for row in lines[lines.index(heading) :] if row.startswith("|") and " vs " in row]
    assert [row.split("|")[1].strip() for row in twins] == ["TGCN+global vs TFCN+global"]
    cells = _cells(lines, "TGCN+global vs TFCN+global", heading)
    assert cells[1:] == ["3", "+1.00 [+1.00, +1.00]", "+2.00 [+2.00, +2.00]", "better"]

    no_twins = StudyResults({k: v for k, v in RESULTS.scores.items() if k[0] != "tfcn_global"}, {})
    assert heading not in variant_section(runs, no_twins)


def test_markdown_table_helper() -> None:
    assert markdown_table(("a", "b"), [["1", "2"], ["3", "4"]]) == [
        "| a | b |",
        "|---|---|",
        "| 1 | 2 |",
        "| 3 | 4 |",
    ]


def test_protocol_section_pairs_the_two_clip_rules_and_decides_on_validation_only() -> None:
    keys, seeds = ["baseline", "stgcn"], [0, 1, 2]
    # Validation: consecutive is 1, 2, 3 points *below* strided in every run (pooled over the
    # 6 runs: mean -2); test: consecutive 5 points above (must not sway the decision).
    protocols = {
        ("val", "strided"): {(k, s): _scores(0.40 + 0.01 * s, 0.5) for k in keys for s in seeds},
        ("val", "consecutive"): {
            (k, s): _scores(0.40 + 0.01 * s - 0.01 * (s + 1), 0.5) for k in keys for s in seeds
        },
        ("test", "strided"): {(k, s): _scores(0.30, 0.5) for k in keys for s in seeds},
        ("test", "consecutive"): {(k, s): _scores(0.35, 0.5) for k in keys for s in seeds},
    }
    results = StudyResults({}, {}, protocols)
    rows = protocol_rows(results, keys)
    baseline = rows[0]
    assert baseline[:3] == ["Baseline (only global branch)", "41.00 ± 1.00", "39.00 ± 0.00"]
    assert baseline[3].startswith("−2.00 [")  # paired over its 3 seeds
    assert baseline[6] == "+5.00 [+5.00, +5.00]"
    assert rows[-1][0] == "all 6 runs"
    pooled = protocol_difference(results, "val", keys)
    assert pooled.n == 6 and pooled.verdict == "worse"
    decision = protocol_decision(results, keys)
    assert "`strided` (which matches the training clips) stays the default" in decision
    # Had validation favoured consecutive clips, the rule would switch the default.
    swapped = StudyResults(
        {},
        {},
        {
            ("val", "strided"): protocols[("val", "consecutive")],
            ("val", "consecutive"): protocols[("val", "strided")],
        },
    )
    assert "should be `consecutive`" in protocol_decision(swapped, keys)
    assert "No run" in protocol_decision(StudyResults({}, {}), keys)

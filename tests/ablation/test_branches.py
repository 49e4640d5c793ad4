"""Each branch of ``f_all`` ranked on its own, and how the report shows it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from stgcn_reid.ablation.branches import BranchScores, branch_scores, branch_slices
from stgcn_reid.ablation.report import branch_section, render_report
from stgcn_reid.ablation.results import FeatureSet, Scores, StudyResults


def test_slices_follow_the_order_of_concatenation() -> None:
    slices = branch_slices({"global": 3, "temporal": 3, "spatial": 8})
    assert slices == {"global": slice(0, 3), "temporal": slice(3, 6), "spatial": slice(6, 14)}


def _features() -> FeatureSet:
    """Two queries (ids 1, 2), gallery ids 1, 2, 3. Column 0 (global) puts each query next to
    its own id; column 1 (temporal) puts query 1 next to id 2 and query 2 next to id 1."""
    query = np.array([[0.0, 10.0], [5.0, 0.0]], dtype=np.float32)
    gallery = np.array([[0.0, 0.0], [5.0, 10.0], [20.0, 20.0]], dtype=np.float32)
    return FeatureSet(
        query=query,
        gallery=gallery,
        q_pids=np.array([1, 2]),
        g_pids=np.array([1, 2, 3]),
        q_camids=np.zeros(2, dtype=int),
        g_camids=np.ones(3, dtype=int),
        q_tracks=np.array([0, 1]),
        g_tracks=np.array([2, 3, 4]),
    )


def test_each_branch_ranks_with_its_own_columns() -> None:
    scores = branch_scores(_features(), {"global": 1, "temporal": 1}, max_rank=3)
    assert scores.alone["global"].mean_ap == pytest.approx(1.0)
    assert scores.alone["global"].rank1 == pytest.approx(1.0)
    # The temporal column ranks the other id first for both queries: AP 1/2 each.
    assert scores.alone["temporal"].mean_ap == pytest.approx(0.5)
    assert scores.alone["temporal"].rank1 == pytest.approx(0.0)
    # Mean |x| of the five tracklets: global (0 + 5 + 0 + 5 + 20) / 5, temporal 40 / 5.
    assert scores.norms == pytest.approx({"global": 6.0, "temporal": 8.0})


def test_balanced_weighs_a_small_branch_as_much_as_a_large_one() -> None:
    # Branch "a" (columns 0-1) tells the ids apart by its direction, at a tiny scale; branch
    # "b" (columns 2-3) points the same way for every tracklet, only its length varies, and
    # ranks id 3 before id 1 for query 1. The Euclidean f_all follows b; normalised, b's part
    # is the same unit vector everywhere and a decides.
    features = dataclasses.replace(
        _features(),
        query=np.array([[0.01, 0, 100, 0], [0, 0.01, 100, 0]], dtype=np.float32),
        gallery=np.array(
            [[0.02, 0, 10, 0], [0, 0.02, 100, 0], [0.01, 0.03, 90, 0]], dtype=np.float32
        ),
    )
    scores = branch_scores(features, {"a": 2, "b": 2}, max_rank=3)
    assert scores.alone["a"].mean_ap == pytest.approx(1.0)
    assert scores.alone["b"].mean_ap == pytest.approx((1 / 3 + 1) / 2)
    assert scores.balanced.mean_ap == pytest.approx(1.0)


def test_widths_that_do_not_add_up_to_the_features_are_refused() -> None:
    with pytest.raises(ValueError, match="add up to 3: not this model's features"):
        branch_scores(_features(), {"global": 1, "temporal": 2})


def _scores(mean_ap: float) -> Scores:
    return Scores(mean_ap, mean_ap, mean_ap, np.array([mean_ap]))


def _branches(g: float, t: float, s: float, balanced: float) -> BranchScores:
    return BranchScores(
        alone={"global": _scores(g), "temporal": _scores(t), "spatial": _scores(s)},
        balanced=_scores(balanced),
        norms={"global": 10.0, "temporal": 2.0, "spatial": 4.0},
    )


def test_report_puts_each_branch_beside_f_all(tmp_path: Path) -> None:
    results = StudyResults({("stgcn", 0): _scores(0.4), ("stgcn", 1): _scores(0.6)}, {})
    branches = {
        ("stgcn", 0): _branches(0.3, 0.2, 0.1, 0.7),
        ("stgcn", 1): _branches(0.5, 0.2, 0.3, 0.7),
    }
    lines = branch_section(branches, results)
    row = next(line for line in lines if line.startswith("| STGCN"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "2"  # seeds
    assert cells[2].startswith("50.00 ±")  # f_all
    assert cells[3].startswith("70.00 ±")  # balanced
    assert cells[4].startswith("40.00 ±") and cells[5].startswith("20.00 ±")
    assert cells[6].startswith("20.00 ±")
    assert cells[7] == "10.0 / 2.0 / 4.0"
    assert branch_section({}, results) == []

    findings = tmp_path / "results-findings.md"
    findings.write_text("STGCN is behind the baseline here.\n")
    page = render_report([], results, {}, [], "quick", "synthetic_hard", tmp_path / "r.md",
                         branches=branches, findings=findings)  # fmt: skip
    assert "## Findings" in page and "STGCN is behind the baseline here." in page
    assert page.index("## Findings") < page.index("## How it was made")
    assert "## Each branch on its own" in page
    absent = render_report([], results, {}, [], "quick", "synthetic_hard", tmp_path / "r.md",
                           findings=tmp_path / "none.md")  # fmt: skip
    assert "## Findings" not in absent

"""``python -m stgcn_reid.ablation`` end to end at the smoke budget: runs, report, pictures."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from stgcn_reid.ablation import execute, plan_runs
from stgcn_reid.ablation.cli import main

pytestmark = pytest.mark.slow
PICTURES = ("cmc", "validation", "ranked_baseline", "ranked_stgcn", "gradcam", "adjacency")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, smoke_data_dir: Path) -> dict[str, Path]:
    """Baseline and STGCN, one seed, trained and tested by the real entry points."""
    root = tmp_path_factory.mktemp("study")
    paths = {"out": root / "docs" / "results.md", "logs": root / "logs", "data": smoke_data_dir}
    status = main([*_arguments(paths), "--data-dir", str(smoke_data_dir)])
    assert status == 0
    return paths


def _arguments(paths: dict[str, Path]) -> list[str]:
    return [
        "--budget", "smoke", "--seeds", "0", "--study", "variants",
        "--variants", "baseline", "stgcn", "--dataset", "synthetic_smoke",
        "--out", str(paths["out"]), "--log-dir", str(paths["logs"]),
    ]  # fmt: skip


def _row(markdown: str, label: str) -> list[str]:
    """The cells of the first table row that starts with ``label``."""
    line = next(x for x in markdown.splitlines() if x.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_report_has_the_rows_of_the_runs_beside_the_paper(study: dict[str, Path]) -> None:
    markdown = study["out"].read_text()
    assert "**Smoke scale.**" in markdown
    assert "python -m stgcn_reid.ablation --budget smoke --seeds 0" in markdown
    run_dir = study["logs"] / "smoke" / "synthetic_smoke" / "variants"
    for label, key, paper_map in (
        ("Baseline (only global branch)", "baseline", "80.76"),
        ("STGCN (SGCN+TGCN+global)", "stgcn", "83.70"),
    ):
        metrics = json.loads((run_dir / key / "seed0" / "metrics.json").read_text())
        cells = _row(markdown, label)
        assert cells[1] == f"{100 * metrics['test/mAP']:.2f}"
        assert cells[2] == f"{100 * metrics['test/rank1']:.2f}"
        assert cells[3] == f"{100 * metrics['test/rank5']:.2f}"
        # Δ to the baseline: none on its own row; one seed gives no interval.
        if key == "baseline":
            assert cells[4:7] == ["—"] * 3
        else:
            assert cells[4].endswith("(1 seed: no interval)") and cells[6] == "too few seeds"
        assert cells[7] == "1"  # seeds
        assert re.fullmatch(r"\d+ s|[\d.]+ min", cells[8])  # wall time
        assert cells[9] == paper_map
    # The ensemble needs SGCN+global and TGCN+global, which were not run.
    assert "| Ensemble" not in markdown
    assert "| TGCN+global |" not in markdown


def test_pictures_are_written_and_linked(study: dict[str, Path]) -> None:
    markdown = study["out"].read_text()
    for name in PICTURES:
        link = re.search(rf"!\[{name}\]\(([^)]+)\)", markdown)
        assert link, name
        assert link.group(1) == f"img/ablation/{name}.png"
        with Image.open(study["out"].parent / link.group(1)) as image:
            assert image.format == "PNG" and min(image.size) > 100


def test_second_run_skips_finished_runs_and_report_only_rebuilds(study: dict[str, Path]) -> None:
    runs = plan_runs(
        "variants", "smoke", [0], study["logs"], "synthetic_smoke", variants=["baseline", "stgcn"]
    )

    def refuse(command: Sequence[str], log_path: Path) -> int:
        raise AssertionError(f"launched {command}")

    assert execute(runs, refuse) == []

    before = study["out"].read_text()
    study["out"].unlink()
    assert main([*_arguments(study), "--report-only"]) == 0
    after = study["out"].read_text()
    table = "## Table 3"
    assert after[after.index(table) :] == before[before.index(table) :]


def test_report_breaks_stgcn_down_by_branch(study: dict[str, Path]) -> None:
    markdown = study["out"].read_text()
    start = markdown.index("## Each branch on its own")
    section = markdown[start : markdown.index("\n## ", start + 1)]
    cells = _row(section, "STGCN (SGCN+TGCN+global)")
    assert cells[1] == "1"  # seeds with features
    # f_all equals Table 3's mAP; every branch (and the balanced f_all) has its own score.
    assert cells[2] == _row(markdown, "STGCN (SGCN+TGCN+global)")[1]
    for cell in cells[3:7]:
        assert re.fullmatch(r"\d+\.\d\d", cell), cell
    assert re.fullmatch(r"[\d.]+ / [\d.]+ / [\d.]+", cells[7])
    # The baseline has one branch: nothing to break down.
    assert "| Baseline (only global branch) | 1 |" not in section


def test_report_splits_occluded_and_clean_queries(study: dict[str, Path]) -> None:
    markdown = study["out"].read_text()
    section = markdown[markdown.index("## Occluded and clean queries") :]
    for label in ("Baseline (only global branch)", "STGCN (SGCN+TGCN+global)"):
        cells = _row(section, label)
        assert cells[1] == "1"
        assert cells[2] == _row(markdown, cells[0])[1]  # all queries: Table 3's mAP
        occluded, clean, gap = (float(c) for c in cells[3:6])
        assert gap == pytest.approx(occluded - clean, abs=0.011)

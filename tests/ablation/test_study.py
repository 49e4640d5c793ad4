"""``python -m stgcn_reid.ablation`` end to end: the paper-size GPU study's command (budget
``gpu``) at a toy size on CPU, through runs, sweeps, report and pictures."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from stgcn_reid.ablation import execute, plan_runs
from stgcn_reid.ablation.cli import main
from stgcn_reid.ablation.runner import study_dir

pytestmark = pytest.mark.slow
PICTURES = ("cmc", "validation", "ranked_baseline", "ranked_stgcn", "gradcam", "adjacency")
#: The GPU budget's command made toy-sized for a CPU: the smoke set, one epoch, T = 2; 128 x 64
#: keeps the 8 feature rows that P = 8 needs.
TOY = (
    "experiment=smoke", "trainer=cpu", "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1",
    "data.seq_len=2", "data.height=128", "data.width=64", "data.num_identities=4",
    "data.num_instances=2", "data.num_workers=0",
)  # fmt: skip


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, smoke_data_dir: Path) -> dict[str, Path]:
    """Baseline and STGCN, one seed, and the P_t sweep, trained and tested by the real entry
    points."""
    root = tmp_path_factory.mktemp("study")
    paths = {"out": root / "docs" / "results.md", "logs": root / "logs", "data": smoke_data_dir}
    status = main([*_arguments(paths), "--data-dir", str(smoke_data_dir)])
    assert status == 0
    return paths


def _arguments(paths: dict[str, Path]) -> list[str]:
    return [
        "--budget", "gpu", "--seeds", "0", "--study", "all", "--sweeps", "P_t",
        "--variants", "baseline", "stgcn", "--dataset", "synthetic_smoke",
        "--out", str(paths["out"]), "--log-dir", str(paths["logs"]), *TOY,
    ]  # fmt: skip


def _row(markdown: str, label: str) -> list[str]:
    """The cells of the first table row that starts with ``label``."""
    line = next(x for x in markdown.splitlines() if x.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_report_has_the_rows_of_the_runs_beside_the_paper(study: dict[str, Path]) -> None:
    markdown = study["out"].read_text()
    assert "budget `gpu`" in markdown
    assert "python -m stgcn_reid.ablation --budget gpu --seeds 0" in markdown
    run_dir = study_dir(study["logs"], "gpu", "synthetic_smoke", TOY) / "variants"
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
        "all",
        "gpu",
        [0],
        study["logs"],
        "synthetic_smoke",
        variants=["baseline", "stgcn"],
        sweeps=["P_t"],
        extra=TOY,
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


def test_the_gpu_budget_runs_the_paper_input_with_the_given_overrides_last(
    study: dict[str, Path],
) -> None:
    """Every run gets the budget's paper-size settings, then the command's own overrides; the
    P_t sweep reaches P = 8 (16 x 8 maps at 256 x 128; 8 rows in the toy's 128 x 64)."""
    root = study_dir(study["logs"], "gpu", "synthetic_smoke", TOY)
    assert root != study_dir(study["logs"], "gpu", "synthetic_smoke")  # its own folder
    runs = plan_runs("all", "gpu", [0], study["logs"], "synthetic_smoke", sweeps=["P_t"])
    stgcn = next(r for r in runs if r.key == "stgcn")
    for override in ("trainer=gpu", "data.seq_len=8", "data.height=256", "data.width=128"):
        assert override in stgcn.overrides
    assert sorted(r.key for r in runs if r.group == "sweeps") == [
        "M3_K2_Pt2_Ps4", "M3_K2_Pt4_Ps4", "M3_K2_Pt8_Ps4"
    ]  # fmt: skip
    for name in ("M3_K2_Pt2_Ps4", "M3_K2_Pt8_Ps4"):
        metrics = json.loads((root / "sweeps" / name / "seed0" / "metrics.json").read_text())
        assert 0 <= metrics["test/mAP"] <= 1
    markdown = study["out"].read_text()
    panel = markdown[markdown.index("### P_t") : markdown.index("### P_s")]
    assert re.fullmatch(r"\d+\.\d\d", _row(panel, "8")[1])  # P_t = 8 ran and is scored

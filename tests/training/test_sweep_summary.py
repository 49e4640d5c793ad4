"""The multirun summary table built from each job's metrics.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from stgcn_reid.utils.io import write_json
from stgcn_reid.utils.sweep_summary import write_summary


def make_job(sweep: Path, num: int, overrides: list[str], metrics: dict | None) -> None:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        write_json(job / "metrics.json", metrics)


def test_summary_lists_every_job_with_its_metrics(tmp_path: Path) -> None:
    make_job(tmp_path, 0, ["model.tgcn_patches=2"], {"test/mAP": 0.5, "test/rank1": 0.6})
    make_job(tmp_path, 1, ["model.tgcn_patches=4"], {"test/mAP": 0.7, "test/rank1": 0.8})
    make_job(tmp_path, 2, ["model.tgcn_patches=8"], None)  # crashed job
    csv_path, md_path = write_summary(tmp_path)

    rows = list(csv.DictReader(csv_path.open()))
    assert [r["overrides"] for r in rows] == [f"model.tgcn_patches={p}" for p in (2, 4, 8)]
    assert [r["test/mAP"] for r in rows] == ["0.5", "0.7", ""]
    assert rows[2]["status"] == "failed or unfinished"
    md = md_path.read_text()
    assert "| 1 | model.tgcn_patches=4 | 70.00 | 80.00 |" in md


def test_summary_gives_the_mean_and_std_over_the_finished_jobs(tmp_path: Path) -> None:
    ranks = [(0.5, 0.6), (0.7, 0.8), (0.6, 0.9)]
    for num, (m_ap, rank1) in enumerate(ranks):
        metrics = {"test/mAP": m_ap, "test/rank1": rank1, "test/rank5": 1.0}
        make_job(tmp_path, num, [f"dataset.split_id={num}"], metrics)
    make_job(tmp_path, 3, ["dataset.split_id=3"], None)  # crashed: not in the mean
    csv_path, md_path = write_summary(tmp_path)

    assert len(list(csv.DictReader(csv_path.open()))) == 4  # jobs only, as before
    last = md_path.read_text().splitlines()[-1]
    # mAP 0.5 / 0.7 / 0.6: mean 60.00, sample std 10.00; rank-1 mean 76.67, std 15.28.
    assert last == (
        "| mean ± std (3 jobs) |  | 60.00 ± 10.00 | 76.67 ± 15.28 | 100.00 ± 0.00 |  |  |  |"
    )
    stats = json.loads((tmp_path / "summary_stats.json").read_text())
    assert stats["test/mAP"]["n"] == 3
    assert stats["test/mAP"]["mean"] == pytest.approx(0.6)
    assert stats["test/mAP"]["std"] == pytest.approx(0.1)
    assert stats["test/rank10"] == {"mean": None, "std": None, "n": 0}


def test_a_single_job_has_a_mean_and_no_std(tmp_path: Path) -> None:
    make_job(tmp_path, 0, ["dataset.split_id=0"], {"test/mAP": 0.25})
    _, md_path = write_summary(tmp_path)
    assert md_path.read_text().splitlines()[-1].startswith("| mean ± std (1 jobs) |  | 25.00 |")

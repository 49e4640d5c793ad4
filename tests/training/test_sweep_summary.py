"""The multirun summary table built from each job's metrics.json."""

from __future__ import annotations

import csv
from pathlib import Path

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

"""Hydra callback: one table of every job's test metrics at the end of a multirun."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from stgcn_reid.utils.io import atomic_write

log = logging.getLogger(__name__)
METRIC_COLUMNS = ("test/mAP", "test/rank1", "test/rank5", "test/rank10", "test/rank20")


def collect_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job directory: its overrides and the metrics of its ``metrics.json``."""
    rows = []
    for job_dir in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        overrides_file = job_dir / ".hydra" / "overrides.yaml"
        if not overrides_file.is_file():
            continue
        row: dict[str, Any] = {"job": job_dir.name}
        row["overrides"] = " ".join(OmegaConf.load(overrides_file))
        metrics_file = job_dir / "metrics.json"
        if metrics_file.is_file():
            metrics = json.loads(metrics_file.read_text())
            row.update({k: metrics.get(k) for k in METRIC_COLUMNS})
            row["status"] = "done"
        else:
            row["status"] = "failed or unfinished"
        rows.append(row)
    return rows


def to_markdown(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table; floats as percentages with two decimals."""

    def cell(value: Any) -> str:
        return f"{100 * value:.2f}" if isinstance(value, float) else str(value or "")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_summary(sweep_dir: Path) -> tuple[Path, Path]:
    """Write ``summary.csv`` and ``summary.md`` in ``sweep_dir``; return their paths."""
    rows = collect_runs(sweep_dir)
    columns = ["job", "overrides", *METRIC_COLUMNS, "status"]

    def write_csv(handle: Any) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        handle.write(text.getvalue().encode())

    csv_path = atomic_write(sweep_dir / "summary.csv", write_csv)
    md = to_markdown(rows, columns)
    md_path = atomic_write(sweep_dir / "summary.md", lambda handle: handle.write(md.encode()))
    return csv_path, md_path


class SweepSummary(Callback):
    """Writes ``summary.csv`` / ``summary.md`` into the sweep directory when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        csv_path, md_path = write_summary(sweep_dir)
        log.info("Sweep summary: %s\n%s", csv_path, md_path.read_text())

"""Hydra callback: one table of every job's test metrics at the end of a multirun.

``summary.csv`` has one row per job; ``summary.md`` the same table with a last row of the mean
± sample standard deviation over the finished jobs (the ten-trial protocol of iLIDS-VID and
PRID-2011, ``hparams_search=trials``), also written to ``summary_stats.json``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import statistics
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from stgcn_reid.utils.io import atomic_write, write_json
from stgcn_reid.utils.markdown import markdown_table

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


def mean_std(rows: list[dict[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """``{metric: {"mean", "std", "n"}}`` over the finished jobs that report the metric; ``std``
    is the sample standard deviation (``None`` for a single job, ``mean`` too for none)."""
    result: dict[str, dict[str, float | int | None]] = {}
    for metric in METRIC_COLUMNS:
        values = [
            float(r[metric])
            for r in rows
            if r["status"] == "done" and isinstance(r.get(metric), int | float)
        ]
        result[metric] = {
            "mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values),
        }
    return result


def mean_std_row(stats: dict[str, dict[str, float | int | None]]) -> dict[str, str]:
    """The markdown table's last row: ``mean ± std`` in percent for each metric."""
    count = max((int(s["n"] or 0) for s in stats.values()), default=0)
    row = {"job": f"mean ± std ({count} jobs)", "overrides": "", "status": ""}
    for metric, s in stats.items():
        mean, std = s["mean"], s["std"]
        if mean is None:
            row[metric] = ""
        elif std is None:
            row[metric] = f"{100 * mean:.2f}"
        else:
            row[metric] = f"{100 * mean:.2f} ± {100 * std:.2f}"
    return row


def to_markdown(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table; floats as percentages with two decimals."""

    def cell(value: Any) -> str:
        return f"{100 * value:.2f}" if isinstance(value, float) else str(value or "")

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    return "\n".join(markdown_table(columns, cells)) + "\n"


def write_summary(sweep_dir: Path) -> tuple[Path, Path]:
    """Write ``summary.csv``, ``summary.md`` (with the mean ± std row) and
    ``summary_stats.json`` in ``sweep_dir``; return the paths of the first two."""
    rows = collect_runs(sweep_dir)
    columns = ["job", "overrides", *METRIC_COLUMNS, "status"]

    def write_csv(handle: Any) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        handle.write(text.getvalue().encode())

    csv_path = atomic_write(sweep_dir / "summary.csv", write_csv)
    stats = mean_std(rows)
    md = to_markdown([*rows, mean_std_row(stats)], columns)
    md_path = atomic_write(sweep_dir / "summary.md", lambda handle: handle.write(md.encode()))
    write_json(sweep_dir / "summary_stats.json", stats)
    return csv_path, md_path


class SweepSummary(Callback):
    """Writes ``summary.csv`` / ``summary.md`` into the sweep directory when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        csv_path, md_path = write_summary(sweep_dir)
        log.info("Sweep summary: %s\n%s", csv_path, md_path.read_text())

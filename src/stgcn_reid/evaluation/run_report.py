"""The test report of a run: a console table, ``metrics.json``, a CMC curve and ranked results."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import Logger, WandbLogger

from stgcn_reid.data.datamodule import EvalTracklets
from stgcn_reid.evaluation.metric import RankingResult
from stgcn_reid.utils.io import write_json
from stgcn_reid.viz import plot_cmc, plot_ranked_results
from stgcn_reid.viz.ranking import spread_queries

log = logging.getLogger(__name__)
TABLE_KEYS = ("mAP", "mINP", "rank1", "rank5", "rank10", "rank20")


def format_table(metrics: Mapping[str, float], title: str = "test") -> str:
    """Metrics as a two-row text table, in percent."""
    header = " ".join(f"{k:>8}" for k in TABLE_KEYS)
    values = " ".join(f"{100 * metrics[k]:>8.2f}" for k in TABLE_KEYS)
    valid = f"{int(metrics['num_valid_queries'])}/{int(metrics['num_queries'])} queries"
    return f"{title} ({valid}, %)\n{header}\n{values}"


def write_pictures(
    ranking: RankingResult,
    tracklets: EvalTracklets,
    output_dir: Path,
    num_queries: int = 6,
    topk: int = 5,
) -> dict[str, Path]:
    """``cmc.png`` and ``ranked.png`` (Figure 6 style) in ``output_dir``."""
    frames: Sequence[Sequence[str]] = [t.frames for t in tracklets.tracklets]
    pictures = {"cmc": plot_cmc({"STGCN": ranking.cmc}, output_dir / "cmc.png")}
    queries = spread_queries(
        ranking.q_pids, ranking.g_pids, ranking.q_camids, ranking.g_camids, num_queries
    )
    if queries:
        pictures["ranked"] = plot_ranked_results(
            [frames[i] for i in ranking.query_tracks.tolist()],
            [frames[i] for i in ranking.gallery_tracks.tolist()],
            ranking.distmat,
            ranking.q_pids,
            ranking.g_pids,
            ranking.q_camids,
            ranking.g_camids,
            output_dir / "ranked.png",
            topk=min(topk, ranking.distmat.shape[1]),
            query_indices=queries,
        )
    return pictures


def report_test_result(
    metrics: Mapping[str, float],
    ranking: RankingResult,
    tracklets: EvalTracklets,
    output_dir: str | Path,
    loggers: Sequence[Logger] = (),
    extra: Mapping[str, Any] | None = None,
    num_queries: int = 6,
    topk: int = 5,
    split: str = "test",
) -> dict[str, Any]:
    """Print the table, write ``metrics.json`` and the pictures, send the pictures to W&B.

    ``metrics.json`` holds ``<split>/<metric>`` fractions, the CMC curve and ``extra`` entries.
    """
    output_dir = Path(output_dir)
    log.info("\n%s", format_table(metrics, title=split))
    record = {f"{split}/{k}": float(v) for k, v in metrics.items()}
    record[f"{split}/cmc"] = [float(x) for x in ranking.cmc]
    record.update(extra or {})
    write_json(output_dir / "metrics.json", record)
    pictures = write_pictures(ranking, tracklets, output_dir, num_queries, topk)
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(
                key=f"{split}/pictures",
                images=[str(p) for p in pictures.values()],
                caption=list(pictures),
            )
    log.info("Wrote %s and %s", output_dir / "metrics.json", ", ".join(map(str, pictures.values())))
    return record

"""Evaluation entry point: ``python -m stgcn_reid.eval ckpt_path=... [dataset=...]``.

Rebuilds the trained model from the checkpoint (no training config needed), extracts features
with the all-frames test sampling, prints mAP / mINP / rank-k (plus re-ranked figures with
``eval.rerank=true``), and writes ``metrics.json``, ``cmc.png``, ``ranked.png`` and, with
``eval.save_features=true``, ``features.npz`` into the run directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from stgcn_reid.evaluation import evaluate_rank, re_ranking
from stgcn_reid.evaluation.distance import compute_distance
from stgcn_reid.evaluation.metric import RankingResult
from stgcn_reid.lit_module import ReIDLitModule
from stgcn_reid.report import format_table, report_test_result
from stgcn_reid.utils.checkpoints import load_net
from stgcn_reid.utils.cli import run_with_hints
from stgcn_reid.utils.config import CONFIG_DIR
from stgcn_reid.utils.instantiate import finish_loggers, instantiate_loggers
from stgcn_reid.utils.io import atomic_write

log = logging.getLogger(__name__)
#: Test-time input geometry fixed by the trained model.
GEOMETRY_KEYS = ("seq_len", "height", "width")


def reranked_metrics(ranking: RankingResult, metric_cfg: DictConfig) -> dict[str, float]:
    """CMC / mAP after k-reciprocal re-ranking of the same query and gallery features."""
    qf, gf = ranking.query_features, ranking.gallery_features

    def dist(a: Any, b: Any) -> Any:
        return compute_distance(a, b, metric_cfg.metric, metric_cfg.normalize)

    result = evaluate_rank(
        re_ranking(dist(qf, gf), dist(qf, qf), dist(gf, gf)),
        ranking.q_pids,
        ranking.g_pids,
        ranking.q_camids,
        ranking.g_camids,
        max_rank=metric_cfg.max_rank,
        protocol=metric_cfg.protocol,
    )
    cmc = result["cmc"]
    metrics = {f"rank{r}": float(cmc[min(r, len(cmc)) - 1]) for r in (1, 5, 10, 20)}
    metrics.update({k: float(result[k]) for k in ("mAP", "mINP", "num_valid_queries")})
    metrics["num_queries"] = float(result["num_queries"])
    return metrics


def save_features(ranking: RankingResult, path: Path) -> None:
    """Query/gallery tracklet features with ids, cameras and track indices, as one npz."""
    arrays = {
        "query_features": ranking.query_features.numpy(),
        "gallery_features": ranking.gallery_features.numpy(),
        "query_pids": ranking.q_pids.numpy(),
        "gallery_pids": ranking.g_pids.numpy(),
        "query_camids": ranking.q_camids.numpy(),
        "gallery_camids": ranking.g_camids.numpy(),
        "query_tracks": ranking.query_tracks.numpy(),
        "gallery_tracks": ranking.gallery_tracks.numpy(),
    }
    atomic_write(path, lambda handle: np.savez(handle, **arrays))


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test the checkpoint's model on the configured (or its own) dataset; return the metrics."""
    pl.seed_everything(cfg.seed, workers=True)
    loaded = load_net(cfg.ckpt_path)
    trained_data = loaded.run_config["data"]
    geometry = {key: trained_data[key] for key in GEOMETRY_KEYS}
    dataset = cfg.get("dataset") or loaded.run_config["dataset"]
    log.info("Model input from the checkpoint: %s; dataset: %s", geometry, dict(dataset))
    datamodule = hydra.utils.instantiate(cfg.data, dataset=dataset, **geometry)
    module = ReIDLitModule(net=loaded.net, metric=hydra.utils.instantiate(cfg.metric))
    loggers = instantiate_loggers(cfg.get("logger"))
    trainer: pl.Trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False)
    output_dir = Path(cfg.paths.output_dir)
    try:
        trainer.test(module, datamodule=datamodule)
        if not trainer.is_global_zero:
            return {}
        ranking = module.test_ranking
        extra: dict[str, Any] = {"ckpt_path": str(cfg.ckpt_path)}
        if cfg.eval.rerank:
            reranked = reranked_metrics(ranking, cfg.metric)
            log.info("\n%s", format_table(reranked, title="test, re-ranked"))
            extra.update({f"test_rerank/{k}": v for k, v in reranked.items()})
        if cfg.eval.save_features:
            save_features(ranking, output_dir / "features.npz")
        return report_test_result(
            module.test_result,
            ranking,
            datamodule.test_tracklets,
            output_dir,
            loggers,
            extra,
            num_queries=cfg.eval.num_ranked_queries,
            topk=cfg.eval.topk,
        )
    finally:
        finish_loggers(loggers)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    log.info("Composed config:\n%s", OmegaConf.to_yaml(cfg, resolve=True))
    evaluate(cfg)


if __name__ == "__main__":
    run_with_hints(main, "eval")

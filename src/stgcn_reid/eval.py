"""Evaluation entry point: ``python -m stgcn_reid.eval ckpt_path=... [dataset=...]``.

The model, its input size and (by default) the dataset come from the checkpoint's run config,
not from an ``experiment=``; ``+dataset.root=...`` moves the checkpoint's dataset, and
``dataset=<name> dataset.root=...`` evaluates on another one.

Rebuilds the trained model from the checkpoint (no training config needed), extracts features of
the test split (or, with ``eval.split=val``, of the validation split the checkpoint's run was
validated on) with ``data.test_sampling`` (every frame, strided clips by default), prints mAP /
mINP / rank-k (plus re-ranked figures with ``eval.rerank=true``), and writes ``metrics.json``,
``cmc.png``, ``ranked.png`` and, with ``eval.save_features=true``, ``features.npz`` into the run
directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from stgcn_reid.checkpoints.rebuild import load_net
from stgcn_reid.evaluation import cmc_at, evaluate_rank, re_ranking
from stgcn_reid.evaluation.distance import compute_distance
from stgcn_reid.evaluation.features import FEATURES_FILE, save_features
from stgcn_reid.evaluation.metric import RankingResult
from stgcn_reid.evaluation.run_report import format_table, report_test_result
from stgcn_reid.lit_module import ReIDLitModule
from stgcn_reid.utils.config import CONFIG_DIR
from stgcn_reid.utils.instantiate import closing_loggers, instantiate_loggers
from stgcn_reid.utils.override_hints import run_with_hints

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
    metrics = {f"rank{r}": cmc_at(cmc, r) for r in (1, 5, 10, 20)}
    metrics.update({k: float(result[k]) for k in ("mAP", "mINP", "num_valid_queries")})
    metrics["num_queries"] = float(result["num_queries"])
    return metrics


def validation_options(split: str, trained_data: dict[str, Any]) -> dict[str, Any]:
    """``val_split`` / ``val_seed`` of the data module: the training run's for ``split="val"``
    (the same validation identities it was selected on), none for the test split."""
    if split == "val":
        return {
            "val_split": trained_data.get("val_split", "none"),
            "val_seed": trained_data.get("val_seed", 0),
        }
    if split != "test":
        raise ValueError(f"eval.split={split!r}; expected 'test' or 'val'")
    return {"val_split": "none"}


def eval_dataset(chosen: DictConfig | None, trained: dict[str, Any]) -> dict[str, Any]:
    """The dataset options to evaluate on: a chosen dataset (``dataset=<name>``) as configured;
    else the checkpoint's, with the options given as ``+dataset.<key>=...`` replaced."""
    options: dict[str, Any] = dict(chosen or {})
    return options if "name" in options else {**trained, **options}


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test the checkpoint's model on the configured (or its own) dataset; return the metrics."""
    pl.seed_everything(cfg.seed, workers=True)
    loaded = load_net(cfg.ckpt_path)
    trained_data = loaded.run_config["data"]
    geometry = {key: trained_data[key] for key in GEOMETRY_KEYS}
    dataset = eval_dataset(cfg.get("dataset"), loaded.run_config["dataset"])
    split = cfg.eval.split
    log.info("Model input from the checkpoint: %s; dataset: %s", geometry, dict(dataset))
    datamodule = hydra.utils.instantiate(
        cfg.data, dataset=dataset, **geometry, **validation_options(split, trained_data)
    )
    datamodule.prepare_once()
    datamodule.setup("test")
    datamodule.check_evaluation([split])
    loader = datamodule.eval_dataloader(split, cfg.data.test_sampling)
    module = ReIDLitModule(net=loaded.net, metric=hydra.utils.instantiate(cfg.metric))
    loggers = instantiate_loggers(cfg.get("logger"))
    trainer: pl.Trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False)
    output_dir = Path(cfg.paths.output_dir)
    with closing_loggers(loggers):
        trainer.test(module, dataloaders=loader)
        if not trainer.is_global_zero:
            return {}
        ranking = module.test_ranking
        extra: dict[str, Any] = {
            "ckpt_path": str(cfg.ckpt_path),
            "split": split,
            "sampling": cfg.data.test_sampling,
        }
        if cfg.eval.rerank:
            reranked = reranked_metrics(ranking, cfg.metric)
            log.info("\n%s", format_table(reranked, title=f"{split}, re-ranked"))
            extra.update({f"{split}_rerank/{k}": v for k, v in reranked.items()})
        if cfg.eval.save_features:
            save_features(ranking, output_dir / FEATURES_FILE)
        return report_test_result(
            module.test_result,
            ranking,
            datamodule.eval_tracklets(split),
            output_dir,
            loggers,
            extra,
            num_queries=cfg.eval.num_ranked_queries,
            topk=cfg.eval.topk,
            split=split,
        )


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    log.info("Composed config:\n%s", OmegaConf.to_yaml(cfg, resolve=True))
    evaluate(cfg)


if __name__ == "__main__":
    run_with_hints(main, "eval")

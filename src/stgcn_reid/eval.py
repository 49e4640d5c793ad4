"""Evaluation entry point: ``python -m stgcn_reid.eval ckpt_path=... [dataset=...]``.

The model, its input size and (by default) the dataset come from the checkpoint's run config,
not from an ``experiment=``; ``+dataset.root=...`` moves the checkpoint's dataset, and
``dataset=<name> dataset.root=...`` evaluates on another one.

Rebuilds the trained model from the checkpoint (no training config needed), extracts features of
the test split (or, with ``eval.split=val``, of the validation split the checkpoint's run was
validated on) with ``data.test_sampling`` (every frame, strided clips by default), prints mAP /
mINP / rank-k, and writes ``metrics.json``, ``cmc.png``, ``ranked.png`` and, with
``eval.save_features=true``, the feature file ``features.npz``
(:class:`~stgcn_reid.inference.feature_file.FeatureFile`) into the run directory.

``metric.rerank=true`` ranks with k-reciprocal re-ranking (:class:`~stgcn_reid.evaluation.
ReIDMetric`, the one re-ranking path): every figure is then re-ranked, and ``metrics.json``
records ``rerank`` (``none``, ``paper`` or ``release``: ``metric.rerank_mode``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from stgcn_reid.checkpoints.rebuild import load_net
from stgcn_reid.evaluation.run_report import report_test_result
from stgcn_reid.inference import FEATURES_FILE, evaluation_features
from stgcn_reid.lit_module import ReIDLitModule
from stgcn_reid.utils.config import CONFIG_DIR
from stgcn_reid.utils.instantiate import closing_loggers, instantiate_loggers
from stgcn_reid.utils.override_hints import run_with_hints

log = logging.getLogger(__name__)
#: Test-time input geometry fixed by the trained model.
GEOMETRY_KEYS = ("seq_len", "height", "width")


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
            "rerank": cfg.metric.rerank_mode if cfg.metric.rerank else "none",
        }
        if cfg.eval.save_features:
            evaluation_features(
                ranking, cfg.ckpt_path, loaded.run_config, cfg.data.test_sampling
            ).save(output_dir / FEATURES_FILE)
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

"""Training entry point: ``python -m stgcn_reid.train [group=option ...] [key=value ...]``.

Composes ``conf/train.yaml``, trains STGCN, tests the checkpoint chosen on the validation split
(the best by val mAP; the last one when there is no validation split) and writes the run
directory: ``.hydra/`` (config), ``checkpoints/`` (``last.ckpt`` to resume from, the one before
it and the best by val mAP), ``metrics.json`` (final test metrics, and which checkpoint was
tested by what rule), ``cmc.png``, ``ranked.png``, the logs and, with
``save_test_features=true``, the test features (``features.npz``). The test split is read once,
by that final test. Resuming and what survives a crash: ``docs/robustness.md``.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from lightning_fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import SIGTERMException

from stgcn_reid.checkpoints.policy import (
    best_checkpoint,
    checkpoint_selection,
    resolve_resume_checkpoint,
)
from stgcn_reid.data.datamodule import EvalSplit
from stgcn_reid.evaluation.run_report import report_test_result
from stgcn_reid.inference import FEATURES_FILE, evaluation_features
from stgcn_reid.lit_module import ReIDLitModule
from stgcn_reid.utils.config import CONFIG_DIR, model_config
from stgcn_reid.utils.instantiate import closing_loggers, instantiate_callbacks, instantiate_loggers
from stgcn_reid.utils.override_hints import run_with_hints

log = logging.getLogger(__name__)


def build_module(cfg: DictConfig, num_classes: int) -> ReIDLitModule:
    """The LightningModule of a composed config, for a training split of ``num_classes`` ids.

    ``cfg`` is left as composed (names hashed from it, such as ``experiment=pretrain``'s, stay
    the same); the checkpoint's run configuration records ``num_classes``.
    """
    run_config = model_config(cfg)
    run_config["model"]["num_classes"] = num_classes
    scheduler = cfg.optim.get("scheduler")
    return ReIDLitModule(
        net=hydra.utils.instantiate(cfg.model, num_classes=num_classes),
        loss=hydra.utils.instantiate(cfg.loss),
        optimizer=hydra.utils.instantiate(cfg.optim.optimizer),
        scheduler=hydra.utils.instantiate(scheduler) if scheduler else None,
        metric=hydra.utils.instantiate(cfg.metric),
        channels_last=cfg.channels_last,
        compile=cfg.compile,
        run_config=run_config,
    )


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train, then test the best checkpoint; return the metrics (``val/*`` and ``test/*``).

    The splits to evaluate are checked from their metadata before the model is built
    (:meth:`~stgcn_reid.data.datamodule.ReIDDataModule.check_evaluation`), so that a split
    that cannot be evaluated fails before the first training step.

    A SIGTERM (cluster pre-emption) stops training after the current step, with
    ``checkpoints/last.ckpt`` at that step (:class:`~stgcn_reid.callbacks.resume.
    ResumeCheckpoint`), and exits with status 143 (128 + SIGTERM) so that a scheduler does not
    mistake the run for finished.
    """
    check_trainer(cfg.trainer)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_once()
    datamodule.setup("fit")
    datamodule.check_evaluation(evaluated_splits(cfg, datamodule.has_validation))
    module = build_module(cfg, datamodule.num_classes)
    loggers = instantiate_loggers(cfg.get("logger"))
    # Without a validation split no validation runs (it would otherwise need the test split).
    no_validation = {} if datamodule.has_validation else {"limit_val_batches": 0}
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=instantiate_callbacks(cfg.get("callbacks"), has_logger=bool(loggers)),
        logger=loggers or False,
        **no_validation,
    )
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    with closing_loggers(loggers):
        try:
            # weights_only: checkpoints hold tensors and plain containers; refuse pickled code.
            trainer.fit(
                module,
                datamodule=datamodule,
                ckpt_path=resolve_resume_checkpoint(cfg, module),
                weights_only=True,
            )
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            if cfg.test:
                best = best_checkpoint(trainer)
                selection = checkpoint_selection(best, datamodule.dataset)
                log.info("Final test of %s", selection["tested_checkpoint"])
                trainer.test(
                    module, datamodule=datamodule, ckpt_path=best or None, weights_only=True
                )
                metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
                if trainer.is_global_zero:
                    report_test_result(
                        module.test_result,
                        module.test_ranking,
                        datamodule.test_tracklets,
                        cfg.paths.output_dir,
                        loggers,
                        selection,
                    )
                    if cfg.save_test_features:
                        evaluation_features(
                            module.test_ranking,
                            best or None,
                            module.hparams.run_config,
                            cfg.data.test_sampling,
                        ).save(Path(cfg.paths.output_dir) / FEATURES_FILE)
        except SIGTERMException as stop:
            raise SystemExit(128 + signal.SIGTERM) from stop
    return metrics


def evaluated_splits(cfg: DictConfig, has_validation: bool) -> list[EvalSplit]:
    """The splits that this run evaluates: validation (if any) and test (``cfg.test``)."""
    return [split for split, used in (("val", has_validation), ("test", cfg.test)) if used]


def check_trainer(trainer: DictConfig) -> None:
    """Refuse trainer settings that torch would reject only once training starts."""
    if trainer.get("sync_batchnorm") and trainer.get("accelerator") == "cpu":
        raise ValueError(
            "trainer.sync_batchnorm=true needs GPUs (torch's SyncBatchNorm), but "
            "trainer.accelerator=cpu; for DDP on CPU use trainer=ddp_cpu"
        )


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns ``cfg.optimized_metric`` for sweepers."""
    if rank_zero_only.rank == 0:
        log.info("Composed config:\n%s", OmegaConf.to_yaml(cfg, resolve=True))
    metrics = train(cfg)
    value = metrics.get(cfg.optimized_metric)
    if value is None:
        log.warning(
            "optimized_metric '%s' was not logged; available: %s",
            cfg.optimized_metric,
            ", ".join(sorted(metrics)),
        )
    return value


if __name__ == "__main__":
    run_with_hints(main, "train")

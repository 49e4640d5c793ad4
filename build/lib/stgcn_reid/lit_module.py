"""LightningModule: STGCN + the eq. 8-9 losses + retrieval validation / test."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MaxMetric

from stgcn_reid.evaluation import ReIDMetric
from stgcn_reid.evaluation.metric import RankingResult
from stgcn_reid.losses import ReIDLoss
from stgcn_reid.models import STGCN

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]
RETRIEVAL_KEYS = ("mAP", "mINP", "rank1", "rank5", "rank10", "rank20", "num_valid_queries")


def _to_channels_last(_module: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Forward pre-hook: the backbone sees [B*T, 3, H, W] frames in channels-last layout."""
    return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])


class ReIDLitModule(pl.LightningModule):
    """Trains STGCN with eq. 8-9 and evaluates retrieval (CMC, mAP) on query/gallery.

    Args:
        net: the STGCN network.
        metric: factory of :class:`ReIDMetric` (one instance for validation, one for test).
        loss: the eq. 8-9 objective (needed for fitting only).
        optimizer: factory taking the parameters (Hydra ``_partial_``; fitting only).
        scheduler: factory taking the optimizer, stepped once per epoch, or ``None``.
        channels_last: run the backbone in channels-last memory format (faster convolutions
            with tensor cores / oneDNN).
        compile: ``torch.compile`` the backbone when fitting.
        run_config: the resolved run configuration, stored in checkpoints and logged, so that a
            checkpoint can rebuild its model without Hydra.
    """

    def __init__(
        self,
        net: STGCN,
        metric: Callable[[], ReIDMetric],
        loss: ReIDLoss | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        channels_last: bool = False,
        compile: bool = False,
        run_config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "loss", "optimizer", "scheduler", "metric"])
        self.net = net
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.val_metric = metric()
        self.test_metric = metric()
        # Persistent: saved in checkpoints, so a resumed run reports the best of the whole run.
        self.val_map_best = MaxMetric()
        self.val_map_best.persistent(True)
        self.test_result: dict[str, float] | None = None
        self.test_ranking: RankingResult | None = None
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
            self.net.backbone.register_forward_pre_hook(_to_channels_last)

    def setup(self, stage: str) -> None:
        if self.hparams.compile and stage == "fit":
            self.net.backbone.compile()

    def forward(self, clips: Tensor) -> Tensor:
        """The test-time embedding f_all = [f_global, f_t, f_s] of each clip."""
        return self.net(clips).embedding

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Any]:
        terms = self.loss(self.net(batch["clips"]), batch["pid"])
        batch_size = batch["pid"].numel()
        self.log("train/loss", terms["total"], prog_bar=True, batch_size=batch_size)
        self.log_dict(
            {f"train/{k}": v for k, v in terms.items() if k != "total"}, batch_size=batch_size
        )
        return {"loss": terms["total"], "terms": {k: v.detach() for k, v in terms.items()}}

    def _update(self, metric: ReIDMetric, batch: Mapping[str, Tensor]) -> None:
        metric.update(
            self(batch["clips"]),
            batch["pid"],
            batch["camid"],
            batch["track"],
            batch["is_query"],
            batch["in_gallery"],
            batch.get("weight"),
        )

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._update(self.val_metric, batch)

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._update(self.test_metric, batch)

    def on_validation_epoch_end(self) -> None:
        result = self._compute(self.val_metric)
        if self.trainer.sanity_checking:  # a partial pass must not count as the best score
            return
        self.val_map_best(result["mAP"])
        # The metric is already gathered from every rank, so each rank holds the same values and
        # sync_dist's mean changes nothing; it only tells Lightning the values are global.
        self.log_dict({f"val/{k}": float(result[k]) for k in RETRIEVAL_KEYS}, sync_dist=True)
        self.log("val/mAP_best", self.val_map_best.compute(), prog_bar=True, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self.test_result = self._compute(self.test_metric)
        self.test_ranking = self.test_metric.last_result
        self.log_dict(
            {f"test/{k}": float(self.test_result[k]) for k in RETRIEVAL_KEYS}, sync_dist=True
        )

    @staticmethod
    def _compute(metric: ReIDMetric) -> dict[str, float]:
        result = metric.compute()
        metric.reset()
        return result

    def configure_optimizers(self) -> dict[str, Any]:
        if self.optimizer_factory is None or self.loss is None:
            raise RuntimeError("ReIDLitModule needs a loss and an optimizer factory to be fitted")
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }

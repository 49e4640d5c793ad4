"""The LightningModule's training step learns, on a fixed batch, with the eq. 8-9 losses."""

from __future__ import annotations

import functools

import pytest
import torch

from stgcn_reid.evaluation import ReIDMetric
from stgcn_reid.lit_module import ReIDLitModule
from stgcn_reid.losses import ReIDLoss
from stgcn_reid.models import STGCN, ResNetBackbone


def test_loss_decreases_over_a_few_steps_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    net = STGCN(ResNetBackbone("resnet18"), num_classes=4, seq_len=4)
    module = ReIDLitModule(
        net,
        metric=ReIDMetric,
        loss=ReIDLoss(),
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
    )
    optimizer = module.configure_optimizers()["optimizer"]
    batch = {"clips": torch.randn(8, 4, 3, 64, 32), "pid": torch.arange(4).repeat_interleave(2)}
    module.log = module.log_dict = lambda *args, **kwargs: None  # no Trainer attached
    losses = []
    for step in range(8):
        loss = module.training_step(batch, step)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_channels_last_gives_the_same_embedding() -> None:
    torch.manual_seed(0)
    net = STGCN(ResNetBackbone("resnet18"), num_classes=4, seq_len=4).eval()
    clips = torch.randn(2, 4, 3, 64, 32)
    with torch.no_grad():
        reference = net(clips).embedding
        module = ReIDLitModule(net, metric=ReIDMetric, channels_last=True)
        assert torch.allclose(module(clips), reference, atol=1e-4)


def test_best_validation_map_is_saved_in_checkpoints() -> None:
    net = STGCN(ResNetBackbone("resnet18"), num_classes=4, seq_len=4)
    module = ReIDLitModule(net, metric=ReIDMetric)
    module.val_map_best(torch.tensor(0.7))
    restored = ReIDLitModule(
        STGCN(ResNetBackbone("resnet18"), num_classes=4, seq_len=4), metric=ReIDMetric
    )
    restored.load_state_dict(module.state_dict())
    assert restored.val_map_best.compute().item() == pytest.approx(0.7)

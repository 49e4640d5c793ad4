"""The experiment configs compose, and the paper's carry the recipe of section 4.2."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from stgcn_reid.ablation import plan_runs
from stgcn_reid.utils.config import CONFIG_DIR


def _compose(*overrides: str) -> DictConfig:
    with initialize_config_dir(version_base=None, config_dir=str(CONFIG_DIR)):
        return compose("train", overrides=list(overrides))


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")))
def test_every_experiment_composes(name: str) -> None:
    cfg = _compose(f"experiment={name}")
    model = OmegaConf.to_container(cfg.model, resolve=True)  # its interpolations resolve
    assert model["seq_len"] == cfg.data.seq_len
    assert model["backbone"]["_target_"] == "stgcn_reid.models.ResNetBackbone"
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"


@pytest.mark.parametrize(
    ("name", "dataset"), [("paper_mars", "mars"), ("paper_duke", "dukemtmc_video")]
)
def test_paper_experiments_follow_section_4_2(name: str, dataset: str) -> None:
    cfg = _compose(f"experiment={name}")
    assert cfg.dataset.name == dataset
    assert (cfg.backbone.arch, cfg.backbone.last_stride) == ("resnet50", 1)
    assert cfg.backbone.weights == "IMAGENET1K_V1"
    assert (cfg.data.seq_len, cfg.data.height, cfg.data.width) == (8, 256, 128)
    assert (cfg.data.num_identities, cfg.data.num_instances) == (16, 4)  # 512 images a batch
    assert cfg.optim.optimizer.lr == pytest.approx(3e-4)
    assert (cfg.optim.scheduler.step_size, cfg.optim.scheduler.gamma) == (200, 0.1)
    assert cfg.trainer.max_epochs == 800
    assert (cfg.model.tgcn_layers, cfg.model.sgcn_layers) == (3, 2)
    assert (cfg.model.tgcn_patches, cfg.model.sgcn_patches) == (4, 4)
    assert (cfg.trainer.accelerator, cfg.trainer.precision) == ("gpu", "bf16-mixed")
    # No per-step host read of the loss on a GPU.
    assert cfg.callbacks.progress_bar.refresh_rate >= 10
    assert cfg.callbacks.nonfinite_loss.check_every_n_steps >= 10


def test_the_studys_full_budget_composes_the_papers_recipe(tmp_path) -> None:

    (run,) = plan_runs("variants", "full", [0], tmp_path, variants=["stgcn"])
    cfg = _compose(*run.overrides)
    assert cfg.dataset.preset == "hard"
    assert (cfg.backbone.arch, cfg.backbone.last_stride, cfg.backbone.weights) == (
        "resnet50",
        1,
        None,
    )
    assert (cfg.data.seq_len, cfg.data.height, cfg.data.width) == (8, 256, 128)
    assert (cfg.data.num_identities, cfg.data.num_instances) == (16, 4)
    assert cfg.optim.optimizer.lr == pytest.approx(3e-4)
    assert (cfg.optim.scheduler.step_size, cfg.optim.scheduler.gamma) == (200, 0.1)
    assert cfg.trainer.max_epochs == 800
    assert cfg.data.val_split == "dataset"  # checkpoints chosen on the validation identities


def test_paper_experiments_hold_nothing_out_and_test_the_last_checkpoint() -> None:
    for name in ("paper_mars", "paper_duke"):
        assert _compose(f"experiment={name}").data.val_split == "none"
    assert _compose("dataset=mars").data.val_split == pytest.approx(0.1)
    assert _compose().data.val_split == "dataset"  # the synthetic benchmark's own

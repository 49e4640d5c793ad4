"""Hydra's own sweeper and launcher plugins, run through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from stgcn_reid.utils.config import CONFIG_DIR

pytestmark = pytest.mark.slow


def _jobs(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir())


def test_optuna_searches_on_the_validation_map(run_module, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "optuna"
    run_module(
        "stgcn_reid.train",
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2",
        f"hydra.sweep.dir={sweep_dir}",
    )
    jobs = _jobs(sweep_dir)
    assert len(jobs) == 2
    searched = {"optim.optimizer.lr", "loss.margin", "model.tgcn_layers", "model.sgcn_layers"}
    for job in jobs:
        overrides = {o.split("=", 1)[0] for o in OmegaConf.load(job / ".hydra" / "overrides.yaml")}
        assert searched <= overrides
        assert json.loads((job / "metrics.json").read_text())["test/mAP"] >= 0
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert 0.0 < results.best_value <= 1.0  # val/mAP_best of the best trial
    assert set(results.best_params) >= searched


def test_submitit_local_runs_a_two_job_sweep(run_module, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "submitit"
    run_module(
        "stgcn_reid.train",
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=20",
        "model.tgcn_patches=2,4",
        f"hydra.sweep.dir={sweep_dir}",
    )
    jobs = _jobs(sweep_dir)
    assert len(jobs) == 2
    assert all((job / "metrics.json").is_file() for job in jobs)
    assert list((sweep_dir / ".submitit").glob("*/*_result.pkl"))  # run by submitit
    assert "model.tgcn_patches=4" in (sweep_dir / "summary.md").read_text()


def test_slurm_launcher_config_carries_the_requeue_settings() -> None:
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose("train", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.signal_delay_s, launcher.max_num_timeout) == (120, 20)
    assert launcher.tasks_per_node == launcher.gpus_per_node == 4

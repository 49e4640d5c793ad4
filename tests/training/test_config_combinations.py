"""Config combinations that used to fail deep inside a library: they run, or say why at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.trees import make_duke_tree

pytestmark = pytest.mark.slow

ONE_STEP = (
    "trainer.max_epochs=1",
    "++trainer.limit_train_batches=1",
    "++trainer.limit_val_batches=0",
    "test=false",
)


def test_logger_none_trains_without_the_logger_callbacks(run_module, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_module("stgcn_reid.train", f"hydra.run.dir={run_dir}", "logger=none", *ONE_STEP)
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert not (run_dir / "csv").exists()
    assert "No logger: leaving out LearningRateMonitor" in result.stdout


def test_smoke_experiment_on_duke_trains(run_module, tmp_path: Path) -> None:
    tracks = [(pid, 1 + k, f"{k + 1:04d}", 4) for pid in range(1, 7) for k in range(2)]
    root = make_duke_tree(
        tmp_path / "DukeV",
        {"train": tracks, "query": [(7, 1, "0001", 4)], "gallery": [(7, 2, "0002", 4)]},
    )
    run_dir = tmp_path / "run"
    run_module(
        "stgcn_reid.train",
        f"hydra.run.dir={run_dir}",
        "dataset=dukemtmc_video",
        f"dataset.root={root}",
        "data.val_split=none",
        *ONE_STEP,
    )
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


def test_ddp_on_cpu_points_to_ddp_cpu(run_module, tmp_path: Path) -> None:
    result = run_module(
        "stgcn_reid.train", "trainer=ddp", "trainer.accelerator=cpu", *ONE_STEP, check=False
    )
    assert result.returncode == 1
    assert (
        "ValueError: trainer.sync_batchnorm=true needs GPUs (torch's SyncBatchNorm), but "
        "trainer.accelerator=cpu; for DDP on CPU use trainer=ddp_cpu"
    ) in result.stderr

"""The evaluation protocol of a training run: validation on its own identities, the test split
read once, by the final test of a checkpoint chosen without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from stgcn_reid.data import clips as clips_module
from stgcn_reid.data.datamodule import ReIDDataModule
from stgcn_reid.train import train
from stgcn_reid.utils.config import CONFIG_DIR

pytestmark = pytest.mark.slow


def _split_of(path: str) -> str:
    """``train``, ``query``, ``gallery``, ``val_query`` or ``val_gallery`` (the Duke folder)."""
    return Path(path).parents[2].name


def test_no_code_path_reads_the_test_split_before_the_final_test(
    smoke_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every frame decoded during a whole run is logged with the phase it was read in."""
    reads: list[tuple[str, str]] = []
    phase = ["fit"]
    read_frame = clips_module.read_frame
    test_dataloader = ReIDDataModule.test_dataloader

    def logged_read(path: str):
        reads.append((phase[0], _split_of(path)))
        return read_frame(path)

    def final_test_loader(self: ReIDDataModule):
        phase[0] = "test"
        return test_dataloader(self)

    monkeypatch.setattr(clips_module, "read_frame", logged_read)
    monkeypatch.setattr(ReIDDataModule, "test_dataloader", final_test_loader)
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose(
            "train",
            overrides=[
                "experiment=smoke",
                f"paths.data_dir={smoke_data_dir}",
                f"paths.output_dir={tmp_path}",
                "logger=csv",
            ],
        )
    train(cfg)

    fit = {split for when, split in reads if when == "fit"}
    test = {split for when, split in reads if when == "test"}
    assert fit == {"train", "val_query", "val_gallery"}  # validation ran, on its own ids
    assert test == {"query", "gallery"}
    assert [when for when, _ in reads] == sorted(w for w, _ in reads)  # "fit" < "test"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert Path(metrics["tested_checkpoint"]).name.startswith("best-")
    assert metrics["checkpoint_rule"].startswith("best val/mAP on the validation split (4 ")


def test_without_validation_the_last_weights_are_tested(run_module, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_module("stgcn_reid.train", f"hydra.run.dir={run_dir}", "data.val_split=none")
    assert "validation: none (the last checkpoint is tested)" in result.stdout + result.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tested_checkpoint"] == "last weights"
    assert metrics["checkpoint_rule"] == "last epoch: no validation split (data.val_split=none)"
    assert not list((run_dir / "checkpoints").glob("best-*.ckpt"))

"""Which checkpoint ``resume`` continues from, and the messages when it cannot."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from stgcn_reid.checkpoints.policy import find_resume_checkpoint, resolve_resume_checkpoint
from stgcn_reid.errors import CheckpointError
from stgcn_reid.models import STGCN, ResNetBackbone

MODEL = nn.Linear(3, 2)


def write(path: Path, step: int, module: nn.Module = MODEL) -> Path:
    """A minimal Lightning-style checkpoint at ``step``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": module.state_dict(), "global_step": step}, path)
    return path


def tear(path: Path) -> Path:
    """Cut ``path`` in half, as a copy or a write interrupted by a dead node would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def config(run_dir: Path, **options: object) -> OmegaConf:
    return OmegaConf.create({"paths": {"output_dir": str(run_dir)}, "ckpt_path": None, **options})


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run with last.ckpt (step 30), last.prev.ckpt (20) and a best checkpoint (20)."""
    write(tmp_path / "checkpoints" / "last.ckpt", 30)
    write(tmp_path / "checkpoints" / "last.prev.ckpt", 20)
    write(tmp_path / "checkpoints" / "best-epoch001-mAP0.5000.ckpt", 20)
    return tmp_path


def test_resume_takes_last_ckpt(run_dir: Path) -> None:
    path, checkpoint = find_resume_checkpoint(run_dir)
    assert (path.name, checkpoint["global_step"]) == ("last.ckpt", 30)


def test_corrupt_last_ckpt_names_it_and_lists_the_good_ones(run_dir: Path) -> None:
    last = tear(run_dir / "checkpoints" / "last.ckpt")
    write(run_dir / "checkpoints" / "old.ckpt", 5).write_bytes(b"")  # unreadable: not listed
    with pytest.raises(CheckpointError) as caught:
        find_resume_checkpoint(run_dir)
    message = str(caught.value)
    assert message.startswith(f"cannot resume: {last} is not a PyTorch checkpoint")
    prev, best = run_dir / "checkpoints" / "last.prev.ckpt", next(run_dir.glob("*/best-*"))
    assert f"newest first: {prev} (step 20); {best} (step 20)." in message
    assert "old.ckpt" not in message
    assert "ckpt_path=<file>, or set resume_fallback=true" in message


def test_fallback_resumes_from_the_newest_good_one_with_a_warning(
    run_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    last = tear(run_dir / "checkpoints" / "last.ckpt")
    with caplog.at_level(logging.WARNING):
        path, checkpoint = find_resume_checkpoint(run_dir, fallback=True)
    assert (path.name, checkpoint["global_step"]) == ("last.prev.ckpt", 20)  # wins the tie
    assert f"{last} is not a PyTorch checkpoint" in caplog.text
    assert f"resume_fallback=true: resuming from {path} instead" in caplog.text

    write(run_dir / "checkpoints" / "best-epoch002-mAP0.6000.ckpt", 25)
    path, _ = find_resume_checkpoint(run_dir, fallback=True)
    assert path.name == "best-epoch002-mAP0.6000.ckpt"


def test_nothing_else_to_fall_back_to(tmp_path: Path) -> None:
    tear(write(tmp_path / "checkpoints" / "last.ckpt", 3))
    with pytest.raises(CheckpointError, match=r"No other checkpoint of .* loads; start afresh"):
        find_resume_checkpoint(tmp_path, fallback=True)


def test_a_newer_slurm_requeue_checkpoint_wins_an_older_or_broken_one_does_not(
    run_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(run_dir / "hpc_ckpt_1.ckpt", 10)
    assert find_resume_checkpoint(run_dir)[0].name == "last.ckpt"
    write(run_dir / "hpc_ckpt_2.ckpt", 31)
    assert find_resume_checkpoint(run_dir)[0].name == "hpc_ckpt_2.ckpt"
    tear(run_dir / "hpc_ckpt_2.ckpt")
    with caplog.at_level(logging.WARNING):
        assert find_resume_checkpoint(run_dir)[0].name == "last.ckpt"
    assert "ignoring" in caplog.text and "hpc_ckpt_2.ckpt" in caplog.text


def test_resume_true_needs_a_checkpoint_resume_auto_starts_afresh(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"resume=true but there is no .*last\.ckpt"):
        resolve_resume_checkpoint(config(tmp_path, resume=True), MODEL)
    assert resolve_resume_checkpoint(config(tmp_path, resume="auto"), MODEL) is None
    assert resolve_resume_checkpoint(config(tmp_path, resume=False), MODEL) is None
    with pytest.raises(ValueError, match="resume='yes'; expected false, true or auto"):
        resolve_resume_checkpoint(config(tmp_path, resume="yes"), MODEL)


def test_resolve_reads_resume_fallback_and_checks_the_model(run_dir: Path) -> None:
    tear(run_dir / "checkpoints" / "last.ckpt")
    with pytest.raises(CheckpointError, match="cannot resume"):
        resolve_resume_checkpoint(config(run_dir, resume=True), MODEL)
    chosen = resolve_resume_checkpoint(config(run_dir, resume="auto", resume_fallback=True), MODEL)
    assert chosen == str(run_dir / "checkpoints" / "last.prev.ckpt")


def test_checkpoint_of_another_model_config_lists_the_mismatching_keys(tmp_path: Path) -> None:
    """A real case: resuming a 3-layer STGCN run with 2 temporal layers and a narrower SGCN."""
    trained = STGCN(ResNetBackbone("resnet18"), num_classes=5, seq_len=2, tgcn_layers=3)
    saved = write(tmp_path / "trained.ckpt", 7, trained)
    other = STGCN(
        ResNetBackbone("resnet18"), num_classes=5, seq_len=2, tgcn_layers=2, spatial={"dim": 128}
    )
    with pytest.raises(CheckpointError) as caught:
        resolve_resume_checkpoint(config(tmp_path, ckpt_path=str(saved)), other)
    message = str(caught.value)
    assert f"checkpoint {saved} was trained with another model configuration" in message
    assert "unexpected (3): temporal_gcn.gcn.layers.2.norm.bias" in message
    assert (
        "structural_gcn.gcn.layers.0.weight.weight: checkpoint (256, 512) vs model (128, 512)"
        in (message)
    )
    assert message.endswith(
        "Use the same model/backbone/data.seq_len settings as the run that wrote it."
    )

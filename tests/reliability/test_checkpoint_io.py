"""Atomic checkpoint writes; when the resume checkpoint is written and what it holds."""

from __future__ import annotations

import errno
import logging
import os
import pickle
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from stgcn_reid.callbacks.resume import ResumeCheckpoint
from stgcn_reid.checkpoints.files import AtomicCheckpointIO, keep_copy
from stgcn_reid.errors import CheckpointError, DatasetError
from stgcn_reid.utils import io as file_io


class Points(Dataset[Tensor]):
    """``n`` fixed 2-d points; index ``broken`` fails to load like an unreadable frame."""

    def __init__(self, n: int, broken: int | None = None) -> None:
        self.points = torch.arange(2.0 * n).view(n, 2) / n
        self.broken = broken

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: int) -> Tensor:
        if index == self.broken:
            raise DatasetError(f"frame{index}.jpg: unreadable frame")
        return self.points[index]


class Payload:
    """Stands for any pickled object, whose unpickling could run code."""


class Tiny(pl.LightningModule):
    """A linear model; its loss turns NaN at step ``nan_at``."""

    def __init__(self, nan_at: int | None = None) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.nan_at = nan_at

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        loss = self.layer(batch).pow(2).mean()
        return loss * float("nan") if self.global_step == self.nan_at else loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class FailingValidation(Tiny):
    """Validation fails like an unreadable frame of the validation split."""

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        raise DatasetError("val0001.jpg: unreadable frame")


def fit(
    dirpath: Path,
    data: Dataset[Tensor],
    every_n_train_steps: int = 0,
    module: Tiny | None = None,
    ckpt_path: Path | None = None,
    val_data: Dataset[Tensor] | None = None,
) -> pl.Trainer:
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=dirpath,
        plugins=[AtomicCheckpointIO()],
        callbacks=[ResumeCheckpoint(dirpath, every_n_train_steps=every_n_train_steps)],
    )
    val_loader = DataLoader(val_data, batch_size=1) if val_data is not None else None
    trainer.fit(module or Tiny(), DataLoader(data, batch_size=1), val_loader, ckpt_path=ckpt_path)
    return trainer


def step(path: Path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


def test_checkpoint_every_n_steps_and_at_the_epoch_end_keeping_the_previous(tmp_path: Path) -> None:
    stale = tmp_path / ".last.ckpt.k2j3.tmp"  # left by a write that a SIGKILL cut short
    stale.write_bytes(b"partial")
    fit(tmp_path, Points(5), every_n_train_steps=2)
    assert step(tmp_path / "last.ckpt") == 5  # steps 2 and 4, then the epoch end
    assert step(tmp_path / "last.prev.ckpt") == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "last.prev.ckpt"]


def test_unreadable_batch_stops_training_with_the_step_before_saved(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(DatasetError, match=r"frame3\.jpg"):
        fit(tmp_path, Points(6, broken=3))
    assert step(tmp_path / "last.ckpt") == 3
    assert "Stopped at step 3 by unreadable data" in caplog.text


def test_a_failing_validation_leaves_last_checkpoint_at_its_step(tmp_path: Path) -> None:
    # Without periodic checkpoints the epoch's only save would come after validation.
    with pytest.raises(DatasetError, match=r"val0001\.jpg"):
        fit(tmp_path, Points(3), module=FailingValidation(), val_data=Points(1))
    assert step(tmp_path / "last.ckpt") == 3


def test_non_finite_weights_never_replace_a_good_checkpoint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        fit(tmp_path, Points(5), every_n_train_steps=1, module=Tiny(nan_at=2))
    last = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())
    assert "Not writing" in caplog.text and "non-finite weights" in caplog.text


def test_torn_last_checkpoint_is_replaced_but_not_kept(tmp_path: Path) -> None:
    (tmp_path / "last.ckpt").write_bytes(b"PK\x03\x04 torn")
    (tmp_path / "last.prev.ckpt").write_bytes(b"the good previous one")
    fit(tmp_path, Points(1))
    assert step(tmp_path / "last.ckpt") == 1
    assert (tmp_path / "last.prev.ckpt").read_bytes() == b"the good previous one"


def test_failed_write_keeps_the_previous_checkpoint_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 1}, path)

    def disk_full(obj: Any, handle: Any) -> None:
        handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match=f"cannot write {path}: no space left"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "global_step": 2}, path)
    monkeypatch.undo()
    previous = io.load_checkpoint(path)
    assert previous["global_step"] == 1 and torch.equal(previous["state_dict"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_full_disk_names_the_file_and_the_space_it_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdopen, opened = os.fdopen, []

    def full_after_the_first(fd: int, mode: str) -> Any:
        opened.append(fd)
        if len(opened) == 1:
            return real_fdopen(fd, mode)
        os.close(fd)
        return open("/dev/full", mode)  # every write fails with ENOSPC, as on a full disk

    monkeypatch.setattr(file_io.os, "fdopen", full_after_the_first)
    with pytest.raises(CheckpointError) as failure:
        fit(tmp_path, Points(3), every_n_train_steps=1)
    good = (tmp_path / "last.prev.ckpt").read_bytes()
    message = str(failure.value)
    assert message.startswith(f"cannot write {tmp_path / 'last.ckpt'}: no space left on its")
    assert (
        "the checkpoint needs about 0.0 MiB" in message
        and "The previous checkpoint stays" in message
    )
    assert "\n" not in message
    assert step(tmp_path / "last.ckpt") == 1 and (tmp_path / "last.ckpt").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "last.prev.ckpt"]


def test_bad_frame_at_step_0_says_no_checkpoint_was_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(DatasetError, match=r"frame0\.jpg"):
        fit(tmp_path, Points(3, broken=0))
    assert "Stopped at step 0 by unreadable data" in caplog.text
    assert "no training step had finished, so no checkpoint was written" in caplog.text
    assert "holds that step" not in caplog.text
    assert not (tmp_path / "last.ckpt").exists()


def test_loading_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "untrusted.ckpt"
    torch.save({"state_dict": {}, "payload": Payload()}, path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        AtomicCheckpointIO().load_checkpoint(path)


def test_keep_copy_falls_back_to_copying_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = tmp_path / "last.ckpt", tmp_path / "last.prev.ckpt"
    source.write_bytes(b"new")
    target.write_bytes(b"old")

    def no_links(*args: Any) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    keep_copy(source, target)
    assert (source.read_bytes(), target.read_bytes()) == (b"new", b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "last.prev.ckpt"]


def draws() -> tuple[float, float, float]:
    return torch.rand(1).item(), float(np.random.rand()), random.random()


@pytest.mark.parametrize("mid_epoch", [True, False])
def test_rng_states_survive_a_weights_only_round_trip_and_are_restored(
    tmp_path: Path, mid_epoch: bool
) -> None:
    """Restored at load, and, for a checkpoint taken inside an epoch, again before the next step.

    Between the two, Lightning creates the DataLoader iterator, which draws a seed.
    """
    saver = ResumeCheckpoint(tmp_path)
    batch_progress = SimpleNamespace(is_last_batch=not mid_epoch)
    saver._trainer = SimpleNamespace(
        fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=batch_progress))
    )
    torch.save(saver.state_dict(), tmp_path / "state.pt")
    expected = draws()
    draws()  # the interrupted run went on

    restored = ResumeCheckpoint(tmp_path)
    restored.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert draws() == expected
    restored.on_train_batch_start(None, None, None, 0)
    assert (draws() == expected) is mid_epoch
    restored.on_train_batch_start(None, None, None, 1)  # only once
    assert draws() != expected


def test_negative_interval_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="every_n_train_steps must be >= 0"):
        ResumeCheckpoint(tmp_path, every_n_train_steps=-1)

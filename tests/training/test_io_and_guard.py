"""Atomic writes and the non-finite loss guard."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from stgcn_reid.callbacks import NonFiniteLossError, NonFiniteLossGuard
from stgcn_reid.utils.io import atomic_write, write_json


def test_write_json_round_trip(tmp_path: Path) -> None:
    path = write_json(tmp_path / "sub" / "metrics.json", {"mAP": 0.5, "rank1": 0.75})
    assert json.loads(path.read_text()) == {"mAP": 0.5, "rank1": 0.75}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


def test_written_files_get_the_umask_permissions_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "metrics.json", {"mAP": 0.5})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_crash_while_writing_keeps_previous_file(tmp_path: Path) -> None:
    path = write_json(tmp_path / "metrics.json", {"mAP": 0.5})

    def crash(handle) -> None:
        handle.write(b'{"mAP": 0.')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, crash)
    assert json.loads(path.read_text()) == {"mAP": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left


def feed(guard: NonFiniteLossGuard, losses: list[dict[str, float]]) -> None:
    for i, terms in enumerate(losses):
        outputs = {"terms": {k: torch.tensor(v) for k, v in terms.items()}}
        guard.on_train_batch_end(SimpleNamespace(), None, outputs, None, i)


def test_guard_names_first_bad_step_and_term_not_the_check_step() -> None:
    guard = NonFiniteLossGuard(check_every_n_steps=5)
    good = {"triplet/global": 0.3, "softmax": 2.0, "total": 2.3}
    bad = {"triplet/global": 0.3, "softmax": float("nan"), "total": float("nan")}
    feed(guard, [good, good, bad])  # step 2 is bad, nothing checked yet
    with pytest.raises(NonFiniteLossError, match=r"'softmax' became non-finite at training step 2"):
        feed(guard, [bad, bad])


def test_guard_checks_at_epoch_end_and_passes_finite_losses() -> None:
    guard = NonFiniteLossGuard(check_every_n_steps=100)
    feed(guard, [{"total": 1.0}, {"total": 0.5}])
    guard.on_train_epoch_end(None, None)  # no error
    feed(guard, [{"total": float("inf")}])
    with pytest.raises(NonFiniteLossError, match=r"'total'.*step 2"):
        guard.on_train_epoch_end(None, None)


def test_guard_rejects_bad_interval() -> None:
    with pytest.raises(ValueError, match="check_every_n_steps"):
        NonFiniteLossGuard(check_every_n_steps=0)

"""Real training processes stopped by SIGTERM, SIGKILL and a corrupt checkpoint, then resumed.

Every resumed run must end where the uninterrupted run with the same config ends: the same final
weights and the same test metrics (CPU, fixed seed). Runs have 2 epochs of 2 steps each.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from .conftest import Train, succeeded

pytestmark = pytest.mark.slow


def signal_at(step: int, signum: str) -> tuple[str, ...]:
    """Overrides that make the run send ``signum`` to itself at ``step`` (see ``signals.py``)."""
    return (
        "+callbacks.signal._target_=signals.SignalAtStep",
        f"+callbacks.signal.step={step}",
        f"+callbacks.signal.signum={signum}",
    )


def load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def assert_same_result(run_dir: Path, reference: Path) -> None:
    got = json.loads((run_dir / "metrics.json").read_text())
    want = json.loads((reference / "metrics.json").read_text())
    assert got.keys() == want.keys()
    for key, value in want.items():
        if key == "tested_checkpoint":  # a path inside each run's own directory
            assert Path(got[key]).name == Path(value).name
        else:
            assert got[key] == pytest.approx(value, abs=1e-6), key
    final = load(run_dir / "checkpoints" / "last.ckpt")
    expected = load(reference / "checkpoints" / "last.ckpt")
    assert final["global_step"] == expected["global_step"] == 4
    assert final["state_dict"].keys() == expected["state_dict"].keys()
    for key, tensor in expected["state_dict"].items():
        torch.testing.assert_close(final["state_dict"][key], tensor, rtol=0, atol=1e-6, msg=key)


@pytest.fixture(scope="module")
def uninterrupted(train: Train, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference run; a checkpoint every 2 steps, i.e. at both epoch ends (steps 2 and 4)."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    succeeded(
        train(f"hydra.run.dir={run_dir}", "callbacks.resume_checkpoint.every_n_train_steps=2")
    )
    return run_dir


def test_sigterm_then_sigkill_mid_epoch_resume_to_the_uninterrupted_result(
    train: Train, uninterrupted: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    here = f"hydra.run.dir={run_dir}"
    last, previous = (
        run_dir / "checkpoints" / "last.ckpt",
        run_dir / "checkpoints" / "last.prev.ckpt",
    )

    # SIGTERM at the end of step 1, inside epoch 0. Without periodic checkpoints, last.ckpt can
    # only come from the SIGTERM handling, and it must hold step 1, not an epoch end.
    stopped = train(
        here, "callbacks.resume_checkpoint.every_n_train_steps=0", *signal_at(1, "SIGTERM")
    )
    assert stopped.returncode == 128 + signal.SIGTERM
    assert "Stopped at step 1 by SIGTERM" in stopped.stdout + stopped.stderr
    checkpoint = load(last)
    assert (checkpoint["global_step"], checkpoint["epoch"]) == (1, 0)
    assert not (run_dir / "metrics.json").exists()

    # Resume with a checkpoint every step; SIGKILL as step 4 starts, inside epoch 1.
    killed = train(
        here,
        "resume=true",
        "callbacks.resume_checkpoint.every_n_train_steps=1",
        *signal_at(3, "SIGKILL"),
    )
    assert killed.returncode == -signal.SIGKILL
    checkpoint = load(last)
    assert (checkpoint["global_step"], checkpoint["epoch"]) == (3, 1)  # lost no finished step
    assert checkpoint["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"epoch": 1, "batches": 1}
    ]
    assert load(previous)["global_step"] == 2  # the epoch-0 end, kept when step 3 was written

    succeeded(train(here, "resume=true"))
    assert_same_result(run_dir, uninterrupted)


def test_corrupt_last_checkpoint_fails_naming_it_and_the_good_ones(
    train: Train, uninterrupted: Path, tmp_path: Path
) -> None:
    """The message a user gets; what it offers (fallback, ckpt_path) is tested in-process."""
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for path in (uninterrupted / "checkpoints").glob("*.ckpt"):
        os.link(path, checkpoints / path.name)  # new names, same bytes (never written to)
    last = checkpoints / "last.ckpt"
    with last.open("rb") as reader:
        head = reader.read(1 << 20)
    last.unlink()
    last.write_bytes(head)  # a torn copy: its first MiB only

    failed = train(f"hydra.run.dir={tmp_path / 'run'}", "resume=true")
    assert failed.returncode == 1
    assert f"cannot resume: {last} is not a PyTorch checkpoint" in failed.stderr
    best = next(checkpoints.glob("best-*.ckpt"))
    assert f"{best} (step " in failed.stderr
    assert f"{checkpoints / 'last.prev.ckpt'} (step 2)" in failed.stderr
    assert "ckpt_path=<file>, or set resume_fallback=true" in failed.stderr

"""One training process per run directory; a new run never replaces a finished one."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from stgcn_reid.utils.run_dir import lock_run_directory

from .conftest import Train, succeeded

#: One training step, no validation, no test: the shortest run that writes a checkpoint.
ONE_STEP = (
    "trainer.max_epochs=1",
    "++trainer.limit_train_batches=1",
    "++trainer.limit_val_batches=0",
    "test=false",
)


def finished_run(run_dir: Path) -> dict[str, bytes]:
    """The files of a finished run (their content stands for any run's)."""
    files = {
        ".hydra/overrides.yaml": b"- seed=0\n",
        "metrics.json": b'{"test/mAP": 0.5}\n',
        "checkpoints/last.ckpt": b"the earlier run's weights",
    }
    for name, content in files.items():
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_bytes(content)
    return files


def test_a_second_process_fails_at_once_naming_the_holder(train: Train, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with lock_run_directory(run_dir):  # this test process stands for the running training
        result = train(f"hydra.run.dir={run_dir}", "seed=1")
    assert result.returncode == 1
    holder = f"pid {os.getpid()} on host {socket.gethostname()}"
    assert f"error: {run_dir} is in use by another training process ({holder})" in result.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == [".lock"]  # nothing written


def test_a_new_run_in_a_finished_run_directory_is_refused(train: Train, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    files = finished_run(run_dir)
    result = train(f"hydra.run.dir={run_dir}", *ONE_STEP)
    assert result.returncode == 1
    assert (
        f"error: {run_dir} holds a run already (.hydra, checkpoints, metrics.json); continue it "
        "with resume=true, start in a new directory (another hydra.run.dir), or set "
        "overwrite=true to move the old run aside"
    ) in result.stderr
    assert {name: (run_dir / name).read_bytes() for name in files} == files
    assert not (run_dir / "csv").exists()


def test_overwrite_moves_the_old_run_aside(train: Train, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    files = finished_run(run_dir)
    succeeded(train(f"hydra.run.dir={run_dir}", "overwrite=true", *ONE_STEP))
    (aside,) = tmp_path.glob("run.replaced-*")
    assert {name: (aside / name).read_bytes() for name in files} == files
    assert (run_dir / "checkpoints" / "last.ckpt").read_bytes() != files["checkpoints/last.ckpt"]
    assert "overwrite=true" in (run_dir / ".hydra" / "overrides.yaml").read_text()


def test_a_second_sweep_in_a_directory_in_use_fails_at_once(train: Train, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    with lock_run_directory(sweep_dir):  # this test process stands for the running sweep
        result = train("-m", f"hydra.sweep.dir={sweep_dir}", "seed=0,1", *ONE_STEP)
    assert result.returncode == 1
    holder = f"pid {os.getpid()} on host {socket.gethostname()}"
    assert f"error: {sweep_dir} is in use by another training process ({holder})" in result.stderr
    assert sorted(p.name for p in sweep_dir.iterdir()) == [".lock"]  # no job started


def test_a_new_sweep_in_a_finished_sweep_directory_is_refused(train: Train, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    files = finished_run(sweep_dir / "0")
    (sweep_dir / "multirun.yaml").write_text("hydra: {}\n")
    result = train("-m", f"hydra.sweep.dir={sweep_dir}", "seed=0,1", *ONE_STEP)
    assert result.returncode == 1
    assert (
        f"error: {sweep_dir} holds a sweep already (multirun.yaml, 0); continue it with "
        "resume=true, start in a new directory (another hydra.sweep.dir), or set overwrite=true "
        "to move the old sweep aside"
    ) in result.stderr
    assert {name: (sweep_dir / "0" / name).read_bytes() for name in files} == files
    assert (sweep_dir / "multirun.yaml").read_text() == "hydra: {}\n"
    assert not (sweep_dir / "1").exists()

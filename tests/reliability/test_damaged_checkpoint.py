"""Bytes flipped inside a checkpoint after it was written: every load fails naming the file.

The damage keeps the zip structure valid (``torch.load`` still reads it), as a file system or
copy error in the middle of the file does; only the digest stored at write time shows it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stgcn_reid import embed, export

from .conftest import Train, succeeded

pytestmark = pytest.mark.slow


def damage(path: Path, size: int = 4096) -> None:
    """XOR ``size`` bytes in the middle of ``path`` (inside the tensor data)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + size] = bytes(b ^ 0xFF for b in data[middle : middle + size])
    path.write_bytes(bytes(data))


def leaves(node: object) -> list[torch.Tensor]:
    """Every tensor of a checkpoint, in order."""
    if isinstance(node, torch.Tensor):
        return [node]
    if isinstance(node, dict):
        return [t for value in node.values() for t in leaves(value)]
    if isinstance(node, list | tuple):
        return [t for value in node for t in leaves(value)]
    return []


@pytest.fixture(scope="module")
def run_dir(train: Train, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run with checkpoints at every step (last.ckpt: 4, last.prev.ckpt: 3)."""
    run_dir = tmp_path_factory.mktemp("run")
    succeeded(
        train(f"hydra.run.dir={run_dir}", "callbacks.resume_checkpoint.every_n_train_steps=1")
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    before = torch.load(last, weights_only=True)
    damage(last)
    after = torch.load(last, weights_only=True)  # still a readable archive
    changed = [
        i
        for i, (x, y) in enumerate(zip(leaves(before), leaves(after), strict=True))
        if not x.equal(y)
    ]
    assert changed, "the damage must change tensors"
    return run_dir


def damaged_message(run_dir: Path) -> str:
    last = run_dir / "checkpoints" / "last.ckpt"
    return f"{last} is damaged: its weights and states no longer match the SHA-256 stored"


def test_eval_fails_naming_the_damaged_checkpoint(run_dir: Path, train_env: dict[str, str]) -> None:
    last = run_dir / "checkpoints" / "last.ckpt"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stgcn_reid.eval",
            f"ckpt_path={last}",
            f"hydra.run.dir={run_dir.parent / 'eval'}",
        ],
        capture_output=True,
        text=True,
        env=train_env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert f"CheckpointError: {damaged_message(run_dir)}" in result.stderr


@pytest.mark.parametrize("tool", [embed, export])
def test_embed_and_export_fail_naming_the_damaged_checkpoint(
    run_dir: Path, smoke_data_dir: Path, tool: object, tmp_path: Path
) -> None:
    last = run_dir / "checkpoints" / "last.ckpt"
    (query,) = smoke_data_dir.glob("synthetic-*/query")
    args = {
        embed: [f"input_dir={query}", f"output={tmp_path / 'f.npz'}", "progress=false"],
        export: [f"output={tmp_path / 'model.onnx'}"],
    }[tool]
    with pytest.raises(SystemExit, match=f"^error: {damaged_message(run_dir)}"):
        tool.main([f"ckpt_path={last}", *args])  # type: ignore[attr-defined]
    assert not list(tmp_path.iterdir())


def test_resume_fails_naming_it_then_falls_back_under_resume_fallback(
    train: Train, run_dir: Path
) -> None:
    here = f"hydra.run.dir={run_dir}"
    refused = train(here, "resume=true")
    assert refused.returncode == 1
    assert f"cannot resume: {damaged_message(run_dir)}" in refused.stderr
    assert f"{run_dir / 'checkpoints' / 'last.prev.ckpt'} (step 3)" in refused.stderr

    resumed = succeeded(train(here, "resume=true", "resume_fallback=true"))
    previous = run_dir / "checkpoints" / "last.prev.ckpt"
    assert f"resume_fallback=true: resuming from {previous} instead" in resumed.stdout
    # The damaged last.ckpt was replaced, and never rotated over the good previous one.
    assert torch.load(previous, weights_only=True)["global_step"] == 3
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4

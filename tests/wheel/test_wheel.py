"""The built wheel works like any package: installed into a fresh virtual environment with the
pinned versions, its ``stgcn-reid`` command trains, evaluates and embeds from a directory
outside the repository (the configs come from inside the package).

It installs every dependency from the index (minutes, several GB), so it runs where
``STGCN_WHEEL_TEST=1`` (CI sets it; ``make test-wheel`` too) and skips elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("STGCN_WHEEL_TEST") != "1",
        reason="installs the wheel and all its dependencies into a fresh venv: "
        "set STGCN_WHEEL_TEST=1 (CI does; make test-wheel)",
    ),
]


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: int = 1200) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def test_wheel_installs_and_its_command_runs_outside_the_repository(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(tmp_path), HYDRA_FULL_ERROR="1", WANDB_MODE="offline")
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(REPO_ROOT)],
        tmp_path, env,
    )  # fmt: skip
    (wheel,) = dist.glob("stgcn_reid-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        "--no-compile",  # no byte-compiling of every installed module: it compiles on import
    ]
    _run([*pip, "-c", str(REPO_ROOT / "constraints.txt"), str(wheel)], tmp_path, env)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    command = str(venv / "bin" / "stgcn-reid")
    assert "train" in _run([command, "--help"], outside, env)
    located = _run(
        [str(venv / "bin" / "python"), "-c",
         "from stgcn_reid.utils.config import CONFIG_DIR; print(CONFIG_DIR)"],
        outside, env,
    )  # fmt: skip
    assert Path(located.strip()).is_relative_to(venv)  # the wheel's copy, not the checkout's

    run_dir = outside / "run"
    _run(
        [command, "train", "experiment=smoke", "data.num_workers=0",
         f"paths.root_dir={outside}", f"hydra.run.dir={run_dir}"],
        outside, env,
    )  # fmt: skip
    metrics = json.loads((run_dir / "metrics.json").read_text())
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    _run(
        [command, "eval", f"ckpt_path={metrics['tested_checkpoint']}", "data.num_workers=0",
         f"hydra.run.dir={outside / 'eval'}"],
        outside, env,
    )  # fmt: skip
    evaluated = json.loads((outside / "eval" / "metrics.json").read_text())
    assert evaluated["test/mAP"] == pytest.approx(metrics["test/mAP"], abs=1e-6)
    (query_dir,) = (outside / "data").glob("synthetic-*/query")
    output = outside / "query.npz"
    _run(
        [command, "embed", f"ckpt_path={checkpoint}", f"input_dir={query_dir}",
         f"output={output}", "progress=false"],
        outside, env,
    )  # fmt: skip
    with np.load(output) as features:
        assert features["features"].shape[0] == len(list(query_dir.glob("*/*")))

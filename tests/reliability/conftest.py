"""Fixtures for fault-injection runs of the real training entry point.

The tiny synthetic dataset comes from ``tests/training/conftest.py`` (re-exported); the runner
here differs from that one in two ways: it returns failed runs instead of failing the test (a
killed run is the point), and it puts this folder on ``PYTHONPATH``, so that the subprocess can
load the test-only callback of :mod:`signals`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from training.conftest import clean_env, smoke_data_dir

__all__ = ["smoke_data_dir"]

HERE = Path(__file__).resolve().parent
RunResult = subprocess.CompletedProcess[str]
Train = Callable[..., RunResult]

#: Smoke settings that give 2 epochs of 2 steps each (8 identities, P=4) and an LR schedule
#: that changes every epoch, so that a resume which got the scheduler wrong shows.
SMALL = ("experiment=smoke", "data.num_identities=4", "optim.scheduler.step_size=1")


@pytest.fixture(scope="module")
def train_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh user's environment, with :mod:`signals` importable."""
    env = clean_env(tmp_path_factory.mktemp("home"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def train(
    smoke_data_dir: Path, train_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Train:
    """Run training on the shared tiny dataset; the result is returned whatever the outcome."""
    log_dir = tmp_path_factory.mktemp("logs")

    def run(*overrides: str) -> RunResult:
        # Hydra's flags (-m) must come before the overrides.
        command = [
            sys.executable,
            "-m",
            "stgcn_reid.train",
            *(o for o in overrides if o.startswith("-")),
            *SMALL,
            f"paths.data_dir={smoke_data_dir}",
            f"paths.log_dir={log_dir}",
            *(o for o in overrides if not o.startswith("-")),
        ]
        return subprocess.run(
            command, capture_output=True, text=True, env=train_env, timeout=600, check=False
        )

    return run


def succeeded(result: RunResult) -> RunResult:
    """``result``, after failing the test with its stderr if the run failed."""
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(result.args)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )
    return result

"""Fixtures for end-to-end runs of the real entry points on a tiny synthetic dataset."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from stgcn_reid.data.synthetic import load_synthetic
from stgcn_reid.utils.config import CONFIG_DIR

RunResult = subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def smoke_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic set of ``experiment=smoke``, generated once for the whole session."""
    root = tmp_path_factory.mktemp("smoke-data")
    params = OmegaConf.load(CONFIG_DIR / "dataset" / "synthetic_smoke.yaml")["dataset"]
    load_synthetic(root, **OmegaConf.to_container(params))
    return root


def clean_env(home: Path) -> dict[str, str]:
    """The environment of a fresh user: no W&B credentials, no W&B mode forced."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(home), HYDRA_FULL_ERROR="1", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def run_module(smoke_data_dir: Path, tmp_path: Path) -> Callable[..., RunResult]:
    """Run ``python -m <module> experiment=smoke ...`` on the shared tiny dataset."""

    def run(module: str, *overrides: str, check: bool = True, smoke: bool = True) -> RunResult:
        # Hydra's flags (-m) must come before the overrides.
        flags = [o for o in overrides if o.startswith("-")]
        overrides = tuple(o for o in overrides if not o.startswith("-"))
        args = [sys.executable, "-m", module, *flags]
        if smoke:
            args.append("experiment=smoke")
        args += [f"paths.data_dir={smoke_data_dir}", f"paths.log_dir={tmp_path / 'logs'}"]
        result = subprocess.run(
            [*args, *overrides],
            capture_output=True,
            text=True,
            env=clean_env(tmp_path),
            timeout=600,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(args + list(overrides))} failed:\n{result.stderr[-4000:]}")
        return result

    return run

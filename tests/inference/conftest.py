"""One tiny trained checkpoint per test session, made by the real training entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from stgcn_reid.inference import Embedder


@dataclass(frozen=True)
class TrainedRun:
    """A checkpoint of ``experiment=smoke`` and the synthetic benchmark it was trained on."""

    checkpoint: Path
    benchmark: Path  # <data_dir>/synthetic-<hash>/ with train/, query/, gallery/

    @property
    def query_dir(self) -> Path:
        return self.benchmark / "query"

    @property
    def gallery_dir(self) -> Path:
        return self.benchmark / "gallery"


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """Train ``experiment=smoke`` for one step (no validation, no test): seconds, not minutes.

    A subprocess rather than an in-process Hydra call: the entry point is exercised exactly as
    a user runs it, and Hydra's global state stays out of the test process.
    """
    root = tmp_path_factory.mktemp("trained")
    run_dir = root / "run"
    args = [
        sys.executable,
        "-m",
        "stgcn_reid.train",
        "experiment=smoke",
        f"paths.data_dir={root / 'data'}",
        f"paths.log_dir={root / 'logs'}",
        f"hydra.run.dir={run_dir}",
        "trainer.max_epochs=1",
        "++trainer.limit_train_batches=1",
        "++trainer.limit_val_batches=0",
        "test=false",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False)
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    if result.returncode != 0 or not checkpoint.is_file():
        pytest.fail(f"{' '.join(args)} failed:\n{result.stderr[-4000:]}")
    (benchmark,) = (root / "data").glob("synthetic-*")
    return TrainedRun(checkpoint, benchmark)


@pytest.fixture(scope="session")
def embedder(trained: TrainedRun) -> Embedder:
    return Embedder.from_checkpoint(trained.checkpoint)

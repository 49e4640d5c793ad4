"""Pool workers end with the process that started them, however it is started and killed."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.reliability.procfs import living_children, survivors

# A generation of the default synthetic benchmark (minutes of rendering on two workers).
GENERATION = """
import sys
from stgcn_reid.data.synthetic.config import SyntheticConfig
from stgcn_reid.data.synthetic.writer import generate
generate(SyntheticConfig(), sys.argv[1], workers=2)
"""

# The parent: one pool worker, its pid printed, a task that would sleep for ten minutes, then
# the parent SIGKILLs itself (no cleanup, no atexit: what the out-of-memory killer does).
PARENT = """
import multiprocessing as mp, os, signal, sys, time
from concurrent.futures import ProcessPoolExecutor
from stgcn_reid.utils.processes import exit_with_parent
method, follow = sys.argv[1], sys.argv[2] == "1"
pool = ProcessPoolExecutor(
    1, mp_context=mp.get_context(method), initializer=exit_with_parent if follow else None
)
print(pool.submit(os.getpid).result(), flush=True)
pool.submit(time.sleep, 600)
time.sleep(1)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _worker_after_parent_killed(method: str, follow: bool, tmp_path: Path) -> bool:
    """Whether the pool worker is still alive 10 s after its parent was SIGKILLed."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    # Files, not pipes: a worker that outlives the parent would hold a pipe open.
    with out.open("w") as stdout, err.open("w") as stderr:
        parent = subprocess.run(
            [sys.executable, "-c", PARENT, method, "1" if follow else "0"],
            stdout=stdout,
            stderr=stderr,
            timeout=120,
        )
    assert parent.returncode == -signal.SIGKILL, err.read_text()
    worker = int(out.read_text().split()[0])
    outlived = survivors([worker], within_s=10)
    for pid in outlived:
        os.kill(pid, signal.SIGKILL)
    return bool(outlived)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(
    "method", [m for m in ("spawn", "forkserver") if m in mp.get_all_start_methods()]
)
def test_a_worker_exits_when_its_parent_is_killed(method: str, tmp_path: Path) -> None:
    """spawn (the study's pool) and forkserver (the synthetic writer's): a forkserver worker is
    the server's child, not the parent's, and still follows the parent that asked for it."""
    assert not _worker_after_parent_killed(method, follow=True, tmp_path=tmp_path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_without_it_a_worker_outlives_its_killed_parent(tmp_path: Path) -> None:
    """The control: what the test above rules out does happen without exit_with_parent."""
    assert _worker_after_parent_killed("spawn", follow=False, tmp_path=tmp_path)


def rendered(root: Path) -> bool:
    """Whether a generation under ``root`` has written a frame into its private folder."""
    return next(root.glob(".synthetic-*.partial-*/*/*/*/*.jpg"), None) is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_generation_leaves_no_worker_rendering(tmp_path: Path) -> None:
    """The synthetic writer's own pool: SIGKILL the generation while its workers render."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        parent = subprocess.Popen(
            [sys.executable, "-c", GENERATION, str(tmp_path / "data")],
            stdout=stdout,
            stderr=stderr,
        )
        try:
            # forkserver: the workers are the server's children, the parent's grandchildren.
            deadline, workers, started = time.monotonic() + 120, set(), False
            while not started and parent.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
                workers = {w for c in living_children(parent.pid) for w in living_children(c)}
                started = len(workers) == 2 and rendered(tmp_path / "data")
            assert started, f"the two workers did not start rendering: {err.read_text()}"
        finally:
            parent.kill()
            parent.wait()
    assert not list((tmp_path / "data").glob("synthetic-*")), "the generation was not cut off"
    left = survivors(workers, within_s=10)
    for worker in left:
        os.kill(worker, signal.SIGKILL)
    assert not left, f"{len(left)} of {len(workers)} render workers outlived the generation"

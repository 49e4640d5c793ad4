"""One training process per run directory, and no new run over a finished one.

:class:`RunDirectoryGuard` is a Hydra callback (``hydra.callbacks.run_directory`` in
``conf/train.yaml``). Its ``on_run_start`` runs before Hydra writes anything into the run
directory (``.hydra/``, the log file), so a refused start leaves the directory as it was.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from pathlib import Path
from typing import IO, Any

from hydra.experimental.callback import Callback
from lightning_fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
#: What a run leaves in its directory (any one of them means the directory holds a run).
RUN_MARKERS = (".hydra", "checkpoints", "metrics.json")


class RunDirectoryError(RuntimeError):
    """The run directory is in use by another process, or holds a run to keep."""


class RunDirectoryGuard(Callback):
    """Lock the run directory for the process's lifetime; refuse a fresh start over a run.

    - Lock: ``fcntl.flock`` on ``<run dir>/.lock``, which holds the holder's ``pid@host``. The
      kernel drops the lock when the process ends, however it ends (a SIGKILL included), so a
      stale lock never blocks a resume. ``filelock`` is not used: it truncates the file on
      every attempt, which would erase the holder's name that the refusal reports.
    - A directory that holds a run (:data:`RUN_MARKERS`) is only continued (``resume=true`` /
      ``auto``, or ``ckpt_path=``); ``overwrite=true`` moves the old run aside into
      ``<run dir>.replaced-<time>/`` first, and nothing is deleted.

    Only rank 0 checks: the other DDP ranks (Lightning's launcher re-runs the command with the
    same ``hydra.run.dir``) join the run that rank 0 holds.

    Hydra turns an exception raised by a callback into a warning and goes on, so a refusal
    leaves as ``SystemExit`` with a one-line ``error: ...`` message (status 1).
    """

    def __init__(self) -> None:
        self._lock: IO[str] | None = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if rank_zero_only.rank != 0:
            return
        try:
            self._guard(Path(str(config.hydra.run.dir)), config)
        except RunDirectoryError as err:
            raise SystemExit(f"error: {err}") from err

    def _guard(self, run_dir: Path, config: DictConfig) -> None:
        self._lock = lock_run_directory(run_dir)
        continues = config.get("resume") in (True, "auto") or bool(config.get("ckpt_path"))
        if continues or not holds_run(run_dir):
            return
        if not config.get("overwrite"):
            raise RunDirectoryError(
                f"{run_dir} holds a run already ({', '.join(run_markers(run_dir))}); continue it "
                "with resume=true, start in a new directory (another hydra.run.dir), or set "
                "overwrite=true to move the old run aside"
            )
        log.warning("overwrite=true: moved the run in %s to %s", run_dir, move_aside(run_dir))

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None


def lock_run_directory(run_dir: Path) -> IO[str]:
    """An open file holding an exclusive lock on ``run_dir``; fails naming the holder."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = (run_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown process"
        handle.close()
        raise RunDirectoryError(
            f"{run_dir} is in use by another training process ({holder}); wait for it to end, "
            "or choose another hydra.run.dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on host {socket.gethostname()}\n")
    handle.flush()
    return handle


def run_markers(run_dir: Path) -> list[str]:
    """The entries of :data:`RUN_MARKERS` that ``run_dir`` holds."""
    return [name for name in RUN_MARKERS if (run_dir / name).exists()]


def holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds (part of) an earlier run."""
    return bool(run_markers(run_dir))


def move_aside(run_dir: Path) -> Path:
    """Move every entry of ``run_dir`` but the lock into a new sibling folder; return it."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
    suffix = 1
    while target.exists():
        target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}-{suffix}")
        suffix += 1
    target.mkdir()
    for entry in run_dir.iterdir():
        if entry.name != LOCK_FILE:
            entry.rename(target / entry.name)
    return target

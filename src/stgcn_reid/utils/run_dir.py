"""One training process per run (or sweep) directory, and no new run over a finished one.

:class:`RunDirectoryGuard` is a Hydra callback (``hydra.callbacks.run_directory`` in
``conf/train.yaml``). Its ``on_run_start`` (``on_multirun_start`` for a sweep) runs before
Hydra writes anything into the directory (``.hydra/``, ``multirun.yaml``, the log file), so a
refused start leaves the directory as it was.
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
#: What Hydra writes into a sweep directory before its first job.
SWEEP_MARKER = "multirun.yaml"


class RunDirectoryError(RuntimeError):
    """The run directory is in use by another process, or holds a run to keep."""


class RunDirectoryGuard(Callback):
    """Lock the run (or sweep) directory for the process's lifetime; refuse a fresh start over
    a run (or a sweep).

    - Lock: ``fcntl.flock`` on ``<run dir>/.lock``, which holds the holder's ``pid@host``. The
      kernel drops the lock when the process ends, however it ends (a SIGKILL included), so a
      stale lock never blocks a resume. ``filelock`` is not used: it truncates the file on
      every attempt, which would erase the holder's name that the refusal reports.
    - A directory that holds a run (:data:`RUN_MARKERS`) is only continued (``resume=true`` /
      ``auto``, or ``ckpt_path=``); ``overwrite=true`` moves the old run aside into
      ``<run dir>.replaced-<time>/`` first, and nothing is deleted.
    - A sweep (``-m``) is guarded as a whole, in ``on_multirun_start``, before the launcher
      writes anything: ``hydra.sweep.dir`` is locked while the sweep runs, and one that holds
      a sweep (:func:`sweep_markers`) is refused in the same way. Its jobs are not locked one
      by one (each job directory belongs to the locked sweep).

    Only rank 0 checks: the other DDP ranks (Lightning's launcher re-runs the command with the
    same ``hydra.run.dir``) join the run that rank 0 holds.

    Hydra turns an exception raised by a callback into a warning and goes on, so a refusal
    leaves as ``SystemExit`` with a one-line ``error: ...`` message (status 1).
    """

    def __init__(self) -> None:
        self._lock: IO[str] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Launchers that run jobs in other processes (submitit) pickle the callbacks; the lock
        # stays with the process that took it.
        return {"_lock": None}

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._start(Path(str(config.hydra.run.dir)), config, sweep=False)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._start(Path(str(config.hydra.sweep.dir)), config, sweep=True)

    def _start(self, directory: Path, config: DictConfig, sweep: bool) -> None:
        if rank_zero_only.rank != 0:
            return
        try:
            self._guard(directory, config, sweep)
        except RunDirectoryError as err:
            raise SystemExit(f"error: {err}") from err

    def _guard(self, directory: Path, config: DictConfig, sweep: bool) -> None:
        self._lock = lock_run_directory(directory)
        continues = config.get("resume") in (True, "auto") or bool(config.get("ckpt_path"))
        found = sweep_markers(directory) if sweep else run_markers(directory)
        if continues or not found:
            return
        what, key = ("sweep", "hydra.sweep.dir") if sweep else ("run", "hydra.run.dir")
        if not config.get("overwrite"):
            raise RunDirectoryError(
                f"{directory} holds a {what} already ({', '.join(found)}); continue it with "
                f"resume=true, start in a new directory (another {key}), or set overwrite=true "
                f"to move the old {what} aside"
            )
        log.warning(
            "overwrite=true: moved the %s in %s to %s", what, directory, move_aside(directory)
        )

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._release()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._release()

    def _release(self) -> None:
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


def sweep_markers(sweep_dir: Path) -> list[str]:
    """What of an earlier sweep ``sweep_dir`` holds: Hydra's ``multirun.yaml`` and the job
    folders that hold a run."""
    found = [SWEEP_MARKER] if (sweep_dir / SWEEP_MARKER).exists() else []
    jobs = sorted(entry for entry in sweep_dir.iterdir() if entry.is_dir() and holds_run(entry))
    return found + [job.name for job in jobs]


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

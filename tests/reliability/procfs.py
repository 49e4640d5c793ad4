"""Test helpers that read a process's state from Linux ``/proc``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path


def state_and_parent(pid: int) -> tuple[str, int] | None:
    """A process's state letter and parent pid, or None once it is gone."""
    try:
        state, ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
    except OSError:  # ended (or ended while being read)
        return None
    return state, int(ppid)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    found = state_and_parent(pid)
    return found is not None and found[0] != "Z"


def living_children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``, zombies left out."""
    children = set()
    for entry in Path("/proc").glob("[0-9]*"):
        found = state_and_parent(int(entry.name))
        if found is not None and found[0] != "Z" and found[1] == pid:
            children.add(int(entry.name))
    return children


def survivors(pids: Iterable[int], within_s: float) -> list[int]:
    """The processes of ``pids`` still running ``within_s`` seconds from now; returns as soon
    as all have ended."""
    pids, deadline = list(pids), time.monotonic() + within_s
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [pid for pid in pids if alive(pid)]

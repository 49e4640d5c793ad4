"""Worker processes that end with the process that started them."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from multiprocessing.process import BaseProcess

#: A worker's exit status when its parent is gone (as if it had received SIGTERM).
PARENT_GONE = 128 + 15


def exit_with_parent() -> None:
    """In a :mod:`multiprocessing` worker: exit as soon as the parent process ends, however
    it ends (SIGTERM, SIGKILL, out of memory). Call it first in a pool's initializer.

    Without it a ``ProcessPoolExecutor`` worker whose parent is killed finishes its task
    first: a study's run goes on for an hour on cores whose results nobody will read. Written
    by hand because no library does it: 3.14's ``terminate_workers`` needs a live parent to
    call it, and Linux's ``PR_SET_PDEATHSIG`` is neither portable nor tied to the parent
    *process* (it fires when the spawning thread exits). The parent's sentinel, which
    multiprocessing hands every child, becomes readable once the parent is gone.
    """
    parent = mp.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to follow
        return
    threading.Thread(
        target=_exit_when_gone, args=(parent,), name="exit-with-parent", daemon=True
    ).start()


def _exit_when_gone(parent: BaseProcess) -> None:
    parent.join()  # a parent process's join waits on its sentinel
    os._exit(PARENT_GONE)  # no cleanup: the task in flight is lost with the parent anyway

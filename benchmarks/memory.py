"""Peak memory of one call (CUDA allocator peak; on Linux CPU the resident-set mark)."""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

T = TypeVar("T")


class PeakMemory:
    """Peak memory of one call above the level before it.

    CUDA: the caching allocator's peak (``torch.cuda.max_memory_allocated``). CPU (Linux): the
    growth of the resident-set high-water mark during the call. Before the call, glibc's
    ``malloc_trim`` hands freed heap memory back to the OS (otherwise the call would reuse it
    without growing the resident set and read near 0) and ``/proc/self/clear_refs`` resets the
    mark. The CPU figure counts every allocation of the process (oneDNN scratch, Python), not
    only tensors. Elsewhere it is ``None``.
    """

    CLEAR_REFS = Path("/proc/self/clear_refs")
    STATUS = Path("/proc/self/status")

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._malloc_trim = _malloc_trim()
        self.available = device.type == "cuda" or (
            self._malloc_trim is not None and self._reset_cpu_peak()
        )

    def measure(self, fn: Callable[[], T]) -> tuple[T, int | None]:
        if not self.available:
            return fn(), None
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device)
            result = fn()
            return result, torch.cuda.max_memory_allocated(self.device) - before
        self._reset_cpu_peak()
        before = self._status_kib("VmRSS")
        result = fn()
        return result, max(0, self._status_kib("VmHWM") - before) * 1024

    def _reset_cpu_peak(self) -> bool:
        if self._malloc_trim is not None:
            self._malloc_trim(0)
        try:
            self.CLEAR_REFS.write_text("5")  # "5": reset the peak RSS to the current RSS
        except OSError:
            return False
        return True

    def _status_kib(self, key: str) -> int:
        found = re.search(rf"^{key}:\s+(\d+) kB", self.STATUS.read_text(), re.MULTILINE)
        if found is None:
            raise RuntimeError(f"{self.STATUS} has no {key} line")
        return int(found.group(1))


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` (not Linux/glibc)."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def memory_note(device: torch.device) -> str:
    if device.type == "cuda":
        return "Peak memory: torch.cuda.max_memory_allocated above the level before the call."
    if PeakMemory(device).available:
        return (
            "Peak memory on CPU: growth of the process's resident-set high-water mark during "
            "the call, after malloc_trim (so freed memory is not silently reused) and a reset "
            "of the mark via /proc/self/clear_refs; all allocations of the process, not only "
            "tensors."
        )
    return "Peak memory: not measured on this platform (needs CUDA, or Linux with glibc)."

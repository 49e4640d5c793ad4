"""Where something ran: CPU model, cores, GPUs, torch and the OS, for reports and benchmarks."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` knows)."""
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    except OSError:  # not Linux
        found = None
    return found.group(1).strip() if found else platform.processor() or platform.machine()


def usable_cores() -> int:
    """The cores this process may run on (its affinity on Linux), else all of them."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_kernels() -> str:
    """The vector instructions torch's CPU kernels use here (``AVX2``, ``AVX512``, ...).

    They decide the float rounding, so two machines can train the same seed to different bits,
    and they decide whether bf16 on the CPU is native or emulated.
    """
    return torch.backends.cpu.get_cpu_capability()


def machine_description() -> str:
    """CPU model and its torch kernels, usable and present cores, GPUs, torch version and
    threads, OS."""
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return (
        f"{cpu_model()} ({cpu_kernels()} kernels), "
        f"{usable_cores()} usable of {os.cpu_count()} cores; "
        f"GPU: {', '.join(gpus) or 'none'}; "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads); "
        f"{platform.system()} {platform.release()}"
    )

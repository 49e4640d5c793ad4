"""Benchmarks of stgcn-reid: training step, backbone ceiling, data loading and evaluation.

Run them all with ``python -m benchmarks.run_all`` (``make bench``), which rewrites
``docs/performance.md``, or one topic with ``python -m benchmarks.<script> --help``. They are
not tests: ``tests/benchmarks`` only checks that each still runs.
"""

from pathlib import Path

#: The repository root (benchmarks write docs/performance.md and data below it).
REPO_ROOT = Path(__file__).resolve().parents[1]

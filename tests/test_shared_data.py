"""A clone without ``../shared`` skips the tests that need the real MARS metadata, saying what
is missing; with ``STGCN_REQUIRE_SHARED`` (set by CI) they fail instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIRE_SHARED = "STGCN_REQUIRE_SHARED"  # as in tests/conftest.py and .ci/run

NEEDS_SHARED = "tests/evaluation/test_rank.py::test_mars_splits_count_queries_without_match"


def _pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != REQUIRE_SHARED}
    environment.update(STGCN_SHARED=str(tmp_path / "no-shared"), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", NEEDS_SHARED],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )


def test_missing_shared_data_skips_with_a_message_naming_the_files(tmp_path: Path) -> None:
    result = _pytest(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert "tracks_test_info.mat" in result.stdout and "MARS-evaluation" in result.stdout


def test_ci_variable_turns_the_skip_into_a_failure(tmp_path: Path) -> None:
    result = _pytest(tmp_path, **{REQUIRE_SHARED: "1"})
    assert result.returncode == 1
    assert "1 error" in result.stdout or "1 failed" in result.stdout
    assert f"{REQUIRE_SHARED} is set" in result.stdout

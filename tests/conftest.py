"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The real MARS metadata the tests read, from the official MARS evaluation kit.
MARS_INFO_FILES = ("tracks_train_info.mat", "tracks_test_info.mat", "query_IDX.mat")
#: Set (CI does) to fail, not skip, the tests that need ``../shared``.
REQUIRE_SHARED = "STGCN_REQUIRE_SHARED"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (override with ``STGCN_SHARED``).

    Missing, the tests that need it skip with a message naming the files; with
    ``STGCN_REQUIRE_SHARED=1`` they fail instead, so that CI never silently tests less.
    """
    path = Path(os.environ.get("STGCN_SHARED", REPO_ROOT.parent / "shared"))
    info = path / "data" / "mars-info"
    missing = [name for name in MARS_INFO_FILES if not (info / name).is_file()]
    if missing:
        message = (
            f"needs the real MARS metadata {', '.join(missing)} in {info} (from the official "
            "MARS evaluation kit, liangzheng06/MARS-evaluation, info/); set STGCN_SHARED to "
            "the folder that holds data/mars-info"
        )
        if os.environ.get(REQUIRE_SHARED):
            pytest.fail(f"{REQUIRE_SHARED} is set: {message}")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def mars_info_dir(shared_dir: Path) -> Path:
    """The real MARS metadata: tracks_{train,test}_info.mat and query_IDX.mat."""
    return shared_dir / "data" / "mars-info"

"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (override with ``STGCN_SHARED``)."""
    path = Path(os.environ.get("STGCN_SHARED", REPO_ROOT.parent / "shared"))
    if not (path / "data" / "mars-info").is_dir():
        pytest.fail(f"shared data not found at {path} (set STGCN_SHARED)")
    return path


@pytest.fixture(scope="session")
def mars_info_dir(shared_dir: Path) -> Path:
    """The real MARS metadata: tracks_{train,test}_info.mat and query_IDX.mat."""
    return shared_dir / "data" / "mars-info"

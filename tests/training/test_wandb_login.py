"""W&B counts as logged in by wandb's own rules, for any server, so a self-hosted W&B is used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import clean_env

PROBE = "from stgcn_reid.utils.instantiate import wandb_logged_in; print(wandb_logged_in())"
HOST = "wandb.example.org"


def _logged_in(home: Path, **env: str) -> bool:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env={**clean_env(home), **env},
        timeout=120,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1] == "True"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".netrc").write_text(f"machine {HOST}\n  login user\n  password {'k' * 40}\n")
    return tmp_path


def test_a_self_hosted_server_with_a_netrc_key_is_logged_in(home: Path) -> None:
    assert _logged_in(home, WANDB_BASE_URL=f"https://{HOST}")


def test_a_key_for_another_host_is_not_a_login(home: Path) -> None:
    assert not _logged_in(home)  # the default server has no key in this netrc
    assert not _logged_in(home, WANDB_BASE_URL="https://other.example.org")


def test_an_api_key_in_the_environment_is_a_login(tmp_path: Path) -> None:
    assert _logged_in(tmp_path, WANDB_API_KEY="k" * 40)

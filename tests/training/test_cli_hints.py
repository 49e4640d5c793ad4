"""A mistyped override gets Hydra's error plus a hint naming the real key."""

from __future__ import annotations

import subprocess
import sys

from stgcn_reid.utils.cli import override_hints


def test_hint_suggests_the_closest_real_key() -> None:
    hints = override_hints(["model.tgcn_layer=4", "dataset=mars", "+foo=1", "seed=3"], "train")
    assert len(hints) == 1
    assert "'model.tgcn_layer'" in hints[0] and "did you mean model.tgcn_layers" in hints[0]


def test_unknown_key_fails_with_hydra_error_and_hint() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stgcn_reid.train", "model.tgcn_layer=4"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Could not override 'model.tgcn_layer'" in result.stderr  # Hydra's own message
    assert "did you mean model.tgcn_layers" in result.stderr


def test_mistyped_group_name_suggests_the_group_not_a_plus() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stgcn_reid.train", "experimnt=smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert (
        "hint: 'experimnt' is not a key of the train config; did you mean the config group "
        "experiment (experiment=smoke)? +experimnt=... would add an unused key"
    ) in result.stderr

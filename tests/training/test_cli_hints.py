"""A mistyped override gets Hydra's error plus a hint naming the real key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stgcn_reid.embed import main as embed_main
from stgcn_reid.utils.override_hints import override_hints


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


def run_entry_point(module: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m <module> <arguments>``, expected to fail before doing anything."""
    return subprocess.run(
        [sys.executable, "-m", module, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_unquoted_path_with_a_space_is_told_to_be_quoted() -> None:
    # The shell's split of: dataset.root=/data/my mars
    result = run_entry_point("stgcn_reid.train", "dataset.root=/data/my", "mars")
    assert result.returncode == 1
    assert (
        "hint: 'mars' is not a key=value override; if 'mars' is the rest of the value before "
        "it, that value has a space and must be quoted: 'dataset.root=/data/my mars'"
    ) in result.stderr.splitlines()


def test_eval_dataset_option_alone_points_to_what_works() -> None:
    result = run_entry_point("stgcn_reid.eval", "ckpt_path=run/last.ckpt", "dataset.root=/x")
    assert result.returncode == 1
    assert (
        "hint: eval takes the dataset from the checkpoint's run config; change one of its "
        "options with +dataset.root=/x, or choose a dataset with dataset=<name> dataset.root=/x"
    ) in result.stderr.splitlines()


def test_eval_with_an_experiment_says_the_config_comes_from_the_checkpoint() -> None:
    result = run_entry_point("stgcn_reid.eval", "experiment=paper_mars", "ckpt_path=x.ckpt")
    assert result.returncode == 1
    assert (
        "hint: eval takes its config (model, input size, dataset) from the checkpoint's run "
        "config; drop experiment=paper_mars and give only ckpt_path=... (and dataset=... to "
        "evaluate on another dataset)"
    ) in result.stderr.splitlines()


def test_the_inference_tools_say_the_same_about_a_space() -> None:
    with pytest.raises(SystemExit, match=r"must be quoted: 'input_dir=/data/my frames'"):
        embed_main(["ckpt_path=x.ckpt", "input_dir=/data/my", "frames"])

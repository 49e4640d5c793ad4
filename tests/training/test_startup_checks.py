"""Evaluation splits that cannot be evaluated fail at start-up, before the first training step."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from data.trees import make_duke_tree, make_mars_tree

pytestmark = pytest.mark.slow

MARS_TRAIN = [(pid, camera, 2) for pid in (1, 2, 3) for camera in (1, 2)]
SMALL = ("data.val_split=none", "data.num_identities=2")


def mars(root: Path, test: list[tuple[int, int, int]]) -> Path:
    """A MARS tree whose first test tracklet is the only query."""
    return make_mars_tree(root, MARS_TRAIN, test, query_rows=[0])


def unmatched_query(tmp_path: Path) -> tuple[str, list[str]]:
    root = mars(tmp_path / "MARS", [(7, 1, 2), (8, 2, 2)])
    message = (
        "mars test split: 1 of 1 queries have no gallery tracklet of their identity under "
        "another camera (first: pid 7 camera 1), so none can be evaluated"
    )
    return message, ["dataset=mars", f"dataset.root={root}"]


def missing_bbox_test(tmp_path: Path) -> tuple[str, list[str]]:
    root = mars(tmp_path / "MARS", [(7, 1, 2), (7, 2, 2)])
    shutil.rmtree(root / "bbox_test")
    return f"MARS at {root}: missing {root / 'bbox_test'}", ["dataset=mars", f"dataset.root={root}"]


def missing_identity_folder(tmp_path: Path) -> tuple[str, list[str]]:
    root = mars(tmp_path / "MARS", [(7, 1, 2), (7, 2, 2), (8, 2, 2)])
    shutil.rmtree(root / "bbox_test" / "0008")
    message = (
        f"mars test gallery: 2 frame files listed in the metadata are missing, first "
        f"{root}/bbox_test/0008/0008C2T0001F001.jpg, {root}/bbox_test/0008/0008C2T0001F002.jpg; "
        f"the folder {root}/bbox_test/0008 does not exist"
    )
    return message, ["dataset=mars", f"dataset.root={root}"]


def missing_duke_query(tmp_path: Path) -> tuple[str, list[str]]:
    tracks = [(pid, 1 + k, f"{k + 1:04d}", 2) for pid in (1, 2, 3) for k in range(2)]
    root = make_duke_tree(tmp_path / "DukeV", {"train": tracks, "gallery": [(7, 2, "0002", 2)]})
    message = f"DukeMTMC-VideoReID at {root}: missing {root / 'query'}"
    return message, ["dataset=dukemtmc_video", f"dataset.root={root}"]


@pytest.mark.parametrize(
    "case", [unmatched_query, missing_bbox_test, missing_identity_folder, missing_duke_query]
)
def test_an_evaluation_split_that_cannot_be_evaluated_fails_before_training(
    run_module, tmp_path: Path, case: Callable[[Path], tuple[str, list[str]]]
) -> None:
    message, overrides = case(tmp_path)
    run_dir = tmp_path / "run"
    result = run_module(
        "stgcn_reid.train", f"hydra.run.dir={run_dir}", *overrides, *SMALL, check=False
    )
    assert result.returncode == 1
    line = next((line for line in result.stderr.splitlines() if message in line), None)
    assert line is not None, result.stderr[-3000:]
    assert not (run_dir / "checkpoints").exists()  # no training step ran

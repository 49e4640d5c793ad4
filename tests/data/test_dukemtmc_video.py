"""DukeMTMC-VideoReID: layout, frame order, cameras, query removal and bad inputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from stgcn_reid.data.datasets import DatasetError, build_dataset
from stgcn_reid.inference import list_frames

from .trees import make_duke_tree, write_frame

# (pid, camera, tracklet folder, frames)
SPLITS = {
    "train": [(1, 6, "0001", 3), (1, 2, "0002", 2), (4, 1, "0001", 4)],
    "query": [(9, 3, "0003", 2), (12, 8, "0001", 3)],
    "gallery": [
        (9, 3, "0003", 2),  # the query's own copy
        (9, 5, "0007", 4),
        (12, 8, "0001", 3),  # the query's own copy
        (12, 8, "0002", 2),  # same identity and camera, another tracklet: stays
        (500, 4, "0001", 2),  # distractor
    ],
}


@pytest.fixture
def duke(tmp_path: Path) -> Path:
    return make_duke_tree(tmp_path / "DukeV", SPLITS)


def summary(tracklets) -> list[tuple[int, int, int]]:
    return [(t.pid, t.camid, len(t.frames)) for t in tracklets]


def test_tree_loads_with_cameras_and_relabelled_train_ids(duke: Path) -> None:
    dataset = build_dataset("dukemtmc_video", duke)
    assert summary(dataset.train) == [(0, 5, 3), (0, 1, 2), (1, 0, 4)]
    assert summary(dataset.query) == [(9, 2, 2), (12, 7, 3)]
    assert dataset.num_train_pids == 2


def test_query_copies_are_removed_from_the_gallery(duke: Path) -> None:
    dataset = build_dataset("dukemtmc_video", duke)
    assert summary(dataset.gallery) == [(9, 4, 4), (12, 7, 2), (500, 3, 2)]
    assert all("/gallery/" in t.frames[0] for t in dataset.gallery)


def test_frames_are_ordered_by_frame_number(tmp_path: Path) -> None:
    root = make_duke_tree(tmp_path, {s: SPLITS[s] for s in ("train", "gallery")})
    (root / "query").mkdir()
    folder = root / "query" / "0009" / "0003"
    # Unpadded numbers, so that name order (F100 < F20 < F3) differs from frame order.
    for frame in (3, 20, 100):
        write_frame(folder / f"0009_C3_F{frame}_X1.jpg")
    dataset = build_dataset("dukemtmc_video", root)
    assert [Path(f).name for f in dataset.query[0].frames] == [
        "0009_C3_F3_X1.jpg",
        "0009_C3_F20_X1.jpg",
        "0009_C3_F100_X1.jpg",
    ]


def test_old_frame_names_are_parsed(tmp_path: Path) -> None:
    dataset = build_dataset("dukemtmc_video", make_duke_tree(tmp_path, SPLITS, old=True))
    assert summary(dataset.query) == [(9, 2, 2), (12, 7, 3)]
    assert Path(dataset.train[0].frames[0]).name == "0001C6F0100X30003.jpg"


@pytest.mark.parametrize("split", ["train", "query", "gallery"])
def test_missing_split_is_named(duke: Path, split: str) -> None:
    for path in sorted((duke / split).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (duke / split).rmdir()
    with pytest.raises(DatasetError, match=f"missing {duke / split}"):
        build_dataset("dukemtmc_video", duke)


def test_empty_split_is_named(duke: Path, tmp_path: Path) -> None:
    root = make_duke_tree(tmp_path / "other", {s: SPLITS[s] for s in ("train", "gallery")})
    (root / "query").mkdir()
    with pytest.raises(DatasetError, match=f"{root / 'query'}: no tracklets"):
        build_dataset("dukemtmc_video", root)


def test_empty_tracklet_folder_is_named(duke: Path) -> None:
    empty = duke / "gallery" / "0009" / "0099"
    empty.mkdir()
    with pytest.raises(DatasetError, match=f"{empty}: empty tracklet folder"):
        build_dataset("dukemtmc_video", duke)


def test_non_image_files_are_skipped_with_a_warning(duke: Path) -> None:
    junk = duke / "train" / "0001" / "0001" / "Thumbs.db"
    junk.write_text("x")
    notes = duke / "train" / "notes.txt"
    notes.write_text("x")
    with pytest.warns(UserWarning) as caught:
        dataset = build_dataset("dukemtmc_video", duke)
    messages = " ".join(str(w.message) for w in caught)
    assert str(junk) in messages and str(notes) in messages
    assert summary(dataset.train)[0] == (0, 5, 3)


def test_badly_named_frame_is_named(duke: Path) -> None:
    bad = duke / "train" / "0004" / "0001" / "frame_7.jpg"
    write_frame(bad)
    with pytest.raises(DatasetError, match=f"{bad}: frame name does not match"):
        build_dataset("dukemtmc_video", duke)


def test_tracklet_over_two_cameras_is_named(duke: Path) -> None:
    folder = duke / "train" / "0004" / "0001"
    write_frame(folder / "0004_C2_F9999_X1.jpg")
    with pytest.raises(DatasetError, match=rf"{folder}: frames from several cameras \[1, 2\]"):
        build_dataset("dukemtmc_video", duke)


def test_identity_folder_must_be_numeric(duke: Path) -> None:
    folder = duke / "train" / "person"
    write_frame(folder / "0001" / "0001_C1_F0001_X1.jpg")
    with pytest.raises(DatasetError, match=f"{folder}: expected an identity folder"):
        build_dataset("dukemtmc_video", duke)


def test_frame_of_another_identity_is_named(duke: Path) -> None:
    stray = duke / "train" / "0004" / "0001" / "0011_C1_F9999_X1.jpg"
    write_frame(stray)
    with pytest.raises(
        DatasetError, match=f"{stray}: a frame of identity 11 inside the folder of identity 4"
    ):
        build_dataset("dukemtmc_video", duke)


def test_bmp_frames_are_frames_as_everywhere(duke: Path) -> None:
    folder = duke / "train" / "0004" / "0001"
    Image.new("RGB", (8, 16)).save(folder / "0004_C1_F9999_X1.bmp")
    dataset = build_dataset("dukemtmc_video", duke)
    (tracklet,) = [t for t in dataset.train if t.frames[0].startswith(str(folder))]
    assert tracklet.frames[-1] == str(folder / "0004_C1_F9999_X1.bmp")
    assert [p.name for p in list_frames(folder)][-1] == "0004_C1_F9999_X1.bmp"  # embed's rule


def test_broken_symbolic_link_is_named_as_one(duke: Path) -> None:
    link = duke / "train" / "0004" / "0001" / "0004_C1_F9999_X1.jpg"
    link.symlink_to(duke / "gone.jpg")
    message = f"{link}: broken symbolic link (its target {duke / 'gone.jpg'} does not exist)"
    with pytest.raises(DatasetError, match=re.escape(message)):
        build_dataset("dukemtmc_video", duke)
    with pytest.raises(DatasetError, match=re.escape(message)):
        list_frames(link.parent)  # embed

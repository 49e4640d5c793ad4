"""MARS: the real split from the official metadata, a tiny tree end to end, bad inputs."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from stgcn_reid.data.clips import TestClips
from stgcn_reid.data.datasets import DatasetError, build_dataset
from stgcn_reid.data.datasets.mars import load_mars
from stgcn_reid.data.transforms import build_test_transform

from .trees import make_mars_tree, mars_names, write_mars_info

# A tiny MARS: train ids 3 and 8; test ids 2 and 5 (two cameras each), distractor 0, junk -1.
TRAIN = [(3, 1, 4), (3, 2, 3), (8, 1, 5), (8, 6, 2)]
TEST = [(2, 1, 3), (2, 4, 4), (5, 2, 2), (5, 3, 5), (0, 5, 3), (-1, 1, 2), (2, 4, 3)]
QUERY_ROWS = [0, 2]


@pytest.fixture(scope="module")
def real_mars(mars_info_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MARS root with the official .mat tables and matching name lists, but no frames."""
    root = tmp_path_factory.mktemp("mars")

    def table(name: str, key: str) -> np.ndarray:
        return scipy.io.loadmat(mars_info_dir / f"{name}.mat")[key]

    query = table("query_IDX", "query_IDX").ravel().astype(int) - 1
    write_mars_info(
        root,
        table("tracks_train_info", "track_train_info"),
        table("tracks_test_info", "track_test_info"),
        query,
    )
    # The official query file, byte for byte, rather than our re-encoding of it.
    shutil.copy(mars_info_dir / "query_IDX.mat", root / "info" / "query_IDX.mat")
    return root


def test_real_metadata_gives_the_published_split(real_mars: Path) -> None:
    start = time.perf_counter()
    dataset = build_dataset("mars", real_mars)
    print(f"indexed MARS metadata in {time.perf_counter() - start:.2f} s")
    assert dataset.num_train_pids == 625
    assert len(dataset.train) == 8298
    assert len(dataset.query) == 1980
    assert len(dataset.gallery) == 9330
    assert sum(len(t.frames) for t in dataset.train) == 509914
    assert {t.camid for t in dataset.train} == set(range(6))
    gallery_pids = [t.pid for t in dataset.gallery]
    assert -1 not in gallery_pids
    assert gallery_pids.count(0) == 3248  # distractors kept
    assert not {t.frames[0] for t in dataset.query} & {t.frames[0] for t in dataset.gallery}
    first = dataset.train[0]
    assert first.frames[0] == f"{real_mars}/bbox_train/0001/0001C1T0001F001.jpg"
    assert (first.pid, first.camid, len(first.frames)) == (0, 0, 16)


def test_real_metadata_official_gallery_keeps_the_queries(real_mars: Path) -> None:
    dataset = build_dataset("mars", real_mars, official_gallery=True)
    assert len(dataset.query) == 1980
    assert len(dataset.gallery) == 11310
    assert set(dataset.query) <= set(dataset.gallery)
    assert -1 not in {t.pid for t in dataset.gallery}


def test_tiny_tree_loads_end_to_end(tmp_path: Path) -> None:
    root = make_mars_tree(tmp_path, TRAIN, TEST, QUERY_ROWS)
    dataset = build_dataset("mars", root)
    assert [(t.pid, t.camid, len(t.frames)) for t in dataset.train] == [
        (0, 0, 4),
        (0, 1, 3),
        (1, 0, 5),
        (1, 5, 2),
    ]
    assert [(t.pid, t.camid) for t in dataset.query] == [(2, 0), (5, 1)]
    assert [(t.pid, t.camid) for t in dataset.gallery] == [(2, 3), (5, 2), (0, 4), (2, 3)]
    official = build_dataset("mars", root, official_gallery=True)
    assert len(official.gallery) == 6 and set(dataset.query) <= set(official.gallery)

    assert all(Path(f).is_file() for t in dataset.train + dataset.gallery for f in t.frames)
    # Second tracklet of id 2 on camera 4: T0002, frames in list order.
    assert [Path(f).name for f in dataset.gallery[3].frames] == [
        "0002C4T0002F001.jpg",
        "0002C4T0002F002.jpg",
        "0002C4T0002F003.jpg",
    ]
    clips = TestClips(dataset.gallery, 2, build_test_transform(16, 8), sampling="consecutive")
    items = [clips[i] for i in range(len(clips))]
    # Gallery lengths 4, 5, 3, 3 in clips of 2.
    assert [int(item["track"]) for item in items] == [0, 0, 1, 1, 1, 2, 2, 3, 3]
    assert all(item["clips"].shape == (2, 3, 16, 8) for item in items)
    assert all(item["clips"].dtype == torch.float32 for item in items)


@pytest.fixture
def tiny_mars(tmp_path: Path) -> Path:
    root = tmp_path / "MARS"
    write_mars_info(root, *_tables(), QUERY_ROWS)
    return root


def _tables() -> tuple[np.ndarray, np.ndarray]:
    from .trees import tracks_table

    return tracks_table(TRAIN), tracks_table(TEST)


def test_missing_root_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "nowhere"))):
        build_dataset("mars", tmp_path / "nowhere")


@pytest.mark.parametrize(
    "missing",
    [
        "bbox_train",
        "bbox_test",
        "info/train_name.txt",
        "info/test_name.txt",
        "info/tracks_train_info.mat",
        "info/tracks_test_info.mat",
        "info/query_IDX.mat",
    ],
)
def test_missing_part_is_named(tiny_mars: Path, missing: str) -> None:
    path = tiny_mars / missing
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    with pytest.raises(DatasetError, match=f"missing {path}"):
        build_dataset("mars", tiny_mars)


def test_short_name_list_is_named(tiny_mars: Path) -> None:
    names = tiny_mars / "info" / "test_name.txt"
    names.write_text("\n".join(names.read_text().split()[:-2]))
    with pytest.raises(DatasetError, match=f"{names}: 20 frame names.*row 22"):
        build_dataset("mars", tiny_mars)


def test_name_list_out_of_step_with_the_table_is_named(tiny_mars: Path) -> None:
    names = tiny_mars / "info" / "train_name.txt"
    lines = names.read_text().split()
    names.write_text("\n".join(lines[1:] + lines[:1]))  # shifted by one row
    with pytest.raises(DatasetError, match=f"{names}: frame '0003C2T0001F001.jpg'"):
        build_dataset("mars", tiny_mars)


def test_names_swapped_inside_tracklets_are_named(tiny_mars: Path) -> None:
    # Rows 1 and 3 (pid 3 and pid 8, 4 and 5 frames): their inner frames trade places, so both
    # tracklets still start and end with their own names.
    names = tiny_mars / "info" / "train_name.txt"
    lines = names.read_text().split()
    lines[1], lines[8] = lines[8], lines[1]
    names.write_text("\n".join(lines))
    message = (
        f"{names}: frame '0008C1T0001F002.jpg' does not start with '0003C1' as row 1 of the "
        "tracks info table (pid 3, camera 1) requires"
    )
    with pytest.raises(DatasetError, match=re.escape(message)):
        build_dataset("mars", tiny_mars)


def test_real_metadata_indexes_in_seconds_with_every_name_checked(real_mars: Path) -> None:
    start = time.perf_counter()
    load_mars(real_mars)
    elapsed = time.perf_counter() - start
    print(f"indexed the full MARS metadata, every frame name checked, in {elapsed:.2f} s")
    assert elapsed < 10.0


def test_wrong_mat_files_are_named(tiny_mars: Path) -> None:
    info = tiny_mars / "info"
    scipy.io.savemat(info / "query_IDX.mat", {"query_IDX": np.array([[1, 99]])})
    with pytest.raises(DatasetError, match=f"{info / 'query_IDX.mat'}: query indices"):
        build_dataset("mars", tiny_mars)
    scipy.io.savemat(info / "tracks_test_info.mat", {"other": np.zeros((2, 4))})
    with pytest.raises(DatasetError, match=f"{info / 'tracks_test_info.mat'}: no variable"):
        build_dataset("mars", tiny_mars)
    (info / "tracks_train_info.mat").write_text("not a mat file")
    with pytest.raises(DatasetError, match=f"{info / 'tracks_train_info.mat'}: not a readable"):
        build_dataset("mars", tiny_mars)


def test_name_lists_match_the_tables() -> None:
    # The generator itself: names follow the table rows' identity, camera and length.
    train, _ = _tables()
    names = mars_names(train)
    assert len(names) == 14
    assert names[:5] == [
        "0003C1T0001F001.jpg",
        "0003C1T0001F002.jpg",
        "0003C1T0001F003.jpg",
        "0003C1T0001F004.jpg",
        "0003C2T0001F001.jpg",
    ]

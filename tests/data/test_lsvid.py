"""LS-VID: the released lists and info_test.mat at the release's tracklet counts, both gallery
protocols, frame order, partial and refused trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from stgcn_reid.data.datasets import DatasetError, build_dataset

from .trees import lsvid_tracks, make_lsvid_tree

TRAIN_IDS, TEST_IDS = 842, 2730  # how the tree spreads the tracklets (not checked by the loader)
QUERY_ROWS = list(range(3504))  # every test identity once, 774 a second time


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,831 training and 11,333 test tracklets of one frame, 3,504 queries."""
    train = lsvid_tracks(TRAIN_IDS, 2831)
    test = lsvid_tracks(TEST_IDS, 11333, first_pid=TRAIN_IDS + 1)
    return make_lsvid_tree(tmp_path_factory.mktemp("lsvid"), train, test, QUERY_ROWS)


def test_the_release_counts_and_the_official_gallery(release: Path) -> None:
    dataset = build_dataset("lsvid", release)
    assert dataset.statistics() == [
        ("train", TRAIN_IDS, 2831, 15, 2831),
        ("query", TEST_IDS, 3504, 15, 3504),
        ("gallery", TEST_IDS, 11333, 15, 11333),  # every test tracklet, queries included
    ]
    assert dataset.query[:3] == dataset.gallery[:3]
    assert {t.pid for t in dataset.train}.isdisjoint(t.pid for t in dataset.gallery)
    assert all("/tracklet_test/" in t.frames[0] for t in dataset.query + dataset.gallery)

    torchreid = build_dataset("lsvid", release, official_gallery=False)
    assert torchreid.statistics()[2] == ("gallery", TEST_IDS, 11333 - 3504, 15, 11333 - 3504)
    assert set(torchreid.query).isdisjoint(torchreid.gallery)


def test_cameras_come_from_names_and_from_info_test(release: Path) -> None:
    dataset = build_dataset("lsvid", release)
    for tracklet in dataset.train[:50] + dataset.gallery[:50]:
        camera = int(Path(tracklet.frames[0]).name.split("_")[2])
        assert tracklet.camid == camera - 1


def test_frames_are_in_frame_number_order(tmp_path: Path) -> None:
    # Unpadded numbers: name order (100 < 20 < 3) differs from frame order.
    train = [(1, 2, [3, 100, 20]), (1, 5, [7, 1])]
    test = [(4, 1, [10, 9]), (4, 3, [2, 11, 1])]
    root = make_lsvid_tree(tmp_path, train, test, [0])
    dataset = build_dataset("lsvid", root, strict=False)
    numbers = [[int(f.rsplit("_", 1)[1][:-4]) for f in t.frames] for t in dataset.train]
    assert numbers == [[3, 20, 100], [1, 7]]
    assert [[int(f.rsplit("_", 1)[1][:-4]) for f in t.frames] for t in dataset.gallery] == [
        [9, 10],
        [1, 2, 11],
    ]


def small_tree(root: Path, **kwargs) -> Path:
    return make_lsvid_tree(
        root, lsvid_tracks(2, 4), lsvid_tracks(3, 6, first_pid=10), [0, 1], **kwargs
    )


def test_a_partial_tree_loads_with_strict_false(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    with pytest.raises(DatasetError) as refused:
        build_dataset("lsvid", root)
    assert "4 training / 6 test tracklets / 2 queries" in str(refused.value)
    assert "the release has 2831 / 11333 / 3504" in str(refused.value)
    assert "dataset.strict=false" in str(refused.value)
    dataset = build_dataset("lsvid", root, strict=False)
    assert [row[:3] for row in dataset.statistics()] == [
        ("train", 2, 4),
        ("query", 2, 2),
        ("gallery", 3, 6),
    ]


def test_files_that_do_not_match_are_refused(tmp_path: Path) -> None:
    root = small_tree(tmp_path / "pids", info_pids=[10, 11, 12, 10, 11, 99])
    with pytest.raises(DatasetError, match="row 6 of 'info_test' has identity 99, but line 6"):
        build_dataset("lsvid", root, strict=False)

    root = small_tree(tmp_path / "frames")
    for frame in (root / "tracklet_test" / "0011").iterdir():
        frame.unlink()
    with pytest.raises(DatasetError, match=r"no frames .* for 2 listed tracklets, e.g. .*0011_"):
        build_dataset("lsvid", root, strict=False)

    root = small_tree(tmp_path / "query")
    info = root / "test" / "data" / "info_test.mat"
    content = scipy.io.loadmat(info)
    scipy.io.savemat(info, {"info_test": content["info_test"], "query": np.array([[1, 7]])})
    with pytest.raises(DatasetError, match=r"'query' must hold 1-based rows of 1..6"):
        build_dataset("lsvid", root, strict=False)

    (root / "list_sequence" / "list_seq_train.txt").write_text("tracklet_train/0001/x\n")
    with pytest.raises(
        DatasetError, match=r"list_seq_train.txt:1: expected '<tracklet path> <pid>'"
    ):
        build_dataset("lsvid", root, strict=False)


def test_a_v73_mat_file_without_h5py_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = small_tree(tmp_path)
    # The 128-byte header of a MATLAB v7.3 file (version 0x0200, then the HDF5 data).
    header = b"MATLAB 7.3 MAT-file".ljust(116) + b"\0" * 8 + b"\x00\x02IM"
    (root / "test" / "data" / "info_test.mat").write_bytes(header + b"\0" * 512)
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)  # as if not installed
    with pytest.raises(DatasetError, match=r"MATLAB v7.3 \(HDF5\) file: install h5py"):
        build_dataset("lsvid", root, strict=False)


def test_registry_aliases(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    by_alias = build_dataset("LS-VID", root, strict=False)
    assert by_alias.name == "lsvid"
    assert by_alias.statistics() == build_dataset("lsvid", root, strict=False).statistics()


def test_frames_follow_the_one_frame_rule(tmp_path: Path) -> None:
    """Any image suffix of the shared rule is a frame; a broken link is named as one."""
    root = small_tree(tmp_path)
    first = build_dataset("lsvid", root, strict=False).train[0].frames[0]
    folder, name = first.rsplit("/", 1)
    prefix = name.rsplit("_", 1)[0]
    Path(first).rename(f"{folder}/{prefix}_1.bmp")
    assert build_dataset("lsvid", root, strict=False).train[0].frames[0].endswith("_1.bmp")
    link = Path(folder) / f"{prefix}_2.jpg"
    link.symlink_to(tmp_path / "gone.jpg")
    with pytest.raises(DatasetError, match=rf"{prefix}_2\.jpg: broken symbolic link"):
        build_dataset("lsvid", root, strict=False)

"""iLIDS-VID: the release layout at its official counts, the ten trials of ls_set, frame order,
partial trees and refused trees, and the dataset registry's names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from stgcn_reid.data.datasets import (
    DATASET_NAMES,
    LOADERS,
    DatasetError,
    build_dataset,
    canonical_name,
)

from .trees import ILIDS_PERSONS, ilids_ls_set, make_ilidsvid_tree, write_frames


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 persons x 2 cameras (1-3 frames each) and a 10 x 300 ls_set."""
    return make_ilidsvid_tree(tmp_path_factory.mktemp("ilids"))


def frames_of(person: int, camera: int) -> int:
    return 1 + (person + camera) % 3  # make_ilidsvid_tree's default


def test_every_trial_has_the_official_statistics(release: Path) -> None:
    for split_id in range(10):
        dataset = build_dataset("ilidsvid", release, split_id=split_id)
        test = {t.pid for t in dataset.query}
        train = set(ILIDS_PERSONS) - test
        assert dataset.statistics() == [
            ("train", 150, 300, 2, sum(frames_of(p, c) for p in train for c in (1, 2))),
            ("query", 150, 150, 1, sum(frames_of(p, 1) for p in test)),
            ("gallery", 150, 150, 1, sum(frames_of(p, 2) for p in test)),
        ]


def test_trial_k_tests_the_first_150_persons_of_row_k(release: Path) -> None:
    ls_set = scipy.io.loadmat(
        release / "train-test people splits" / "train_test_splits_ilidsvid.mat"
    )["ls_set"]
    tested = []
    for split_id in range(10):
        dataset = build_dataset("ilidsvid", release, split_id=split_id)
        expected = {ILIDS_PERSONS[int(i) - 1] for i in ls_set[split_id, :150]}
        assert {t.pid for t in dataset.query} == {t.pid for t in dataset.gallery} == expected
        train_dirs = {Path(t.frames[0]).parent.name for t in dataset.train}
        assert len(train_dirs) == 150 and train_dirs.isdisjoint(f"person{p:03d}" for p in expected)
        tested.append(frozenset(expected))
    assert len(set(tested)) == 10  # ten different trials


def test_query_is_camera_1_and_gallery_camera_2(release: Path) -> None:
    dataset = build_dataset("ilidsvid", release)
    assert {t.camid for t in dataset.query} == {0}
    assert {t.camid for t in dataset.gallery} == {1}
    assert all("/cam1/" in f for t in dataset.query for f in t.frames)
    assert all("/cam2/" in f for t in dataset.gallery for f in t.frames)
    assert sorted(t.pid for t in dataset.query) == sorted(t.pid for t in dataset.gallery)


def test_frames_are_in_frame_number_order(tmp_path: Path) -> None:
    numbers = [317, 4, 1000, 99, 58]  # files are created in a shuffled order
    root = make_ilidsvid_tree(
        tmp_path, persons=(1, 2, 3, 4), frames=lambda p, c: numbers, ls_set=ilids_ls_set(4)
    )
    dataset = build_dataset("ilidsvid", root, strict=False)
    for tracklet in dataset.train + dataset.query + dataset.gallery:
        found = [int(Path(f).stem.rsplit("_", 1)[1]) for f in tracklet.frames]
        assert found == sorted(numbers)


def test_a_partial_tree_loads_with_strict_false(tmp_path: Path) -> None:
    root = make_ilidsvid_tree(tmp_path, persons=(3, 7, 11, 12, 20, 21), ls_set=ilids_ls_set(6))
    write_frames(root / "i-LIDS-VID/sequences/cam1/person030", ["cam1_person030_00001.png"])
    with pytest.raises(DatasetError) as refused:
        build_dataset("ilidsvid", root)
    assert "300 person folders in each camera" in str(refused.value)
    assert "found 7 in" in str(refused.value) and "1 only in cam1 (person030)" in str(refused.value)
    assert "dataset.strict=false" in str(refused.value)

    with pytest.warns(UserWarning, match="1 persons seen by .*cam1 only"):
        dataset = build_dataset("ilidsvid", root, split_id=3, strict=False)
    expected = {(3, 7, 11, 12, 20, 21)[i - 1] for i in ilids_ls_set(6)[3, :3].astype(int)}
    assert {t.pid for t in dataset.query} == expected
    assert [row[:4] for row in dataset.statistics()] == [
        ("train", 3, 6, 2),
        ("query", 3, 3, 1),
        ("gallery", 3, 3, 1),
    ]


def test_wrong_trees_are_refused_with_what_differs(release: Path) -> None:
    person = release / "i-LIDS-VID/sequences/cam2/person010"
    aside = release / "person010-aside"
    person.rename(aside)
    try:
        with pytest.raises(DatasetError, match=r"found 300 in .*cam1 and 299 in .*cam2, 299 in"):
            build_dataset("ilidsvid", release)
        with pytest.raises(DatasetError, match=r"1 only in cam1 \(person010\)"):
            build_dataset("ilidsvid", release)
    finally:
        aside.rename(person)

    mat = release / "train-test people splits" / "train_test_splits_ilidsvid.mat"
    saved = mat.read_bytes()
    try:
        scipy.io.savemat(mat, {"ls_set": ilids_ls_set(300, trials=9)})
        with pytest.raises(DatasetError, match=r"has shape \(9, 300\); expected \(10, 300\)"):
            build_dataset("ilidsvid", release)
        table = ilids_ls_set(300)
        table[2, 5] = table[2, 6]
        scipy.io.savemat(mat, {"ls_set": table})
        with pytest.raises(DatasetError, match=r"row 2 of 'ls_set' is not a permutation"):
            build_dataset("ilidsvid", release)
    finally:
        mat.write_bytes(saved)
    with pytest.raises(ValueError, match=r"dataset.split_id=10: expected a trial in 0..9"):
        build_dataset("ilidsvid", release, split_id=10)


def test_bad_frames_and_missing_files_are_named(tmp_path: Path) -> None:
    root = make_ilidsvid_tree(tmp_path, persons=(1, 2), ls_set=ilids_ls_set(2))
    stray = root / "i-LIDS-VID/sequences/cam1/person002/cam2_person002_00050.png"
    stray.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"cam2_person002_00050.png: frame name does not match"):
        build_dataset("ilidsvid", root, strict=False)
    (root / "train-test people splits" / "train_test_splits_ilidsvid.mat").unlink()
    with pytest.raises(DatasetError, match=r"missing .*train_test_splits_ilidsvid\.mat"):
        build_dataset("ilidsvid", root, strict=False)


def test_the_registry_accepts_torchreid_names_and_paper_spellings(release: Path) -> None:
    assert tuple(LOADERS) == DATASET_NAMES
    assert DATASET_NAMES == (
        "mars",
        "dukemtmc_video",
        "synthetic",
        "ilidsvid",
        "prid2011",
        "lsvid",
        "mevid",
    )
    torchreid = {"mars": "mars", "dukemtmcvidreid": "dukemtmc_video", "ilidsvid": "ilidsvid"}
    torchreid |= {"prid2011": "prid2011", "lsvid": "lsvid", "mevid": "mevid"}
    for alias, name in torchreid.items():
        assert canonical_name(alias) == name
    for alias, name in [("iLIDS-VID", "ilidsvid"), ("PRID-2011", "prid2011"), ("LS-VID", "lsvid")]:
        assert canonical_name(alias) == name
    by_alias = build_dataset("iLIDS-VID", release, split_id=4)
    by_name = build_dataset("ilidsvid", release, split_id=4)
    assert by_alias.name == "ilidsvid"
    assert by_alias.statistics() == by_name.statistics()
    with pytest.raises(ValueError, match=r"'ilids'.*one of \('mars'.*alias: dukemtmcvidreid"):
        canonical_name("ilids")


def test_the_split_is_the_same_as_reading_ls_set_by_hand(release: Path) -> None:
    """Row k of ls_set as torchreid reads it: 1-based indices into the sorted person folders."""
    folders = sorted(p.name for p in (release / "i-LIDS-VID/sequences/cam1").iterdir())
    ls_set = np.asarray(
        scipy.io.loadmat(release / "train-test people splits/train_test_splits_ilidsvid.mat")[
            "ls_set"
        ]
    )
    dataset = build_dataset("ilidsvid", release, split_id=7)
    train_folders = sorted({Path(t.frames[0]).parent.name for t in dataset.train})
    assert train_folders == sorted(folders[int(i) - 1] for i in ls_set[7, 150:])


def test_frames_follow_the_one_frame_rule(tmp_path: Path) -> None:
    """A non-image file is skipped with the shared warning; a broken link is named as one."""
    root = make_ilidsvid_tree(tmp_path, persons=(1, 2), ls_set=ilids_ls_set(2))
    folder = root / "i-LIDS-VID/sequences/cam1/person002"
    (folder / "Thumbs.db").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"Thumbs\.db: not an image file \(frames are \.bmp"):
        build_dataset("ilidsvid", root, strict=False)
    (folder / "Thumbs.db").unlink()
    link = folder / "cam1_person002_09999.png"
    link.symlink_to(tmp_path / "gone.png")
    with pytest.raises(DatasetError, match=r"cam1_person002_09999\.png: broken symbolic link"):
        build_dataset("ilidsvid", root, strict=False)

"""MEVID: the released annotation files at the README's counts, query / gallery, frame order,
the STMN-derived files, partial and refused trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stgcn_reid.data.datasets import DatasetError, build_dataset

from .trees import make_mevid_tree, mevid_tracks

TRAIN = mevid_tracks(104, 6338)
TEST = mevid_tracks(54, 1754, first_pid=200)
QUERY_ROWS = list(range(0, 1754, 5))  # 351 queries, every test identity among them


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mevid")
    return make_mevid_tree(root, TRAIN, TEST, QUERY_ROWS, frames=True)


def cameras(tracks) -> int:
    return len({camera for _, _, camera, _ in tracks})


def test_the_release_counts(release: Path) -> None:
    dataset = build_dataset("mevid", release)
    query = [TEST[i] for i in QUERY_ROWS]
    gallery = [t for i, t in enumerate(TEST) if i % 5]
    assert dataset.statistics() == [
        ("train", 104, 6338, cameras(TRAIN), 6338),
        ("query", 54, len(QUERY_ROWS), cameras(query), len(QUERY_ROWS)),
        ("gallery", 54, 1754 - len(QUERY_ROWS), cameras(gallery), 1754 - len(QUERY_ROWS)),
    ]
    assert set(dataset.query).isdisjoint(dataset.gallery)
    # Identities as in the names; cameras are the MEVA camera numbers.
    first = dataset.query[1]
    assert (first.pid, first.camid) == (TEST[5][0], TEST[5][2])
    assert all(
        Path(f).is_file() for t in dataset.train[:20] + dataset.gallery[:20] for f in t.frames
    )
    assert dataset.gallery[0].frames[0].startswith(f"{release}/bbox_test/0201/0201O")


def test_frames_are_in_frame_number_order(tmp_path: Path) -> None:
    train = [(7, 0, 424, [192, 5, 40, 0]), (7, 1, 330, [3, 1, 2]), (9, 2, 424, [10, 4])]
    test = [(11, 0, 424, [8, 2]), (11, 0, 330, [1, 6])]
    root = make_mevid_tree(tmp_path, train, test, [0], shuffle_names=True)
    dataset = build_dataset("mevid", root, strict=False)
    numbers = [[int(f[-9:-4]) for f in t.frames] for t in dataset.train + dataset.gallery]
    assert numbers == [[0, 5, 40, 192], [1, 2, 3], [4, 10], [1, 6]]
    assert dataset.train[1].frames[0].endswith("bbox_train/0007/0007O001C330T001F00001.jpg")


def test_the_stmn_database_files_are_read_when_the_release_files_are_absent(
    tmp_path: Path,
) -> None:
    train = [(7, 0, 424, [1, 2]), (7, 1, 330, [1]), (9, 2, 424, [3])]
    test = [(11, 0, 424, [1, 2]), (11, 0, 330, [1]), (12, 1, 424, [1])]
    root = make_mevid_tree(tmp_path, train, test, [0, 2])
    expected = build_dataset("mevid", root, strict=False)
    for split in ("train", "test"):
        names = (root / f"{split}_name.txt").read_text().split()
        paths = [f"/elsewhere/mevid/bbox_{split}/{n[:4]}/{n}" for n in names]
        (root / f"{split}_path.txt").write_text("\n".join(paths) + "\n")
        (root / f"{split}_name.txt").unlink()
        info = np.loadtxt(root / f"track_{split}_info.txt").astype(int)
        np.save(root / f"{split}_info.npy", info)
        (root / f"track_{split}_info.txt").unlink()
    np.save(root / "query_IDX.npy", np.loadtxt(root / "query_IDX.txt").astype(int))
    (root / "query_IDX.txt").unlink()
    dataset = build_dataset("mevid", root, strict=False)
    for split in ("train", "query", "gallery"):
        assert getattr(dataset, split) == getattr(expected, split)


def test_a_partial_tree_loads_with_strict_false(tmp_path: Path) -> None:
    root = make_mevid_tree(tmp_path, mevid_tracks(3, 7), mevid_tracks(2, 4, first_pid=50), [0, 1])
    with pytest.raises(DatasetError) as refused:
        build_dataset("mevid", root)
    message = str(refused.value)
    assert "train 3 ids / 7 tracklets, test 2 ids / 4 tracklets" in message
    assert "the release has train 104 ids / 6338 tracklets, test 54 ids / 1754" in message
    assert "dataset.strict=false" in message
    dataset = build_dataset("mevid", root, strict=False)
    assert [row[:3] for row in dataset.statistics()] == [
        ("train", 3, 7),
        ("query", 2, 2),
        ("gallery", 2, 2),
    ]


def test_files_that_do_not_match_are_refused(tmp_path: Path) -> None:
    root = make_mevid_tree(tmp_path, mevid_tracks(2, 4), mevid_tracks(2, 4, first_pid=50), [0])
    info = root / "track_train_info.txt"
    rows = np.loadtxt(info)
    wrong = rows.copy()
    wrong[2, 2] = 5  # pid 5, but the names are of pid 1
    np.savetxt(info, wrong)
    with pytest.raises(DatasetError, match=r"row 2 \(pid 5\) spans '0001O002C301T001F00000.jpg'"):
        build_dataset("mevid", root, strict=False)
    wrong = rows.copy()
    wrong[3, 1] = 40
    np.savetxt(info, wrong)
    with pytest.raises(DatasetError, match=r"0 <= start <= end < 4 \(the frame names listed\)"):
        build_dataset("mevid", root, strict=False)
    np.savetxt(info, rows[:, :4])
    with pytest.raises(
        DatasetError, match=r"rows \(start, end, pid, outfit, camera\), got \(4, 4\)"
    ):
        build_dataset("mevid", root, strict=False)
    np.savetxt(info, rows)
    np.savetxt(root / "query_IDX.txt", np.array([1.0, 1.0]))
    with pytest.raises(DatasetError, match="expected distinct 0-based rows of the 4 test"):
        build_dataset("mevid", root, strict=False)
    (root / "query_IDX.txt").unlink()
    with pytest.raises(DatasetError, match=r"missing .*query_IDX\.txt \(or .*query_IDX\.npy\)"):
        build_dataset("mevid", root, strict=False)


def test_registry_aliases(tmp_path: Path) -> None:
    root = make_mevid_tree(tmp_path, mevid_tracks(2, 4), mevid_tracks(2, 4, first_pid=50), [0])
    by_alias = build_dataset("MEVID", root, strict=False)
    assert by_alias.name == "mevid"
    assert by_alias.statistics() == build_dataset("mevid", root, strict=False).statistics()

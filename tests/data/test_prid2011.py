"""PRID-2011: the release layout at its official counts (385 / 749 persons, 200 shared, 178 with
21+ frames), the seeded ten-trial split file, frame order, partial and refused trees."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stgcn_reid.data.datasets import DatasetError, build_dataset
from stgcn_reid.data.datasets import prid2011 as prid

from .trees import PRID_SHORT, make_prid2011_tree, prid_frames

KEPT = {p for p in range(1, 201) if p not in PRID_SHORT}


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_prid2011_tree(tmp_path_factory.mktemp("prid"))
    build_dataset("prid2011", root)  # writes the split file once for the module
    return root


@pytest.fixture
def split_file(release: Path) -> Iterator[Path]:
    """The release's split file, put back as it was after the test."""
    path = release / "splits_prid2011.json"
    saved = path.read_text()
    yield path
    path.write_text(saved)


@contextmanager
def replaced(folder: Path, frames: int | None) -> Iterator[None]:
    """``folder`` moved aside for the block, with ``frames`` frames in its place (or none)."""
    aside = folder.parent.parent / f"aside-{folder.parent.name}-{folder.name}"
    folder.rename(aside)
    try:
        if frames is not None:
            folder.mkdir()
            for n in range(1, frames + 1):
                (folder / f"{n:04d}.png").write_bytes(b"")
        yield
    finally:
        if folder.exists():
            shutil.rmtree(folder)
        aside.rename(folder)


def test_the_tree_has_the_official_counts(release: Path) -> None:
    assert len(KEPT) == 178
    for split_id in range(10):
        dataset = build_dataset("prid2011", release, split_id=split_id)
        train = {int(Path(t.frames[0]).parent.name[-4:]) for t in dataset.train}
        test = {t.pid for t in dataset.query}
        assert train.isdisjoint(test) and train | test == KEPT
        train_frames = sum(prid_frames(c, p) for p in train for c in ("cam_a", "cam_b"))
        assert dataset.statistics() == [
            ("train", 89, 178, 2, train_frames),
            ("query", 89, 89, 1, sum(prid_frames("cam_a", p) for p in test)),
            ("gallery", 89, 89, 1, sum(prid_frames("cam_b", p) for p in test)),
        ]
        assert {t.camid for t in dataset.query} == {0} and {t.camid for t in dataset.gallery} == {1}
        assert all("/cam_a/" in t.frames[0] for t in dataset.query)
        assert all(len(t.frames) >= 21 for t in dataset.train + dataset.query + dataset.gallery)


def test_the_trials_are_seeded_and_written_once(release: Path, split_file: Path) -> None:
    content = json.loads(split_file.read_text())
    assert (content["seed"], content["min_frames"], len(content["trials"])) == (0, 21, 10)
    assert len({tuple(t["test"]) for t in content["trials"]}) == 10
    split_file.unlink()
    build_dataset("prid2011", release)  # drawn again from the same seed
    assert json.loads(split_file.read_text()) == content

    # The file, not the code, decides: a trial edited by hand is followed.
    first = content["trials"][0]
    first["train"], first["test"] = first["test"], first["train"]
    split_file.write_text(json.dumps(content))
    dataset = build_dataset("prid2011", release, split_id=0)
    assert {f"person_{t.pid:04d}" for t in dataset.query} == set(first["test"])


def test_a_torchreid_split_file_is_read(release: Path, split_file: Path) -> None:
    trials = json.loads(split_file.read_text())["trials"]
    split_file.write_text(json.dumps(trials))  # torchreid's bare list
    dataset = build_dataset("prid2011", release, split_id=5)
    assert {f"person_{t.pid:04d}" for t in dataset.query} == set(trials[5]["test"])


def test_frames_are_in_frame_number_order(release: Path) -> None:
    """write_frames created the files in a shuffled order."""
    dataset = build_dataset("prid2011", release, split_id=2)
    for tracklet in dataset.train + dataset.query + dataset.gallery:
        numbers = [int(Path(f).stem) for f in tracklet.frames]
        assert numbers == list(range(1, len(numbers) + 1))


def test_a_partial_tree_loads_with_strict_false(tmp_path: Path) -> None:
    root = make_prid2011_tree(tmp_path, persons=(12, 15), frames=lambda c, p: 20 + p % 3)
    with pytest.raises(DatasetError, match=r"385 person folders .* found 12 and 15; missing in"):
        build_dataset("prid2011", root)
    dataset = build_dataset("prid2011", root, strict=False, split_id=9)
    kept = [p for p in range(1, 13) if 20 + p % 3 >= 21]  # 8 persons
    assert [row[:3] for row in dataset.statistics()] == [
        ("train", 4, 8),
        ("query", 4, 4),
        ("gallery", 4, 4),
    ]
    train = {int(Path(t.frames[0]).parent.name[-4:]) for t in dataset.train}
    assert train.isdisjoint(t.pid for t in dataset.query)
    assert train | {t.pid for t in dataset.query} == set(kept)


def test_wrong_trees_are_refused_with_what_differs(release: Path, split_file: Path) -> None:
    cameras = release / "prid_2011" / "multi_shot"
    with (
        replaced(cameras / "cam_b" / "person_0010", frames=None),
        pytest.raises(DatasetError, match=r"found 385 and 748; missing in cam_b: person_0010"),
    ):
        build_dataset("prid2011", release)
    with replaced(cameras / "cam_a" / "person_0001", frames=3):  # person 1 is no longer kept
        with pytest.raises(DatasetError, match=r"177 of the 200 persons .* release has 178"):
            build_dataset("prid2011", release)
        # Without strict the split file's trials lose person 1 (with a warning).
        with pytest.warns(UserWarning, match="not kept in this tree"):
            dataset = build_dataset("prid2011", release, strict=False)
        assert 1 not in {t.pid for t in dataset.query + dataset.gallery}
        assert "person_0001" not in {Path(t.frames[0]).parent.name for t in dataset.train}
    with pytest.raises(ValueError, match=r"dataset.split_id=-1: expected a trial in 0..9"):
        build_dataset("prid2011", release, split_id=-1)


def test_wrong_split_files_are_refused(release: Path, split_file: Path) -> None:
    original = split_file.read_text()
    content = json.loads(original)
    trial = content["trials"][3]
    trial["train"].append(trial["test"].pop())
    split_file.write_text(json.dumps(content))
    with pytest.raises(DatasetError, match=r"trial 3 splits 90 / 88 persons, not the 89 / 89"):
        build_dataset("prid2011", release)
    trial["test"].append(trial["train"][0])
    split_file.write_text(json.dumps(content))
    with pytest.raises(DatasetError, match="trial 3 has persons in both train and test"):
        build_dataset("prid2011", release)
    split_file.write_text(json.dumps({"trials": json.loads(original)["trials"][:9]}))
    with pytest.raises(DatasetError, match="9 trials, expected 10"):
        build_dataset("prid2011", release)
    split_file.write_text("{not json")
    with pytest.raises(DatasetError, match="not a readable JSON split file"):
        build_dataset("prid2011", release)


def test_an_unwritable_root_draws_the_trials_in_memory(
    release: Path, split_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = build_dataset("prid2011", release, split_id=1).statistics()
    split_file.unlink()

    def refuse(path: Path, data: object) -> Path:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(prid, "write_json", refuse)
    with pytest.warns(UserWarning, match="could not write .*splits_prid2011.json"):
        dataset = build_dataset("prid2011", release, split_id=1)
    assert not split_file.exists()
    assert dataset.statistics() == expected


def test_registry_aliases(release: Path) -> None:
    by_alias = build_dataset("PRID-2011", release, split_id=6)
    assert by_alias.name == "prid2011"
    assert by_alias.statistics() == build_dataset("prid2011", release, split_id=6).statistics()

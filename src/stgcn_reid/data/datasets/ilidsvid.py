"""iLIDS-VID (Wang et al., ECCV 2014) in its official layout, with its ten official trials.

::

    root/i-LIDS-VID/sequences/cam1/person001/cam1_person001_00317.png ...
    root/i-LIDS-VID/sequences/cam2/person001/cam2_person001_00317.png ...
    root/train-test people splits/train_test_splits_ilidsvid.mat

``root`` is the folder that the official ``iLIDS-VID.tar`` unpacks into. A frame name holds the
camera, the person and the frame number in the original video (``00317``); the frames of a
sequence are ordered by that number, not by the order in which the file system lists them.

Statistics of the release: 300 identities, each seen once by each of the 2 cameras, so 600
sequences. The person folders are numbered ``person001`` .. ``person319`` with gaps.

Protocol (Wang et al., as in torchreid): ``ls_set`` in the ``.mat`` file is a ``10 x 300``
array; row ``k`` is a permutation of the 1-based indices of the 300 person folders in name
order. Its first 150 entries are the test identities of trial ``k``, the other 150 train. The
training split has both sequences of its identities; the query holds the camera-1 sequence and
the gallery the camera-2 sequence of every test identity (as papers report iLIDS-VID).
``split_id`` picks the trial; ``hparams_search=trials`` runs all ten and reports mean ± std.

``strict`` (the default) refuses a tree that differs from the release (300 person folders in
each camera, the same names in both, ``ls_set`` of ``10 x 300`` permutations). With
``strict=False`` a tree that is partial on purpose loads: the persons are those seen by both
cameras, and the indices of ``ls_set`` must refer to them (the first half of each row tests).
Only names are listed; no frame is opened.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from stgcn_reid.data.datasets.base import Tracklet, VideoReIDDataset, require_paths
from stgcn_reid.data.datasets.images import is_frame, not_a_frame
from stgcn_reid.errors import DatasetError

NUM_PERSONS = 300
NUM_TRIALS = 10
CAMERAS = ("cam1", "cam2")
PERSON_DIR = re.compile(r"^person(\d+)$")
FRAME_NAME = re.compile(r"^cam([12])_person(\d+)_(\d+)\.png$", re.IGNORECASE)
SPLIT_FILE = Path("train-test people splits") / "train_test_splits_ilidsvid.mat"


def load_ilidsvid(root: str | Path, split_id: int = 0, strict: bool = True) -> VideoReIDDataset:
    """Index iLIDS-VID under ``root`` for trial ``split_id`` (0..9).

    Args:
        root: the folder holding ``i-LIDS-VID/`` and ``train-test people splits/``.
        split_id: the row of ``ls_set`` that splits train and test identities.
        strict: refuse a tree whose counts differ from the official release.
    """
    root = Path(root)
    require_paths([root], "iLIDS-VID root")
    cameras = [root / "i-LIDS-VID" / "sequences" / cam for cam in CAMERAS]
    require_paths([*cameras, root / SPLIT_FILE], f"iLIDS-VID at {root}")
    persons = shared_persons(cameras, strict)
    ls_set = read_ls_set(root / SPLIT_FILE, len(persons), strict)
    test = {persons[i] for i in trial_test_indices(ls_set, split_id)}
    train_names = [p for p in persons if p not in test]
    test_names = [p for p in persons if p in test]
    train = [tracklet(cam, name, i) for name in train_names for i, cam in enumerate(cameras)]
    query = [tracklet(cameras[0], name, 0) for name in test_names]
    gallery = [tracklet(cameras[1], name, 1) for name in test_names]
    return VideoReIDDataset("ilidsvid", train, query, gallery)


def shared_persons(cameras: list[Path], strict: bool) -> list[str]:
    """Person folder names seen by both cameras, in name order (the order ``ls_set`` indexes)."""
    found = [person_folders(cam) for cam in cameras]
    shared = sorted(set(found[0]) & set(found[1]))
    only = {
        cam: sorted(set(names).difference(shared))
        for cam, names in zip(cameras, found, strict=True)
    }
    counts = [len(names) for names in found]
    if strict and (counts != [NUM_PERSONS, NUM_PERSONS] or len(shared) != NUM_PERSONS):
        raise DatasetError(
            f"iLIDS-VID: the official release has {NUM_PERSONS} person folders in each camera, "
            f"the same in both; found {counts[0]} in {cameras[0]} and {counts[1]} in "
            f"{cameras[1]}, {len(shared)} in both{_only_text(only)}. Pass dataset.strict=false "
            "to load a tree that is partial on purpose"
        )
    for cam, names in only.items():
        if names:
            warnings.warn(f"ignoring {len(names)} persons seen by {cam} only", stacklevel=3)
    if not shared:
        raise DatasetError(f"iLIDS-VID: no person folder is in both {cameras[0]} and {cameras[1]}")
    return shared


def _only_text(only: dict[Path, list[str]]) -> str:
    parts = [f"{len(n)} only in {cam.name} ({', '.join(n[:5])})" for cam, n in only.items() if n]
    return "; " + "; ".join(parts) if parts else ""


def person_folders(camera: Path) -> list[str]:
    """Names of the ``personNNN`` folders of one camera; stray files are skipped with a warning."""
    names = []
    with os.scandir(camera) as entries:
        for entry in entries:
            if not entry.is_dir():
                warnings.warn(f"ignoring {entry.path}: not a folder", stacklevel=3)
            elif PERSON_DIR.match(entry.name) is None:
                raise DatasetError(f"{entry.path}: expected a person folder named personNNN")
            else:
                names.append(entry.name)
    return names


def read_ls_set(path: Path, num_persons: int, strict: bool) -> np.ndarray:
    """``ls_set`` as 0-based person indices, ``[trials, persons]``, checked against the tree."""
    try:
        content = scipy.io.loadmat(path)
    except (MatReadError, ValueError, OSError) as err:
        raise DatasetError(f"{path}: not a readable MATLAB .mat file ({err})") from err
    if "ls_set" not in content:
        raise DatasetError(f"{path}: no variable 'ls_set' (found {sorted(content)})")
    ls_set = np.asarray(content["ls_set"])
    expected = (NUM_TRIALS, NUM_PERSONS) if strict else (ls_set.shape[0], num_persons)
    if ls_set.ndim != 2 or ls_set.shape != expected or ls_set.shape[0] == 0:
        raise DatasetError(
            f"{path}: 'ls_set' has shape {ls_set.shape}; expected {expected} (one row per "
            f"trial, one column per person of the tree, {num_persons} persons found)"
        )
    indices = ls_set.astype(np.int64) - 1
    for row, values in enumerate(indices):
        if sorted(values.tolist()) != list(range(num_persons)):
            raise DatasetError(
                f"{path}: row {row} of 'ls_set' is not a permutation of 1..{num_persons}"
            )
    return indices


def trial_test_indices(ls_set: np.ndarray, split_id: int) -> list[int]:
    """0-based person indices tested in trial ``split_id``: the first half of its row."""
    if not 0 <= split_id < ls_set.shape[0]:
        raise ValueError(
            f"dataset.split_id={split_id}: expected a trial in 0..{ls_set.shape[0] - 1}"
        )
    return ls_set[split_id, : ls_set.shape[1] // 2].tolist()


def tracklet(camera: Path, name: str, camid: int) -> Tracklet:
    """The sequence of person folder ``name`` in ``camera``."""
    folder = camera / name
    expected = (str(camid + 1), str(int(PERSON_DIR.match(name)[1])))  # type: ignore[index]
    frames = ordered_frames(folder, FRAME_NAME, expected, "cam<c>_person<NNN>_<frame>.png")
    return Tracklet(frames, int(expected[1]), camid)


def ordered_frames(
    folder: Path, pattern: re.Pattern[str], expected: tuple[str, ...], form: str
) -> tuple[str, ...]:
    """The image frames of one sequence folder, in frame-number order.

    ``pattern``'s last group is the frame number; its other groups, as integers, must equal
    ``expected`` (the camera and person the folder stands for). Files that are not images
    (:mod:`stgcn_reid.data.datasets.images`) are skipped with a warning; an image named
    otherwise, a repeated frame number or an empty folder is an error naming the path.
    """
    frames: dict[int, str] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_frame(entry):
                warnings.warn(not_a_frame(entry.path), stacklevel=3)
                continue
            match = pattern.match(entry.name)
            if match is None or tuple(str(int(g)) for g in match.groups()[:-1]) != expected:
                raise DatasetError(f"{entry.path}: frame name does not match {form} of its folder")
            number = int(match.groups()[-1])
            if number in frames:
                raise DatasetError(f"{entry.path}: frame number {number} appears twice")
            frames[number] = entry.path
    if not frames:
        raise DatasetError(f"{folder}: empty sequence folder (no image frames)")
    return tuple(frames[number] for number in sorted(frames))

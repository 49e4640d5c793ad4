"""PRID-2011 (Hirzer et al., SCIA 2011), multi-shot sequences, with the ten-trial protocol.

::

    root/prid_2011/multi_shot/cam_a/person_0001/0001.png ...   (385 persons)
    root/prid_2011/multi_shot/cam_b/person_0001/0001.png ...   (749 persons)
    root/splits_prid2011.json                                  (written on first use)

Frame names are the frame number within the sequence; frames are ordered by that number.
Camera A shows 385 persons and camera B 749 (the dataset's page): persons ``0001`` .. ``0200``
are the same people in both cameras, the others appear in one camera only.

Protocol (Wang et al., ECCV 2014, followed by the video re-id literature): the 200 persons seen
by both cameras whose sequences have at least 21 frames in both cameras are used, 178 of them;
the persons of one camera only are left out. Each of ten trials splits them at random into 89
training and 89 test identities; the query holds the camera-A sequence and the gallery the
camera-B sequence of every test identity (as papers report PRID-2011). ``split_id`` picks the
trial; ``hparams_search=trials`` runs all ten and reports mean ± std.

There is no official split file, so the trials are drawn once with ``numpy.random.
default_rng(0)`` (trial ``k`` tests the first half of the ``k``-th permutation of the kept
person folders in name order) and written to ``root/splits_prid2011.json``; later runs read
that file, so the trials never change with the code. The file is ``{"seed", "min_frames",
"trials": [{"train": [folder names], "test": [folder names]}, ...]}``; a torchreid
``splits_prid2011.json`` (a bare list of such trials) is read as well. If ``root`` is not
writable the trials are drawn in memory, with a warning.

``strict`` (the default) refuses a tree that differs from the release (385 / 749 person
folders, the first 200 in both cameras, 178 kept) or a split file that does not split those
178 persons 89 / 89 ten times. ``strict=False`` loads a tree that is partial on purpose and
drops split-file persons missing from it. Only names are listed; no frame is opened.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from stgcn_reid.data.datasets.base import Tracklet, VideoReIDDataset, require_paths
from stgcn_reid.data.datasets.ilidsvid import ordered_frames
from stgcn_reid.errors import DatasetError
from stgcn_reid.utils.io import write_json

CAMERAS = ("cam_a", "cam_b")
PERSONS_PER_CAMERA = (385, 749)
NUM_SHARED = 200
MIN_FRAMES = 21
NUM_KEPT = 178
NUM_TRIALS = 10
SPLIT_SEED = 0
SPLIT_FILE = "splits_prid2011.json"
PERSON_DIR = re.compile(r"^person_(\d+)$")
FRAME_NAME = re.compile(r"^(\d+)\.png$", re.IGNORECASE)

Trial = tuple[list[str], list[str]]  # (train, test) person folder names


def load_prid2011(root: str | Path, split_id: int = 0, strict: bool = True) -> VideoReIDDataset:
    """Index PRID-2011 under ``root`` for trial ``split_id`` (0..9).

    Args:
        root: the folder holding ``prid_2011/``; the split file is written there.
        split_id: the trial (a seeded half / half split of the 178 kept persons).
        strict: refuse a tree or a split file that differs from the official counts.
    """
    root = Path(root)
    require_paths([root], "PRID-2011 root")
    cameras = [root / "prid_2011" / "multi_shot" / cam for cam in CAMERAS]
    require_paths(cameras, f"PRID-2011 at {root}")
    shared = shared_persons(cameras, strict)
    sequences = {name: [sequence(cam, name, i) for i, cam in enumerate(cameras)] for name in shared}
    kept = [name for name in shared if all(len(t.frames) >= MIN_FRAMES for t in sequences[name])]
    if strict and len(kept) != NUM_KEPT:
        raise DatasetError(
            f"PRID-2011 at {root}: {len(kept)} of the {len(shared)} persons in both cameras have "
            f"at least {MIN_FRAMES} frames in each; the official release has {NUM_KEPT}. Pass "
            "dataset.strict=false to load a tree that is partial on purpose"
        )
    if not kept:
        raise DatasetError(f"PRID-2011 at {root}: no person has {MIN_FRAMES}+ frames in both")
    trials = load_trials(root / SPLIT_FILE, kept, strict)
    if not 0 <= split_id < len(trials):
        raise ValueError(f"dataset.split_id={split_id}: expected a trial in 0..{len(trials) - 1}")
    train_names, test_names = trials[split_id]
    train = [t for name in train_names for t in sequences[name]]
    query = [sequences[name][0] for name in test_names]
    gallery = [sequences[name][1] for name in test_names]
    return VideoReIDDataset("prid2011", train, query, gallery)


def shared_persons(cameras: list[Path], strict: bool) -> list[str]:
    """Folder names of the persons ``0001`` .. ``0200`` present in both cameras, in name order."""
    found = [person_folders(cam) for cam in cameras]
    counts = tuple(len(names) for names in found)
    wanted = {f"person_{n:04d}" for n in range(1, NUM_SHARED + 1)}
    missing = [sorted(wanted - set(names)) for names in found]
    if strict and (counts != PERSONS_PER_CAMERA or any(missing)):
        lost = "; ".join(
            f"missing in {cam.name}: {', '.join(m[:5])}"
            for cam, m in zip(cameras, missing, strict=True)
            if m
        )
        raise DatasetError(
            f"PRID-2011: the official release has {PERSONS_PER_CAMERA[0]} person folders in "
            f"{cameras[0]} and {PERSONS_PER_CAMERA[1]} in {cameras[1]}, persons 0001..0200 in "
            f"both; found {counts[0]} and {counts[1]}{'; ' + lost if lost else ''}. Pass "
            "dataset.strict=false to load a tree that is partial on purpose"
        )
    return sorted(wanted & set(found[0]) & set(found[1]))


def person_folders(camera: Path) -> list[str]:
    """Names of the ``person_NNNN`` folders of one camera; stray files are skipped."""
    names = []
    with os.scandir(camera) as entries:
        for entry in entries:
            if not entry.is_dir():
                warnings.warn(f"ignoring {entry.path}: not a folder", stacklevel=3)
            elif PERSON_DIR.match(entry.name) is None:
                raise DatasetError(f"{entry.path}: expected a person folder named person_NNNN")
            else:
                names.append(entry.name)
    return names


def sequence(camera: Path, name: str, camid: int) -> Tracklet:
    """The sequence of person folder ``name`` in ``camera`` (pid = the person number)."""
    frames = ordered_frames(camera / name, FRAME_NAME, (), "<frame>.png")
    return Tracklet(frames, int(PERSON_DIR.match(name)[1]), camid)  # type: ignore[index]


def draw_trials(names: list[str], seed: int = SPLIT_SEED) -> list[Trial]:
    """Ten seeded half / half splits of ``names``: trial ``k`` tests the first ``len // 2`` of
    the ``k``-th permutation; both halves are returned in name order."""
    rng = np.random.default_rng(seed)
    ordered = sorted(names)
    trials = []
    for _ in range(NUM_TRIALS):
        order = rng.permutation(len(ordered))
        test = {ordered[i] for i in order[: len(ordered) // 2]}
        trials.append(([n for n in ordered if n not in test], [n for n in ordered if n in test]))
    return trials


def load_trials(path: Path, kept: list[str], strict: bool) -> list[Trial]:
    """The trials of the split file at ``path``, drawn and written first if it does not exist."""
    if not path.exists():
        trials = draw_trials(kept)
        content = {
            "seed": SPLIT_SEED,
            "min_frames": MIN_FRAMES,
            "trials": [{"train": train, "test": test} for train, test in trials],
        }
        try:
            write_json(path, content)
        except OSError as err:
            warnings.warn(f"could not write {path} ({err}); trials drawn in memory", stacklevel=3)
        return trials
    return check_trials(path, read_trials(path), kept, strict)


def read_trials(path: Path) -> list[Trial]:
    """``(train, test)`` lists of a split file (this module's format or torchreid's list)."""
    try:
        content: Any = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: not a readable JSON split file ({err})") from err
    items = content.get("trials") if isinstance(content, dict) else content
    if not isinstance(items, list) or not all(
        isinstance(t, dict) and {"train", "test"} <= set(t) for t in items
    ):
        raise DatasetError(f"{path}: expected a list of {{'train': [...], 'test': [...]}} trials")
    return [([str(n) for n in t["train"]], [str(n) for n in t["test"]]) for t in items]


def check_trials(path: Path, trials: list[Trial], kept: list[str], strict: bool) -> list[Trial]:
    """Refuse trials whose halves overlap or (``strict``) that do not split ``kept`` 89 / 89
    ten times; without ``strict``, drop the persons that are not in ``kept``."""
    half = len(kept) // 2
    available = set(kept)
    checked = []
    for k, (train, test) in enumerate(trials):
        if set(train) & set(test):
            raise DatasetError(f"{path}: trial {k} has persons in both train and test")
        if strict and (
            set(train) | set(test) != available or (len(train), len(test)) != (half, half)
        ):
            raise DatasetError(
                f"{path}: trial {k} splits {len(train)} / {len(test)} persons, not the {half} / "
                f"{half} of the {len(kept)} kept persons of this tree; delete the file to draw "
                "the trials again, or pass dataset.strict=false"
            )
        unknown = sorted((set(train) | set(test)) - available)
        if unknown:
            warnings.warn(
                f"{path}: trial {k} names {len(unknown)} persons not kept in this tree "
                f"({', '.join(unknown[:3])}); they are left out",
                stacklevel=3,
            )
        checked.append(([n for n in train if n in available], [n for n in test if n in available]))
    if strict and len(checked) != NUM_TRIALS:
        raise DatasetError(f"{path}: {len(checked)} trials, expected {NUM_TRIALS}")
    return checked

"""LS-VID (Li et al., "Global-Local Temporal Representations for Video Person
Re-Identification", ICCV 2019) in its released layout.

::

    root/list_sequence/list_seq_train.txt   list_seq_test.txt   (list_seq_val.txt)
    root/tracklet_train/<pid>/<a>_<b>_<camera>_<frame>.jpg ...
    root/tracklet_test/<pid>/...            (tracklet_val/)
    root/test/data/info_test.mat            (info_val.mat)

Each line of a ``list_seq_*.txt`` file is ``<tracklet> <pid>``, where ``<tracklet>`` is the path
of the tracklet's frames relative to ``root`` without the trailing ``_<frame>.jpg`` (the public
loaders glob ``<tracklet>*``). Frame names have four ``_``-separated fields, the third being
the camera (1..15), and are ordered here by their frame number, not by name: the number's
width is not part of the format. ``info_test.mat`` holds ``query``, the 1-based rows of
``list_seq_test.txt`` that are queries, and ``info_test``, one row per test tracklet whose
third and fourth columns are its identity and camera (what the official MATLAB evaluation
reads). The release stores it in the MATLAB v7.3 (HDF5) format, read with ``h5py``
(``pip install h5py``); older v5 files are read with scipy.

Statistics: 3,772 identities, 14,943 sequences, 15 cameras (3 indoor, 12 outdoor). The split
the loaders use: 2,831 training tracklets; 11,333 test tracklets, of which 3,504 are queries
(7,829 other gallery tracklets); the rest form the validation lists, not read here (the
held-out ``data.val_split`` is used instead, as for every real dataset).

Protocol: with ``official_gallery`` (the default) the gallery is every test tracklet, queries
included, as in the official evaluation, where a query's own tracklet (same identity and
camera) is junk for it; ``official_gallery=False`` removes the queries from the gallery (the
public PyTorch loaders). ``strict`` refuses lists whose tracklet counts differ from the above;
``strict=False`` accepts a tree that is partial on purpose.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from stgcn_reid.data.datasets.base import Tracklet, VideoReIDDataset, require_paths
from stgcn_reid.data.datasets.images import is_frame
from stgcn_reid.errors import DatasetError

NUM_TRAIN = 2831
NUM_TEST = 11333
NUM_QUERY = 3504
NUM_CAMERAS = 15

Entry = tuple[str, int]  # (tracklet path prefix relative to root, pid)


def load_lsvid(
    root: str | Path, strict: bool = True, official_gallery: bool = True
) -> VideoReIDDataset:
    """Index LS-VID under ``root``.

    Args:
        root: the folder holding ``list_sequence/``, ``tracklet_*/`` and ``test/``.
        strict: refuse lists whose tracklet counts differ from the release.
        official_gallery: keep the queries in the gallery (official evaluation) instead of
            removing them.
    """
    root = Path(root)
    require_paths([root], "LS-VID root")
    lists = root / "list_sequence"
    info_path = root / "test" / "data" / "info_test.mat"
    train_list, test_list = lists / "list_seq_train.txt", lists / "list_seq_test.txt"
    require_paths([train_list, test_list, info_path], f"LS-VID at {root}")
    train_entries, test_entries = read_list(train_list), read_list(test_list)
    info, query_rows = read_info(info_path, test_entries)
    if strict:
        check_counts(root, len(train_entries), len(test_entries), len(query_rows))
    train_frames = frames_of(root, train_entries)
    train = [
        Tracklet(frames, pid, camera_of(prefix) - 1)
        for (prefix, pid), frames in zip(train_entries, train_frames, strict=True)
    ]
    test_frames = frames_of(root, test_entries)
    test = [
        Tracklet(frames, pid, int(camera) - 1)
        for (_, pid), frames, camera in zip(test_entries, test_frames, info[:, 3], strict=True)
    ]
    query = [test[i] for i in query_rows]
    queries = set(query_rows)
    gallery = test if official_gallery else [t for i, t in enumerate(test) if i not in queries]
    return VideoReIDDataset("lsvid", train, query, gallery)


def read_list(path: Path) -> list[Entry]:
    """The ``(tracklet, pid)`` lines of a ``list_seq_*.txt`` file."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
            raise DatasetError(f"{path}:{number}: expected '<tracklet path> <pid>', got {line!r}")
        entries.append((fields[0], int(fields[1])))
    if not entries:
        raise DatasetError(f"{path}: no tracklets listed")
    return entries


def check_counts(root: Path, train: int, test: int, query: int) -> None:
    """Refuse a tree whose tracklet counts differ from the release."""
    found, expected = (train, test, query), (NUM_TRAIN, NUM_TEST, NUM_QUERY)
    if found != expected:
        raise DatasetError(
            f"LS-VID at {root}: {train} training / {test} test tracklets / {query} queries; "
            f"the release has {NUM_TRAIN} / {NUM_TEST} / {NUM_QUERY}. Pass dataset.strict=false "
            "to load a tree that is partial on purpose"
        )


def read_info(path: Path, test: list[Entry]) -> tuple[np.ndarray, list[int]]:
    """``info_test`` ``[N, >=4]`` (checked against the test list) and the 0-based query rows."""
    content = load_mat(path)
    for key in ("info_test", "query"):
        if key not in content:
            raise DatasetError(f"{path}: no variable '{key}' (found {sorted(content)})")
    info = np.asarray(content["info_test"]).astype(np.int64)
    if info.ndim != 2 or info.shape[0] != len(test) or info.shape[1] < 4:
        raise DatasetError(
            f"{path}: 'info_test' has shape {info.shape}; expected [{len(test)}, >=4], one row "
            "per line of list_seq_test.txt"
        )
    listed = np.array([pid for _, pid in test])
    if (info[:, 2] != listed).any():
        row = int(np.flatnonzero(info[:, 2] != listed)[0])
        raise DatasetError(
            f"{path}: row {row + 1} of 'info_test' has identity {info[row, 2]}, but line "
            f"{row + 1} of list_seq_test.txt lists {listed[row]}; the files do not match"
        )
    if info[:, 3].min() < 1 or info[:, 3].max() > NUM_CAMERAS:
        raise DatasetError(f"{path}: cameras of 'info_test' must be 1..{NUM_CAMERAS}")
    rows = np.asarray(content["query"]).astype(np.int64).ravel() - 1
    if rows.size == 0 or rows.min() < 0 or rows.max() >= len(test):
        raise DatasetError(f"{path}: 'query' must hold 1-based rows of 1..{len(test)}")
    return info, rows.tolist()


def load_mat(path: Path) -> dict[str, np.ndarray]:
    """The variables of a MATLAB file: v5 through scipy, v7.3 (HDF5) through h5py."""
    try:
        return scipy.io.loadmat(path)
    except NotImplementedError:  # scipy's answer to a v7.3 file
        return _load_mat_v73(path)
    except (MatReadError, ValueError, OSError) as err:
        raise DatasetError(f"{path}: not a readable MATLAB .mat file ({err})") from err


def _load_mat_v73(path: Path) -> dict[str, np.ndarray]:
    try:
        import h5py
    except ImportError as err:
        raise DatasetError(
            f"{path} is a MATLAB v7.3 (HDF5) file: install h5py to read it (pip install h5py), "
            "or save it again in MATLAB with save(..., '-v7')"
        ) from err
    with h5py.File(path, "r") as handle:
        # MATLAB writes column-major arrays: h5py sees them transposed.
        return {key: np.asarray(handle[key]).T for key in handle if key in ("info_test", "query")}


def camera_of(prefix: str) -> int:
    """The camera (1..15): the third ``_``-separated field of a tracklet's frame names."""
    fields = Path(prefix).name.split("_")
    if len(fields) < 3 or not fields[2].isdigit() or not 1 <= int(fields[2]) <= NUM_CAMERAS:
        raise DatasetError(
            f"{prefix}: expected frame names <a>_<b>_<camera 1..{NUM_CAMERAS}>_<frame>.jpg"
        )
    return int(fields[2])


def frames_of(root: Path, entries: list[Entry]) -> list[tuple[str, ...]]:
    """Each entry's frames in frame-number order; every identity folder is listed once."""
    base = f"{root}/"
    by_folder: dict[str, set[str]] = defaultdict(set)
    for prefix, _ in entries:
        folder, _sep, name = f"{base}{prefix}".rpartition("/")
        by_folder[folder].add(name)
    found = {folder: _folder_frames(folder, names) for folder, names in by_folder.items()}
    result, empty = [], []
    for prefix, _ in entries:
        folder, _sep, name = f"{base}{prefix}".rpartition("/")
        frames = sorted(found[folder].get(name, []))
        if not frames:
            empty.append(f"{base}{prefix}")
        result.append(tuple(path for _, path in frames))
    if empty:
        raise DatasetError(
            f"LS-VID: no frames <tracklet>_<frame>.jpg for {len(empty)} listed tracklets, e.g. "
            f"{', '.join(empty[:3])}"
        )
    return result


def _folder_frames(folder: str, prefixes: set[str]) -> dict[str, list[tuple[int, str]]]:
    """``prefix -> [(frame number, path)]`` for the listed prefixes of one identity folder."""
    frames: dict[str, list[tuple[int, str]]] = defaultdict(list)
    if not os.path.isdir(folder):
        return frames
    with os.scandir(folder) as entries:
        for entry in entries:
            prefix, _sep, number = entry.name.rpartition(".")[0].rpartition("_")
            if prefix in prefixes and number.isdigit() and is_frame(entry):
                frames[prefix].append((int(number), entry.path))
    return frames

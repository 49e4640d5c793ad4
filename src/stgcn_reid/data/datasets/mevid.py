"""MEVID (Davila et al., "MEVID: Multi-view Extended Videos with Identities for Video Person
Re-Identification", WACV 2023) in its released layout (github.com/Kitware/MEVID, README).

::

    root/bbox_train/<pid4>/0201O003C330T004F00192.jpg ...
    root/bbox_test/<pid4>/...
    root/train_name.txt  test_name.txt  track_train_info.txt  track_test_info.txt  query_IDX.txt

A frame name holds the identity (``0201``), the outfit (``O003``), the camera (``C330``), the
tracklet (``T004``) and the frame within the tracklet (``F00192``). ``*_name.txt`` lists the
frame names; each row of ``track_*_info.txt`` is one tracklet ``(start, end, pid, outfit,
camera)`` where ``start..end`` are inclusive 0-based rows of the name list and the camera is
the MEVA camera number (``424`` for G424), kept as the camera id. ``query_IDX.txt`` holds
0-based rows of ``track_test_info.txt``; the other test tracklets are the gallery (the README's
protocol). The numbers may be written as floats (``1.0e+00``). The ``*_path.txt``,
``*_info.npy`` and ``query_IDX.npy`` files that the STMN baseline's ``create_mevid.py`` derives
from these are read as well when the release's own files are absent (``*_path.txt`` lines are
absolute frame paths of the machine that made them; only their file names are used).

Statistics (README): 158 identities, 598 outfits, 8,092 tracklets, 33 cameras; train 104
identities / 6,338 tracklets; test 54 identities / 1,754 tracklets (query and gallery). Outfits
are not used: a changed outfit is still the same identity, as in the overall protocol.

The frames of a tracklet are ordered by their frame number; only the first and last names of
each tracklet are checked against its row (identity, same camera and tracklet), so indexing
millions of names takes seconds. ``strict`` refuses a tree whose identity or tracklet counts
differ from the release; ``strict=False`` accepts a tree that is partial on purpose.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from stgcn_reid.data.datasets.base import Tracklet, VideoReIDDataset, require_paths
from stgcn_reid.errors import DatasetError

#: (identities, tracklets) of each split of the release.
OFFICIAL = {"train": (104, 6338), "test": (54, 1754)}
FRAME_NAME = re.compile(r"^(\d+)O(\d+)C(\d+)T(\d+)F(\d+)\.\w+$")


def load_mevid(root: str | Path, strict: bool = True) -> VideoReIDDataset:
    """Index MEVID under ``root``.

    Args:
        root: the folder holding ``bbox_train/``, ``bbox_test/`` and the annotation files.
        strict: refuse a tree whose counts differ from the release.
    """
    root = Path(root)
    require_paths([root], "MEVID root")
    require_paths([root / "bbox_train", root / "bbox_test"], f"MEVID at {root}")
    train = tracklets(root, "train")
    test = tracklets(root, "test")
    if strict:
        check_counts(root, {"train": train, "test": test})
    rows = query_rows(root, len(test))
    queries = set(rows)
    query = [test[i] for i in rows]
    gallery = [t for i, t in enumerate(test) if i not in queries]
    return VideoReIDDataset("mevid", train, query, gallery)


def annotation(root: Path, names: tuple[str, str]) -> Path:
    """The release's file ``names[0]``, else the STMN-derived ``names[1]``."""
    for name in names:
        if (root / name).is_file():
            return root / name
    raise DatasetError(f"MEVID at {root}: missing {root / names[0]} (or {root / names[1]})")


def read_numbers(path: Path) -> np.ndarray:
    """An integer array from a ``.txt`` (possibly float-formatted) or ``.npy`` file."""
    try:
        values = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, ndmin=1)
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: not a readable table of numbers ({err})") from err
    return np.asarray(values).astype(np.int64)


def tracklets(root: Path, split: str) -> list[Tracklet]:
    """One :class:`Tracklet` per row of ``track_<split>_info.txt``."""
    info_path = annotation(root, (f"track_{split}_info.txt", f"{split}_info.npy"))
    table = read_numbers(info_path)
    if table.ndim != 2 or table.shape[1] != 5 or table.shape[0] == 0:
        raise DatasetError(
            f"{info_path}: expected rows (start, end, pid, outfit, camera), got {table.shape}"
        )
    names = frame_names(annotation(root, (f"{split}_name.txt", f"{split}_path.txt")))
    if (
        (table[:, 0] < 0).any()
        or (table[:, 1] < table[:, 0]).any()
        or table[:, 1].max() >= len(names)
    ):
        raise DatasetError(
            f"{info_path}: every row needs 0 <= start <= end < {len(names)} (the frame names "
            "listed); the name list and the tracklet table do not match"
        )
    folder = f"{root / f'bbox_{split}'}/"
    result = []
    for row, (start, end, pid, _outfit, camera) in enumerate(table.tolist()):
        frames = sorted(names[start : end + 1], key=lambda n: (len(n), n))
        check_ends(frames, pid, info_path, row)
        result.append(Tracklet(tuple(f"{folder}{n[:4]}/{n}" for n in frames), pid, camera))
    return result


def frame_names(path: Path) -> list[str]:
    """The frame names of a ``*_name.txt`` list (or the file names of a ``*_path.txt`` list)."""
    names = path.read_text().split()
    if path.name.endswith("_path.txt"):
        names = [n.rsplit("/", 1)[-1] for n in names]
    if not names:
        raise DatasetError(f"{path}: no frame names")
    return names


def check_ends(frames: list[str], pid: int, info_path: Path, row: int) -> None:
    """Fail when the first or last frame of a tracklet is not of its row's identity, or the two
    are of different cameras or tracklets.

    Sorting by (length, name) is frame-number order for names that differ only in their frame
    number, which the shared text before ``F`` confirms.
    """
    ends = [FRAME_NAME.match(frames[0]), FRAME_NAME.match(frames[-1])]
    first, last = ends
    if first is None or last is None:
        bad = frames[0] if first is None else frames[-1]
        raise DatasetError(f"{info_path}: row {row}: frame {bad!r} is not <pid>O<o>C<c>T<t>F<f>")
    same = frames[0].rsplit("F", 1)[0] == frames[-1].rsplit("F", 1)[0]
    if int(first[1]) != pid or int(last[1]) != pid or not same:
        raise DatasetError(
            f"{info_path}: row {row} (pid {pid}) spans {frames[0]!r} .. {frames[-1]!r}, which are "
            "not one tracklet of that identity; the name list and the table do not match"
        )


def query_rows(root: Path, num_test: int) -> list[int]:
    """0-based rows of the test table that are queries."""
    path = annotation(root, ("query_IDX.txt", "query_IDX.npy"))
    rows = read_numbers(path).ravel()
    if rows.size == 0 or rows.min() < 0 or rows.max() >= num_test or len(set(rows)) != rows.size:
        raise DatasetError(
            f"{path}: expected distinct 0-based rows of the {num_test} test tracklets"
        )
    return rows.tolist()


def check_counts(root: Path, splits: dict[str, list[Tracklet]]) -> None:
    """Refuse a tree whose identity or tracklet counts differ from the release."""
    found = {split: (len({t.pid for t in items}), len(items)) for split, items in splits.items()}
    if found != OFFICIAL:
        text = ", ".join(f"{s} {i} ids / {n} tracklets" for s, (i, n) in found.items())
        want = ", ".join(f"{s} {i} ids / {n} tracklets" for s, (i, n) in OFFICIAL.items())
        raise DatasetError(
            f"MEVID at {root}: {text}; the release has {want}. Pass dataset.strict=false to "
            "load a tree that is partial on purpose"
        )

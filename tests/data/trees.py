"""Tiny dataset trees in the official MARS and DukeMTMC-VideoReID layouts, for the tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

# (pid, camera 1-based, number of frames) of one tracklet.
Track = tuple[int, int, int]


def write_frame(path: Path, value: int = 128, size: tuple[int, int] = (8, 16)) -> None:
    """A small image (width, height): left half ``value``, right half its complement.

    The two halves make a horizontal flip visible; the format follows the suffix.
    """
    width, height = size
    pixels = np.full((height, width, 3), value, dtype=np.uint8)
    pixels[:, width // 2 :] = 255 - value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def mars_name(pid: int, camera: int, tracklet: int, frame: int) -> str:
    """A MARS frame name; the junk identity -1 is written ``00-1``."""
    prefix = "00-1" if pid == -1 else f"{pid:04d}"
    return f"{prefix}C{camera}T{tracklet:04d}F{frame:03d}.jpg"


def mars_names(table: np.ndarray) -> list[str]:
    """The ``*_name.txt`` list that a tracks info table ``(start, end, pid, camera)`` refers to."""
    names = [""] * int(table[:, 1].max())
    counter: Counter[tuple[int, int]] = Counter()
    for start, end, pid, camera in table.tolist():
        counter[pid, camera] += 1
        number = counter[pid, camera]
        names[start - 1 : end] = [
            mars_name(pid, camera, number, frame) for frame in range(1, end - start + 2)
        ]
    return names


def tracks_table(tracks: Sequence[Track]) -> np.ndarray:
    """Consecutive rows ``(start, end, pid, camera)`` for ``tracks``."""
    lengths = np.array([n for _, _, n in tracks])
    ends = np.cumsum(lengths)
    return np.stack(
        [ends - lengths + 1, ends, [p for p, _, _ in tracks], [c for _, c, _ in tracks]], axis=1
    ).astype(np.int32)


def write_mars_info(
    root: Path, train: np.ndarray, test: np.ndarray, query_rows: Sequence[int]
) -> None:
    """``root/info`` for the given tables; ``query_rows`` are 0-based rows of ``test``."""
    info = root / "info"
    info.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(info / "tracks_train_info.mat", {"track_train_info": train})
    scipy.io.savemat(info / "tracks_test_info.mat", {"track_test_info": test})
    query = np.asarray(query_rows, dtype=np.uint16)[None] + 1
    scipy.io.savemat(info / "query_IDX.mat", {"query_IDX": query})
    for split, table in (("train", train), ("test", test)):
        (info / f"{split}_name.txt").write_text("\n".join(mars_names(table)) + "\n")
        (root / f"bbox_{split}").mkdir(exist_ok=True)


def make_mars_tree(
    root: Path, train: Sequence[Track], test: Sequence[Track], query_rows: Sequence[int]
) -> Path:
    """A complete MARS tree with one small JPEG per frame (value = frame number * 10)."""
    train_table, test_table = tracks_table(train), tracks_table(test)
    write_mars_info(root, train_table, test_table, query_rows)
    for split, table in (("train", train_table), ("test", test_table)):
        for name in mars_names(table):
            frame = int(name.split("F")[-1][:3])
            write_frame(root / f"bbox_{split}" / name[:4] / name, value=10 * frame)
    return root


def duke_name(pid: int, camera: int, frame: int, counter: int, old: bool = False) -> str:
    """A DukeMTMC-VideoReID frame name, in the current or the old (no underscores) format."""
    if old:
        return f"{pid:04d}C{camera}F{frame:04d}X{counter:05d}.jpg"
    return f"{pid:04d}_C{camera}_F{frame:04d}_X{counter:05d}.jpg"


def make_duke_tree(
    root: Path, splits: dict[str, Sequence[tuple[int, int, str, int]]], old: bool = False
) -> Path:
    """``root/<split>/<pid>/<tracklet>/<frames>.jpg`` for ``(pid, camera, tracklet, frames)``.

    Frame ``k`` of a tracklet gets frame number ``100 * (k + 1)`` and value ``10 * k``.
    """
    for split, tracks in splits.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        for pid, camera, tracklet, n in tracks:
            folder = root / split / f"{pid:04d}" / tracklet
            for k in range(n):
                name = duke_name(pid, camera, 100 * (k + 1), 30000 + n - k, old)
                write_frame(folder / name, value=10 * k)
    return root

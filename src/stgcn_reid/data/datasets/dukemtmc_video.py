"""DukeMTMC-VideoReID (Wu et al., CVPR 2018) in its official layout.

::

    root/{train,query,gallery}/<pid>/<tracklet>/<frame>.jpg

Frame names are ``0001_C6_F0099_X30823.jpg`` (older copies: ``0001C6F0099X30823.jpg``): identity,
camera ``C`` (1..8, stored 0-based), frame number ``F`` (the order of the frames in the tracklet)
and an ``X`` counter. The official download ships every query tracklet in ``gallery/`` as well;
those copies (same pid, camera and tracklet folder name) are removed from the gallery so that a
query never retrieves itself. Published split: 702 train ids / 2,196 tracklets; 702 queries;
2,636 test tracklets in all.

Files that are not images (``.DS_Store``, ``Thumbs.db``, notes) are skipped with a warning
rather than failing, since they are harmless leftovers of copying the data around; an image
whose name does not follow the pattern or names another identity than its folder, an empty
tracklet folder or a tracklet spanning two cameras is an error naming the path. Which files are
frames: :mod:`stgcn_reid.data.datasets.images`. The tree is listed with ``os.scandir`` (no stat
calls).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

from stgcn_reid.data.datasets.base import Tracklet, VideoReIDDataset, require_paths
from stgcn_reid.data.datasets.images import is_frame, not_a_frame
from stgcn_reid.errors import DatasetError

SPLITS = ("train", "query", "gallery")
FRAME_NAME = re.compile(r"^(\d+)_?C(\d+)_?F(\d+)_?X(\d+)\.\w+$", re.IGNORECASE)


def load_dukemtmc_video(root: str | Path) -> VideoReIDDataset:
    """Index DukeMTMC-VideoReID under ``root`` (the folder holding train/, query/, gallery/)."""
    root = Path(root)
    require_paths([root], "DukeMTMC-VideoReID root")
    require_paths([root / split for split in SPLITS], f"DukeMTMC-VideoReID at {root}")
    train = [tracklet for _, tracklet in _split(root / "train")]
    query, gallery = read_query_gallery(root / "query", root / "gallery")
    return VideoReIDDataset("dukemtmc_video", train, query, gallery)


def read_query_gallery(query_dir: Path, gallery_dir: Path) -> tuple[list[Tracklet], list[Tracklet]]:
    """Query and gallery tracklets of two Duke-layout folders, without the gallery's copies of
    the queries (same pid, camera and tracklet folder name)."""
    query = dict(_split(query_dir))
    gallery = [t for key, t in _split(gallery_dir) if key not in query]
    return list(query.values()), gallery


def _split(folder: Path) -> list[tuple[tuple[int, int, str], Tracklet]]:
    """``((pid, camid, tracklet folder name), tracklet)`` for every tracklet under ``folder``."""
    found = []
    for pid_dir in _subdirs(folder):
        if not pid_dir.name.isdigit():
            raise DatasetError(f"{pid_dir}: expected an identity folder named by digits")
        pid = int(pid_dir.name)
        for track_dir in _subdirs(pid_dir):
            tracklet = _tracklet(track_dir, pid)
            found.append(((pid, tracklet.camid, track_dir.name), tracklet))
    if not found:
        raise DatasetError(f"{folder}: no tracklets (expected <pid>/<tracklet>/<frames>)")
    return found


def _subdirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` in name order; anything else is skipped with a warning."""
    with os.scandir(folder) as entries:
        items = sorted(entries, key=lambda e: e.name)
    for entry in items:
        if not entry.is_dir():
            warnings.warn(f"ignoring {entry.path}: not a folder", stacklevel=2)
    return [Path(entry.path) for entry in items if entry.is_dir()]


def _tracklet(folder: Path, pid: int) -> Tracklet:
    """The frames of one tracklet folder in frame-number order, with their camera (every frame
    name must carry the identity ``pid`` of its folder)."""
    frames: list[tuple[int, str]] = []
    cameras: set[int] = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_frame(entry):
                warnings.warn(not_a_frame(entry.path), stacklevel=2)
                continue
            match = FRAME_NAME.match(entry.name)
            if match is None:
                raise DatasetError(
                    f"{entry.path}: frame name does not match <pid>_C<cam>_F<frame>_X<n>.jpg"
                )
            if int(match[1]) != pid:
                raise DatasetError(
                    f"{entry.path}: a frame of identity {int(match[1])} inside the folder of "
                    f"identity {pid} ({folder.parent.name}); move it to its identity's folder"
                )
            cameras.add(int(match[2]))
            frames.append((int(match[3]), entry.path))
    if not frames:
        raise DatasetError(f"{folder}: empty tracklet folder (no image frames)")
    if len(cameras) != 1:
        raise DatasetError(f"{folder}: frames from several cameras {sorted(cameras)}")
    frames.sort()
    return Tracklet(tuple(path for _, path in frames), pid, cameras.pop() - 1)

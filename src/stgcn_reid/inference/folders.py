"""Tracklet folders: a folder of image frames is one tracklet, its frames in natural name order.

The layout read by ``stgcn_reid.embed`` (and by :meth:`~stgcn_reid.inference.feature_file.
FeatureFile.frames` when ``stgcn_reid.search`` draws a tracklet): every folder under an input
folder that directly holds image files (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, ``.webp``,
``.tif``, ``.tiff``) is one tracklet, named by its path relative to the input folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from stgcn_reid.data.datasets.base import DatasetError
from stgcn_reid.data.datasets.images import IMAGE_SUFFIXES, is_frame


def natural_key(name: str) -> tuple[tuple[int | str, ...], str]:
    """Sort key that orders digit runs by value: ``frame9`` < ``frame10`` < ``Frame11``.

    Written out because the standard library has no natural sort and this is the only place
    that needs one. ``re.split`` with a capturing group alternates text (even positions) and
    digit runs (odd positions), so equal positions always compare values of one type. Text
    compares case-insensitively; the name itself breaks ties, so the order never depends on the
    order the file system lists names in.
    """
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), name


def list_frames(folder: str | Path) -> list[Path]:
    """The image files directly inside ``folder``, in natural name order (may be empty).

    A broken link with an image name is an error (:func:`~stgcn_reid.data.datasets.images.
    is_frame`), as in the dataset loaders.
    """
    frames = (p for p in Path(folder).iterdir() if is_frame(p))
    return sorted(frames, key=lambda p: natural_key(p.name))


def find_tracklets(input_dir: str | Path) -> list[tuple[str, list[Path]]]:
    """``(name, frames)`` of every tracklet folder under ``input_dir``, in natural order.

    Raises:
        DatasetError: ``input_dir`` is not a folder or holds no tracklet, or some folder below
            it is empty (neither image files nor sub-folders).
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise DatasetError(f"input_dir={root} is not a folder")
    found: list[tuple[str, list[Path]]] = []
    _collect(root, root, found)
    if not found:
        raise DatasetError(
            f"input_dir={root} holds no tracklet: expected sub-folders of image frames "
            f"({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return found


def _collect(root: Path, folder: Path, found: list[tuple[str, list[Path]]]) -> None:
    """Depth-first walk in natural order; hidden folders (``.name``) are skipped."""
    frames = list_frames(folder)
    children = sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: natural_key(p.name),
    )
    if frames and folder != root:
        found.append((folder.relative_to(root).as_posix(), frames))
    if not frames and not children and folder != root:
        raise DatasetError(
            f"{folder}: empty tracklet folder (no image frames, no sub-folders); remove it or "
            "add its frames"
        )
    for child in children:
        _collect(root, child, found)

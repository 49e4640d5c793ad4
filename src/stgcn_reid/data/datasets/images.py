"""Which files of a tracklet folder are frames: one rule for every loader and for ``embed``.

A file is a frame when its suffix is one of :data:`IMAGE_SUFFIXES` (formats Pillow decodes),
whatever its case. Anything else (``Thumbs.db``, ``.DS_Store``, notes) is not a frame and is
skipped with a warning. A frame name that cannot be read as a file is an error naming the real
cause: a symbolic link whose target is gone, or a folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from stgcn_reid.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def is_image_name(name: str) -> bool:
    """Whether ``name`` has the suffix of an image format that frames may have."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def is_frame(entry: os.DirEntry[str] | Path) -> bool:
    """Whether ``entry`` is a frame; ``False`` for a file that is not an image.

    An ``os.scandir`` entry answers from the directory listing, without a stat call per frame.

    Raises:
        DatasetError: ``entry`` has an image name but is a broken symbolic link or a folder.
    """
    if not is_image_name(entry.name):
        return False
    if entry.is_file():
        return True
    path = os.fspath(entry)
    if entry.is_symlink():
        raise DatasetError(
            f"{path}: broken symbolic link (its target {os.readlink(path)} does not exist)"
        )
    raise DatasetError(f"{path}: a folder with an image name, not a frame file")


def not_a_frame(path: str | Path) -> str:
    """The warning for a file of a tracklet folder that :func:`is_frame` skips."""
    return f"ignoring {path}: not an image file (frames are {', '.join(sorted(IMAGE_SUFFIXES))})"

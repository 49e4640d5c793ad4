"""Damaged JPEG frames on the training path: an error naming the file, or a skip with a warning.

``tests/data/test_clips.py`` covers damaged PNG frames of test clips; MARS and
DukeMTMC-VideoReID ship JPEGs, whose damage looks different: a copy cut short loses the end of the
compressed scan (PIL decodes the header fine and fails later).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stgcn_reid.data.clips import TrainClips
from stgcn_reid.data.datasets import DatasetError, Tracklet
from stgcn_reid.data.transforms import build_train_transform

DAMAGE = {
    "truncated": (
        lambda data: data[: len(data) // 2],
        r"unreadable frame \(image file is truncated \(\d+ bytes not processed\)\)",
    ),
    "zero-byte": (lambda data: b"", r"unreadable frame \(cannot identify image file"),
    "not an image": (lambda data: b"Thumbs", r"unreadable frame \(cannot identify image file"),
}


def jpeg_tracklet(folder: Path, n: int) -> Tracklet:
    """``n`` noisy 64x32 JPEG frames (noise keeps the compressed scan long)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        paths.append(folder / f"0001C1T0001F{k + 1:03d}.jpg")
        pixels = rng.integers(0, 256, (64, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(paths[-1], quality=90)
    return Tracklet(tuple(map(str, paths)), pid=0, camid=0)


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_jpeg_fails_naming_the_file(tmp_path: Path, damage: str) -> None:
    tracklet = jpeg_tracklet(tmp_path / "t", 4)
    bad = Path(tracklet.frames[1])
    cut, message = DAMAGE[damage]
    bad.write_bytes(cut(bad.read_bytes()))
    clips = TrainClips([tracklet], 4, build_train_transform(64, 32))
    with pytest.raises(DatasetError, match=re.escape(f"{bad}: ") + message):
        clips[0]


def test_truncated_jpeg_is_replaced_by_its_neighbour_with_skip_corrupt(tmp_path: Path) -> None:
    tracklet = jpeg_tracklet(tmp_path / "t", 4)
    bad = Path(tracklet.frames[1])
    bad.write_bytes(bad.read_bytes()[:1000])
    clips = TrainClips([tracklet], 4, build_train_transform(64, 32), skip_corrupt=True)
    with pytest.warns(RuntimeWarning, match=re.escape(str(bad)) + ".*using") as caught:
        item = clips[0]
    assert item["clips"].shape == (4, 3, 64, 32)
    assert any(tracklet.frames[2] in str(w.message) for w in caught)  # the nearest readable one

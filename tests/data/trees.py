"""Tiny dataset trees in the official layouts (MARS, DukeMTMC-VideoReID, iLIDS-VID, PRID-2011,
LS-VID, MEVID), for the tests."""

from __future__ import annotations

import functools
import io
import os
from collections import Counter
from collections.abc import Callable, Sequence
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


# --- iLIDS-VID, PRID-2011, LS-VID, MEVID -----------------------------------------------------
# Loader tests write thousands of frames: every frame of one tree is the same small encoded
# image (the loaders never open them), written as bytes.


def image_bytes(suffix: str = ".png", value: int = 128, size: tuple[int, int] = (8, 16)) -> bytes:
    """The encoded bytes of a :func:`write_frame` image in the format of ``suffix``."""
    return _image_bytes(suffix.lower(), value, size)


@functools.cache
def _image_bytes(suffix: str, value: int, size: tuple[int, int]) -> bytes:
    width, height = size
    pixels = np.full((height, width, 3), value, dtype=np.uint8)
    pixels[:, width // 2 :] = 255 - value
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG" if suffix == ".png" else "JPEG")
    return buffer.getvalue()


def write_frames(folder: Path, names: Sequence[str], real: bool = False) -> None:
    """``names`` in ``folder``, created in a shuffled order (so that no loader can rely on the
    order in which files were made); ``real`` images differ per frame (value ``40 * k``), the
    others are hard links to one image (creating files is slow on some disks; never write into
    such a frame, replace it)."""
    folder.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng(len(names)).permutation(len(names)) if len(names) > 1 else [0]
    for k in list(order):
        path = folder / names[k]
        if real:
            write_frame(path, value=(40 * int(k)) % 256)
        else:
            _put_frame(path)


_FRAME_SOURCES: dict[tuple[int, str], Path] = {}


def _put_frame(path: Path) -> None:
    """A fake frame at ``path``: a hard link to an earlier one of the same file system and
    format, else a new file (which becomes the source of the next links)."""
    key = (os.stat(path.parent).st_dev, path.suffix.lower())
    source = _FRAME_SOURCES.get(key)
    if source is not None:
        try:
            os.link(source, path)
            return
        except OSError:  # the source was deleted with its test's tree
            pass
    path.write_bytes(image_bytes(path.suffix))
    _FRAME_SOURCES[key] = path


#: 300 person numbers between 1 and 319, as in the iLIDS-VID release (which numbers are absent
#: there is not reproduced: here every 16th from 16 on).
ILIDS_PERSONS = tuple(n for n in range(1, 320) if n % 16 or n > 304)


def ilids_ls_set(num_persons: int, trials: int = 10, seed: int = 0) -> np.ndarray:
    """An ``ls_set`` like the release's: ``trials`` permutations of ``1..num_persons`` (double)."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(num_persons) + 1 for _ in range(trials)]).astype(np.float64)


def make_ilidsvid_tree(
    root: Path,
    persons: Sequence[int] = ILIDS_PERSONS,
    frames: Callable[[int, int], Sequence[int]] | None = None,
    ls_set: np.ndarray | None = None,
    real: bool = False,
) -> Path:
    """The iLIDS-VID release layout under ``root``: both cameras of every person, and
    ``train_test_splits_ilidsvid.mat`` (``ls_set`` of :func:`ilids_ls_set` unless given).

    ``frames(person, camera)`` gives the frame numbers of a sequence (default: 1-3 frames
    numbered from ``100 * camera + person``).
    """

    def default(person: int, camera: int) -> Sequence[int]:
        start = 100 * camera + person
        return range(start, start + 1 + (person + camera) % 3)

    numbers = frames or default
    for camera in (1, 2):
        for person in persons:
            folder = root / "i-LIDS-VID" / "sequences" / f"cam{camera}" / f"person{person:03d}"
            names = [f"cam{camera}_person{person:03d}_{n:05d}.png" for n in numbers(person, camera)]
            write_frames(folder, names, real)
    splits = root / "train-test people splits"
    splits.mkdir(parents=True, exist_ok=True)
    table = ilids_ls_set(len(persons)) if ls_set is None else ls_set
    scipy.io.savemat(splits / "train_test_splits_ilidsvid.mat", {"ls_set": table})
    return root


#: Persons 1..200 of both cameras with fewer than 21 frames in one of them: 200 - 22 = 178 kept.
PRID_SHORT = frozenset(range(5, 200, 9))


def prid_frames(camera: str, person: int) -> int:
    """Frames of a PRID-2011 sequence in the test tree: 21-22 for the kept persons, 3-20 in one
    camera for :data:`PRID_SHORT`, 1-3 for the persons of one camera only."""
    if person > 200:
        return 1 + person % 3
    if person in PRID_SHORT and camera == ("cam_a" if person % 2 else "cam_b"):
        return 3 + person % 18
    return 21 + person % 2


def make_prid2011_tree(
    root: Path,
    persons: tuple[int, int] = (385, 749),
    frames: Callable[[str, int], int] = prid_frames,
) -> Path:
    """``root/prid_2011/multi_shot/cam_{a,b}/person_NNNN/NNNN.png`` for persons ``1..persons``
    of each camera, ``frames(camera, person)`` frames each (numbered from 1)."""
    for camera, count in zip(("cam_a", "cam_b"), persons, strict=True):
        for person in range(1, count + 1):
            folder = root / "prid_2011" / "multi_shot" / camera / f"person_{person:04d}"
            write_frames(folder, [f"{n:04d}.png" for n in range(1, frames(camera, person) + 1)])
    return root


# (pid, camera 1..15, frame numbers) of one LS-VID tracklet.
LsvidTrack = tuple[int, int, Sequence[int]]


def lsvid_tracks(num_ids: int, num_tracks: int, first_pid: int = 1) -> list[LsvidTrack]:
    """``num_tracks`` one-frame tracklets spread over ``num_ids`` identities, each identity in
    two or more cameras."""
    tracks = []
    for k in range(num_tracks):
        pid = first_pid + k % num_ids
        tracks.append((pid, 1 + (k // num_ids + pid) % 15, [1]))
    return tracks


def lsvid_prefix(split: str, pid: int, number: int, camera: int) -> str:
    """A tracklet entry of ``list_seq_<split>.txt``: ``tracklet_<split>/<pid>/<pid>_<n>_<cam>``."""
    return f"tracklet_{split}/{pid:04d}/{pid:04d}_{number:04d}_{camera:02d}"


def make_lsvid_tree(
    root: Path,
    train: Sequence[LsvidTrack],
    test: Sequence[LsvidTrack],
    query_rows: Sequence[int],
    info_pids: Sequence[int] | None = None,
) -> Path:
    """The LS-VID layout: the two lists, their frames ``<entry>_<frame>.jpg`` and
    ``test/data/info_test.mat`` (v5; ``info_test`` rows ``(row, 0, pid, camera)``, ``query``
    1-based). ``info_pids`` overrides the identities written to ``info_test``."""
    for split, tracks in (("train", train), ("test", test)):
        lines = []
        for number, (pid, camera, frames) in enumerate(tracks, start=1):
            prefix = lsvid_prefix(split, pid, number, camera)
            lines.append(f"{prefix} {pid}")
            folder = root / prefix
            write_frames(folder.parent, [f"{folder.name}_{n}.jpg" for n in frames])
        (root / "list_sequence").mkdir(parents=True, exist_ok=True)
        (root / "list_sequence" / f"list_seq_{split}.txt").write_text("\n".join(lines) + "\n")
    pids = [p for p, _, _ in test] if info_pids is None else list(info_pids)
    rows = [(row, 0, pid, t[1]) for row, (pid, t) in enumerate(zip(pids, test, strict=True))]
    info = np.array(rows, dtype=np.float64)
    (root / "test" / "data").mkdir(parents=True, exist_ok=True)
    query = np.asarray(query_rows, dtype=np.float64)[None] + 1
    scipy.io.savemat(root / "test" / "data" / "info_test.mat", {"info_test": info, "query": query})
    return root


# (pid, outfit, camera, frame numbers) of one MEVID tracklet.
MevidTrack = tuple[int, int, int, Sequence[int]]


def mevid_tracks(num_ids: int, num_tracks: int, first_pid: int = 1) -> list[MevidTrack]:
    """``num_tracks`` one-frame tracklets over ``num_ids`` identities (MEVA camera numbers)."""
    return [
        (first_pid + k % num_ids, k % 3, 300 + (k // num_ids) % 33, [0]) for k in range(num_tracks)
    ]


def mevid_name(pid: int, outfit: int, camera: int, tracklet: int, frame: int) -> str:
    """A MEVID frame name, e.g. ``0201O003C330T004F00192.jpg``."""
    return f"{pid:04d}O{outfit:03d}C{camera:03d}T{tracklet:03d}F{frame:05d}.jpg"


def make_mevid_tree(
    root: Path,
    train: Sequence[MevidTrack],
    test: Sequence[MevidTrack],
    query_rows: Sequence[int],
    frames: bool = False,
    shuffle_names: bool = False,
) -> Path:
    """The MEVID release layout: ``*_name.txt``, ``track_*_info.txt`` (rows ``start end pid
    outfit camera``, 0-based, written as floats like the release), ``query_IDX.txt`` and the
    ``bbox_*`` folders (with the frames if ``frames``). ``shuffle_names`` lists the frames of
    each tracklet in a shuffled order."""
    rng = np.random.default_rng(0)
    for split, tracks in (("train", train), ("test", test)):
        names: list[str] = []
        rows = []
        counter: Counter[tuple[int, int]] = Counter()
        for pid, outfit, camera, numbers in tracks:
            counter[pid, camera] += 1
            chunk = [mevid_name(pid, outfit, camera, counter[pid, camera], n) for n in numbers]
            if shuffle_names:
                chunk = [chunk[i] for i in rng.permutation(len(chunk))]
            rows.append((len(names), len(names) + len(chunk) - 1, pid, outfit, camera))
            names += chunk
        (root / f"bbox_{split}").mkdir(parents=True, exist_ok=True)
        if frames:
            for name in names:
                write_frames(root / f"bbox_{split}" / name[:4], [name])
        (root / f"{split}_name.txt").write_text("\n".join(names) + "\n")
        np.savetxt(root / f"track_{split}_info.txt", np.array(rows, dtype=np.float64))
    np.savetxt(root / "query_IDX.txt", np.asarray(query_rows, dtype=np.float64))
    return root

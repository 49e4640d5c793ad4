"""Embed a folder of tracklets with a trained model into an ``.npz`` feature file.

Usage::

    python -m stgcn_reid.embed ckpt_path=CKPT input_dir=DIR [output=features.npz]
        [device=cpu] [batch_size=32] [progress=true] [skip_corrupt=false]

Every folder under ``input_dir`` that directly holds image files (``.jpg``, ``.jpeg``, ``.png``,
``.bmp``, ``.webp``, ``.tif``, ``.tiff``) is one tracklet, named by its path relative to
``input_dir`` (``cam1/0003`` or, for a ``<identity>/<tracklet>`` layout, ``0002/0001``). Its
frames are taken in natural name order (``frame9`` before ``frame10``). A folder that holds
neither images nor sub-folders is an error, as is an unreadable frame.

The feature file (:class:`FeatureFile`) holds ``features`` ``[N, D]`` float32, the tracklet
``names``, the ``input_dir`` they were found under (``stgcn_reid.search`` draws their frames
from there) and what produced them: the checkpoint path and SHA-256, the embedding width, the
clip length, input size and temporal sampling, and the run configuration as JSON. It is written
atomically: an interrupted run leaves any previous file intact.

The command line is ``key=value`` like the training entry point, but parsed by OmegaConf
against a dataclass (:mod:`stgcn_reid.utils.keyvalue_cli`) rather than by Hydra: a tool that reads
one folder and writes one file needs no run directory, log files or ``conf/`` folder, and OmegaConf
still types the values and rejects unknown or missing keys.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import MISSING

from stgcn_reid.data.datasets.base import DatasetError
from stgcn_reid.data.datasets.images import IMAGE_SUFFIXES, is_frame
from stgcn_reid.inference import Embedder
from stgcn_reid.utils.io import atomic_write
from stgcn_reid.utils.keyvalue_cli import run_cli

FORMAT_VERSION = 1


@dataclass
class EmbedConfig:
    """Arguments of ``python -m stgcn_reid.embed``."""

    ckpt_path: str = MISSING
    input_dir: str = MISSING
    output: str = "features.npz"
    device: str = "cpu"
    batch_size: int = 32
    progress: bool = True
    skip_corrupt: bool = False


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


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class FeatureFile:
    """Tracklet embeddings and where they came from (the ``.npz`` of ``stgcn_reid.embed``)."""

    features: np.ndarray  # float32 [N, D]
    names: list[str]  # tracklet folder paths relative to input_dir
    input_dir: str
    checkpoint: str
    checkpoint_sha256: str
    seq_len: int
    height: int
    width: int
    sampling: str
    run_config: Mapping[str, Any]

    @property
    def embedding_dim(self) -> int:
        return int(self.features.shape[1])

    def frames(self, index: int) -> list[Path]:
        """The frames of tracklet ``index``, listed again from ``input_dir``."""
        folder = Path(self.input_dir) / self.names[index]
        if not folder.is_dir():
            raise DatasetError(
                f"{folder}: tracklet folder of '{self.names[index]}' not found (the feature "
                "file records input_dir; were the frames moved?)"
            )
        return list_frames(folder)

    def save(self, path: str | Path) -> Path:
        """Write the ``.npz`` atomically (no pickled objects: loadable with allow_pickle=False)."""
        arrays = {
            "format_version": np.int64(FORMAT_VERSION),
            "features": np.asarray(self.features, dtype=np.float32),
            "names": np.asarray(self.names, dtype=str),
            "input_dir": np.str_(self.input_dir),
            "checkpoint": np.str_(self.checkpoint),
            "checkpoint_sha256": np.str_(self.checkpoint_sha256),
            "embedding_dim": np.int64(self.embedding_dim),
            "seq_len": np.int64(self.seq_len),
            "height": np.int64(self.height),
            "width": np.int64(self.width),
            "sampling": np.str_(self.sampling),
            "run_config": np.str_(json.dumps(self.run_config, sort_keys=True)),
        }
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))

    @classmethod
    def load(cls, path: str | Path) -> FeatureFile:
        """Read a feature file; ``ValueError`` naming the file if it is not one."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"feature file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as err:
            raise ValueError(
                f"{path} is not a feature file written by stgcn_reid.embed: {err}"
            ) from err
        missing = sorted(set(_KEYS) - set(arrays))
        if missing:
            raise ValueError(
                f"{path} lacks {', '.join(missing)}: not a feature file of stgcn_reid.embed"
            )
        features, names = arrays["features"], arrays["names"].tolist()
        if features.ndim != 2 or len(names) != features.shape[0]:
            raise ValueError(
                f"{path}: features {features.shape} do not match {len(names)} tracklet names"
            )
        return cls(
            features=features.astype(np.float32, copy=False),
            names=[str(name) for name in names],
            input_dir=str(arrays["input_dir"]),
            checkpoint=str(arrays["checkpoint"]),
            checkpoint_sha256=str(arrays["checkpoint_sha256"]),
            seq_len=int(arrays["seq_len"]),
            height=int(arrays["height"]),
            width=int(arrays["width"]),
            sampling=str(arrays["sampling"]),
            run_config=json.loads(str(arrays["run_config"])),
        )


_KEYS: Sequence[str] = (
    "features",
    "names",
    "input_dir",
    "checkpoint",
    "checkpoint_sha256",
    "seq_len",
    "height",
    "width",
    "sampling",
    "run_config",
)


def embed_folder(cfg: EmbedConfig) -> FeatureFile:
    """Embed every tracklet under ``cfg.input_dir`` and write ``cfg.output``."""
    tracklets = find_tracklets(cfg.input_dir)  # before loading the model: fail fast
    embedder = Embedder.from_checkpoint(cfg.ckpt_path, cfg.device, cfg.skip_corrupt)
    features = embedder.embed_many(
        [frames for _, frames in tracklets], batch_size=cfg.batch_size, progress=cfg.progress
    )
    height, width = embedder.image_size
    result = FeatureFile(
        features=features.numpy(),
        names=[name for name, _ in tracklets],
        input_dir=str(Path(cfg.input_dir).resolve()),
        checkpoint=str(Path(cfg.ckpt_path).resolve()),
        checkpoint_sha256=file_sha256(cfg.ckpt_path),
        seq_len=embedder.seq_len,
        height=height,
        width=width,
        sampling=embedder.sampling,
        run_config=embedder.run_config,
    )
    result.save(cfg.output)
    print(f"Wrote {cfg.output}: {len(result.names)} tracklets x {result.embedding_dim} features")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point (``argv`` defaults to ``sys.argv[1:]``)."""
    run_cli(EmbedConfig, embed_folder, argv, __doc__ or "")


if __name__ == "__main__":
    main()

"""The one feature file: tracklet embeddings, what produced them and, for an evaluation, who is
who (one ``.npz``, versioned, with the SHA-256 of the checkpoint).

Written by ``stgcn_reid.embed`` (a folder of tracklet folders), ``stgcn_reid.eval``
(``eval.save_features=true``) and ``stgcn_reid.train`` (``save_test_features=true``, which the
ablation study sets); read by ``stgcn_reid.search`` and the ablation study
(:func:`~stgcn_reid.ablation.results.load_features`).

Format 2, plain arrays (loadable with ``np.load(path, allow_pickle=False)``): ``format_version``,
``features`` float32 ``[N, D]``, ``names`` ``[N]``, ``input_dir``, ``checkpoint``,
``checkpoint_sha256``, ``embedding_dim``, ``seq_len``, ``height``, ``width``, ``sampling``,
``run_config`` (JSON) and, in the file of an evaluation, the :class:`EvaluationLabels` arrays
``tracks``, ``pids``, ``camids``, ``is_query``, ``in_gallery`` (each ``[N]``). Format 1
(``stgcn_reid.embed`` before the labels) reads as format 2 without labels. The unversioned
``features.npz`` that eval and train wrote before (``query_features``, ``gallery_pids``, ...)
is refused with a message saying how to regenerate it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from stgcn_reid.data.datasets.base import DatasetError
from stgcn_reid.evaluation.metric import RankingResult
from stgcn_reid.inference.folders import list_frames
from stgcn_reid.utils.io import atomic_write, file_sha256

FORMAT_VERSION = 2
#: Formats :meth:`FeatureFile.load` reads (1: embed's files before the evaluation labels).
READABLE_VERSIONS = (1, 2)
#: Name of the feature file in a run directory (train and eval).
FEATURES_FILE = "features.npz"


@dataclass(frozen=True)
class EvaluationLabels:
    """Per-tracklet labels of an evaluation's features (all ``[N]``, rows of the features).

    ``tracks`` indexes the evaluation's tracklets (:class:`~stgcn_reid.data.datamodule.
    EvalTracklets`: queries first, then the gallery tracklets that are not queries); a tracklet
    may be a query and in the gallery at once (the official MARS gallery holds the queries).
    """

    tracks: np.ndarray  # int64
    pids: np.ndarray  # int64
    camids: np.ndarray  # int64
    is_query: np.ndarray  # bool
    in_gallery: np.ndarray  # bool


LABEL_KEYS: tuple[str, ...] = tuple(f.name for f in fields(EvaluationLabels))


@dataclass(frozen=True)
class FeatureFile:
    """Tracklet embeddings and where they came from.

    ``input_dir`` is the folder whose tracklet folders ``names`` are (``stgcn_reid.embed``); an
    evaluation's file has none (``""``): its tracklets are a dataset's, named
    ``<identity>/<track>``, and ``labels`` holds their ids, cameras and roles. A
    ``checkpoint_sha256`` of ``""`` means the features come from weights that were never saved
    alone (a training run without a best checkpoint tests its last weights).
    """

    features: np.ndarray  # float32 [N, D]
    names: list[str]
    input_dir: str
    checkpoint: str
    checkpoint_sha256: str
    seq_len: int
    height: int
    width: int
    sampling: str
    run_config: Mapping[str, Any]
    labels: EvaluationLabels | None = None

    @property
    def embedding_dim(self) -> int:
        return int(self.features.shape[1])

    def frames(self, index: int) -> list[Path]:
        """The frames of tracklet ``index``, listed again from ``input_dir``."""
        if not self.input_dir:
            raise DatasetError(
                f"tracklet '{self.names[index]}' is a dataset tracklet of an evaluation, not a "
                "folder: this feature file records no input_dir to draw its frames from"
            )
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
        if self.labels is not None:
            arrays |= {key: getattr(self.labels, key) for key in LABEL_KEYS}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))

    @classmethod
    def load(cls, path: str | Path) -> FeatureFile:
        """Read a feature file; ``ValueError`` naming the file (and what it is) if it is not one."""
        arrays = _read_arrays(Path(path))
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
            labels=_read_labels(Path(path), arrays, len(names)),
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


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of a feature file of a readable format, or a ``ValueError`` saying why not."""
    if not path.is_file():
        raise FileNotFoundError(f"feature file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a feature file (an .npz of stgcn_reid): {err}") from err
    if "format_version" not in arrays:
        raise ValueError(_unversioned_message(path, arrays))
    version = int(arrays["format_version"])
    if version not in READABLE_VERSIONS:
        raise ValueError(
            f"{path}: feature file format {version}, but this stgcn_reid reads formats "
            f"{', '.join(map(str, READABLE_VERSIONS))}: written by a newer version?"
        )
    missing = sorted(set(_KEYS) - set(arrays))
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: not a feature file of stgcn_reid")
    return arrays


def _unversioned_message(path: Path, arrays: Mapping[str, np.ndarray]) -> str:
    """What a file without ``format_version`` is, and how to get a current one."""
    if "query_features" in arrays:
        return (
            f"{path} is an unversioned features.npz of an older stgcn_reid.eval or "
            "stgcn_reid.train (arrays query_features, gallery_features, ...): it records neither "
            "its format nor the checkpoint that made it, and is no longer read. Regenerate it: "
            "python -m stgcn_reid.eval ckpt_path=<the checkpoint> eval.save_features=true "
            "(or train again with save_test_features=true)"
        )
    return (
        f"{path} has no format_version: not a feature file of stgcn_reid "
        "(written by stgcn_reid.embed, stgcn_reid.eval or stgcn_reid.train)"
    )


def _read_labels(
    path: Path, arrays: Mapping[str, np.ndarray], num_tracklets: int
) -> EvaluationLabels | None:
    """The evaluation labels of a file that has them (all of them, one per tracklet)."""
    present = [key for key in LABEL_KEYS if key in arrays]
    if not present:
        return None
    missing = [key for key in LABEL_KEYS if key not in arrays]
    if missing:
        raise ValueError(f"{path} has evaluation labels but lacks {', '.join(missing)}")
    bad = [key for key in LABEL_KEYS if arrays[key].shape != (num_tracklets,)]
    if bad:
        raise ValueError(f"{path}: labels {', '.join(bad)} are not one per tracklet")
    return EvaluationLabels(
        tracks=arrays["tracks"].astype(np.int64),
        pids=arrays["pids"].astype(np.int64),
        camids=arrays["camids"].astype(np.int64),
        is_query=arrays["is_query"].astype(bool),
        in_gallery=arrays["in_gallery"].astype(bool),
    )


def evaluation_features(
    ranking: RankingResult,
    checkpoint: str | Path | None,
    run_config: Mapping[str, Any],
    sampling: str,
) -> FeatureFile:
    """The feature file of an evaluation: each query and gallery tracklet once, by track id.

    ``checkpoint`` is the file of the evaluated weights (``None``: weights never saved alone);
    ``run_config`` the checkpoint's run configuration (its ``data`` section gives the input
    geometry); ``sampling`` the test-time clip rule the features were extracted with.
    """
    tracks = np.concatenate([ranking.query_tracks.numpy(), ranking.gallery_tracks.numpy()])
    unique, first = np.unique(tracks, return_index=True)
    features = np.concatenate([ranking.query_features.numpy(), ranking.gallery_features.numpy()])
    pids = np.concatenate([ranking.q_pids.numpy(), ranking.g_pids.numpy()])[first]
    camids = np.concatenate([ranking.q_camids.numpy(), ranking.g_camids.numpy()])[first]
    labels = EvaluationLabels(
        tracks=unique.astype(np.int64),
        pids=pids.astype(np.int64),
        camids=camids.astype(np.int64),
        is_query=np.isin(unique, ranking.query_tracks.numpy()),
        in_gallery=np.isin(unique, ranking.gallery_tracks.numpy()),
    )
    data = run_config["data"]
    return FeatureFile(
        features=features[first].astype(np.float32),
        names=[f"{pid}/{track}" for pid, track in zip(pids.tolist(), unique.tolist(), strict=True)],
        input_dir="",
        checkpoint=str(Path(checkpoint).resolve()) if checkpoint else "",
        checkpoint_sha256=file_sha256(checkpoint) if checkpoint else "",
        seq_len=int(data["seq_len"]),
        height=int(data["height"]),
        width=int(data["width"]),
        sampling=sampling,
        run_config=run_config,
        labels=labels,
    )

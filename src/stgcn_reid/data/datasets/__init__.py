"""Video re-id datasets by name: ``build_dataset("mars", root)``.

Each dataset module turns one on-disk layout into a :class:`VideoReIDDataset` of tracklet
records; images are decoded later, in :mod:`stgcn_reid.data.clips`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from stgcn_reid.data.datasets.base import DatasetError, Tracklet, VideoReIDDataset
from stgcn_reid.data.datasets.dukemtmc_video import load_dukemtmc_video
from stgcn_reid.data.datasets.mars import load_mars

__all__ = ["DATASET_NAMES", "DatasetError", "Tracklet", "VideoReIDDataset", "build_dataset"]

DATASET_NAMES = ("mars", "dukemtmc_video", "synthetic")

log = logging.getLogger(__name__)


def build_dataset(
    name: str, root: str | Path, log_summary: bool = True, **kwargs: Any
) -> VideoReIDDataset:
    """Load dataset ``name`` from ``root`` and (``log_summary``) log its split table at INFO level.

    Args:
        name: one of :data:`DATASET_NAMES`.
        root: the dataset folder in its official layout (for ``synthetic``: where the
            generated benchmark is cached).
        kwargs: options of the dataset's loader, e.g. ``official_gallery`` for MARS.
    """
    if name == "mars":
        dataset = load_mars(root, **kwargs)
    elif name == "dukemtmc_video":
        dataset = load_dukemtmc_video(root, **kwargs)
    elif name == "synthetic":
        # Imported here: the generator pulls in its drawing code, which the real datasets do
        # not need.
        from stgcn_reid.data.synthetic import load_synthetic

        dataset = load_synthetic(root, **kwargs)
    else:
        raise ValueError(f"dataset.name={name!r} is unknown; expected one of {DATASET_NAMES}")
    if log_summary:
        log.info("%s", dataset.summary())
    return dataset

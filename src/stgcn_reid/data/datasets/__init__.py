"""Video re-id datasets by name: ``build_dataset("mars", root)``.

Each dataset module turns one on-disk layout into a :class:`VideoReIDDataset` of tracklet
records; images are decoded later, in :mod:`stgcn_reid.data.clips`. :data:`LOADERS` maps each
canonical name to its loader; :data:`ALIASES` accepts torchreid's names and the spellings of
the papers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stgcn_reid.data.datasets.base import Tracklet, VideoReIDDataset
from stgcn_reid.data.datasets.dukemtmc_video import load_dukemtmc_video
from stgcn_reid.data.datasets.ilidsvid import load_ilidsvid
from stgcn_reid.data.datasets.lsvid import load_lsvid
from stgcn_reid.data.datasets.mars import load_mars
from stgcn_reid.data.datasets.mevid import load_mevid
from stgcn_reid.data.datasets.prid2011 import load_prid2011
from stgcn_reid.errors import DatasetError

__all__ = [
    "ALIASES",
    "DATASET_NAMES",
    "LOADERS",
    "DatasetError",
    "Tracklet",
    "VideoReIDDataset",
    "build_dataset",
    "canonical_name",
]

Loader = Callable[..., VideoReIDDataset]

log = logging.getLogger(__name__)


def _load_synthetic(root: str | Path, **kwargs: Any) -> VideoReIDDataset:
    # Imported here: the generator pulls in its drawing code, which the real datasets do not
    # need.
    from stgcn_reid.data.synthetic import load_synthetic

    return load_synthetic(root, **kwargs)


#: Canonical name -> loader ``(root, **options) -> VideoReIDDataset``.
LOADERS: dict[str, Loader] = {
    "mars": load_mars,
    "dukemtmc_video": load_dukemtmc_video,
    "synthetic": _load_synthetic,
    "ilidsvid": load_ilidsvid,
    "prid2011": load_prid2011,
    "lsvid": load_lsvid,
    "mevid": load_mevid,
}
DATASET_NAMES = tuple(LOADERS)

#: Other names of the datasets: torchreid's (``mars``, ``ilidsvid``, ``prid2011`` are already
#: canonical) and the papers' spellings.
ALIASES: dict[str, str] = {
    "dukemtmcvidreid": "dukemtmc_video",
    "dukemtmc-videoreid": "dukemtmc_video",
    "ilids-vid": "ilidsvid",
    "prid-2011": "prid2011",
    "ls-vid": "lsvid",
}


def canonical_name(name: str) -> str:
    """The canonical name of dataset ``name`` (case-insensitive)."""
    key = name.lower()
    if key in LOADERS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    raise ValueError(
        f"dataset.name={name!r} is unknown; expected one of {DATASET_NAMES} "
        f"(or an alias: {', '.join(ALIASES)})"
    )


def build_dataset(
    name: str, root: str | Path, log_summary: bool = True, **kwargs: Any
) -> VideoReIDDataset:
    """Load dataset ``name`` from ``root`` and (``log_summary``) log its split table at INFO level.

    Args:
        name: one of :data:`DATASET_NAMES` or :data:`ALIASES`.
        root: the dataset folder in its official layout (for ``synthetic``: where the
            generated benchmark is cached).
        kwargs: options of the dataset's loader, e.g. ``official_gallery`` for MARS,
            ``split_id`` and ``strict`` for iLIDS-VID.
    """
    dataset = LOADERS[canonical_name(name)](root, **kwargs)
    if log_summary:
        log.info("%s", dataset.summary())
    return dataset

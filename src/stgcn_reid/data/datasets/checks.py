"""Start-up checks of an evaluation split (validation or test), from its metadata alone.

A split that cannot be evaluated would otherwise fail at the first validation, after the
training steps since the last checkpoint, or at the final test, after the whole training.
These checks read no image: they compare identities and cameras, and stat the first and last
frame of each tracklet (two calls per tracklet, about 25,000 for the MARS test split).
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence

from pytorch_lightning.utilities import rank_zero_only

from stgcn_reid.data.datasets.base import Tracklet
from stgcn_reid.errors import DatasetError

log = logging.getLogger(__name__)
#: How many examples a message names.
SHOWN = 3


def check_evaluation_split(
    split: str, query: Sequence[Tracklet], gallery: Sequence[Tracklet]
) -> None:
    """Fail when the frames of a tracklet are missing, or when no query can be evaluated.

    A query whose identity the gallery never shows under another camera has no correct match:
    evaluation leaves it out of CMC and mAP, with a warning (the MARS torchreid gallery has 140
    such queries), so some of them are only warned about here. None matching at all is an
    error, as evaluation would fail.

    Args:
        split: the split's name in messages, e.g. ``"mars test"``.
        query, gallery: the split's tracklets.

    Raises:
        DatasetError: a frame file or folder is missing, or no query has a match.
    """
    check_frames_present(f"{split} query", query)
    check_frames_present(f"{split} gallery", gallery)
    unmatched = unmatched_queries(query, gallery)
    if not unmatched:
        return
    examples = ", ".join(f"pid {t.pid} camera {t.camid + 1}" for t in unmatched[:SHOWN])
    what = (
        f"{split} split: {len(unmatched)} of {len(query)} queries have no gallery tracklet of "
        f"their identity under another camera (first: {examples})"
    )
    if len(unmatched) == len(query):
        raise DatasetError(
            f"{what}, so none can be evaluated; check that query and gallery come from the same "
            "split and that the gallery is complete"
        )
    if rank_zero_only.rank == 0:  # every DDP process runs the checks; one warning is enough
        log.warning("%s; they will be left out of CMC and mAP", what)


def unmatched_queries(query: Sequence[Tracklet], gallery: Sequence[Tracklet]) -> list[Tracklet]:
    """The queries without a gallery tracklet of the same identity from another camera."""
    cameras: dict[int, set[int]] = defaultdict(set)
    for tracklet in gallery:
        cameras[tracklet.pid].add(tracklet.camid)
    return [t for t in query if not cameras.get(t.pid, set()) - {t.camid}]


def check_frames_present(where: str, tracklets: Sequence[Tracklet]) -> None:
    """Fail naming the first missing frame (and its folder, if that is missing too)."""
    missing = [
        path
        for tracklet in tracklets
        for path in dict.fromkeys((tracklet.frames[0], tracklet.frames[-1]))
        if not os.path.isfile(path)
    ]
    if not missing:
        return
    folder = os.path.dirname(missing[0])
    cause = "" if os.path.isdir(folder) else f"; the folder {folder} does not exist"
    raise DatasetError(
        f"{where}: {len(missing)} frame files listed in the metadata are missing, first "
        f"{', '.join(missing[:SHOWN])}{cause}"
    )

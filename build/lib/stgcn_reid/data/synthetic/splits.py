"""Which tracklets exist: cameras and tracklet counts per identity, and the query choice.

The protocol follows DukeMTMC-VideoReID: disjoint training and test identities, one query
tracklet per test identity, the rest of that identity's tracklets in the gallery, and
distractor identities in the gallery only. Validation identities, disjoint from both, get a
query / gallery of their own (``val_query`` / ``val_gallery``, no distractors), so that
checkpoints are chosen without the test split. Every training, validation and test identity is
seen by at least two cameras, so each query has a gallery match in another camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stgcn_reid.data.synthetic.config import SyntheticConfig
from stgcn_reid.data.synthetic.identities import Identity

SPLITS = ("train", "query", "gallery", "val_query", "val_gallery")
#: (query split, gallery split) of each evaluation role.
QUERY_GALLERY = {"test": ("query", "gallery"), "val": ("val_query", "val_gallery")}


@dataclass(frozen=True)
class TrackletSlot:
    """One tracklet to generate: identity, 0-based camera, split, and its 1-based folder number
    among the tracklets of that identity."""

    pid: int
    camid: int
    split: str
    number: int


def _cameras_of(identity: Identity, cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """Camera of every tracklet of a train or test identity: each of its 2..max cameras at least
    once, the remaining tracklets in random ones of them."""
    num_cams = int(rng.integers(2, cfg.cameras_per_id_max + 1))
    cams = rng.choice(cfg.num_cameras, size=num_cams, replace=False)
    low = max(cfg.tracklets_per_id_min, num_cams)
    high = max(cfg.tracklets_per_id_max, num_cams)
    extra = rng.choice(cams, size=int(rng.integers(low, high + 1)) - num_cams)
    return rng.permutation(np.concatenate([cams, extra]))


def plan_splits(
    identities: list[Identity], cfg: SyntheticConfig, rng: np.random.Generator
) -> list[TrackletSlot]:
    """Every tracklet of the benchmark, grouped by identity in ``identities`` order."""
    slots: list[TrackletSlot] = []
    for identity in identities:
        if identity.role == "distractor":
            cams = rng.choice(cfg.num_cameras, size=int(rng.integers(1, 3)))
            splits = ["gallery"] * len(cams)
        else:
            cams = _cameras_of(identity, cfg, rng)
            if identity.role == "train":
                splits = ["train"] * len(cams)
            else:
                query, gallery = QUERY_GALLERY[identity.role]
                splits = [gallery] * len(cams)
                splits[int(rng.integers(len(cams)))] = query
        slots += [
            TrackletSlot(identity.pid, int(cam), split, number)
            for number, (cam, split) in enumerate(zip(cams, splits, strict=True), start=1)
        ]
    return slots

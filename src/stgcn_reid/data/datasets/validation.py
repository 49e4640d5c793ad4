"""A validation split held out of the training identities (``data.val_split``).

The real benchmarks ship train / query / gallery only, and the test split must not choose the
checkpoint that is then tested on it. So a seeded share of the training identities is set aside
as a validation query / gallery of its own, like the test protocol: one query tracklet per
validation identity, its other tracklets in the gallery. Only identities seen by at least two
cameras are eligible, so that every validation query has a cross-camera match. The held-out
identities no longer train (the classifier has as many outputs as training identities remain).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from stgcn_reid.data.datasets.base import Tracklet, VideoReIDDataset
from stgcn_reid.errors import DatasetError


def hold_out_validation(
    dataset: VideoReIDDataset, fraction: float, seed: int = 0
) -> VideoReIDDataset:
    """``dataset`` with ``round(fraction x training ids)`` identities moved to validation.

    Args:
        dataset: a dataset without a validation split.
        fraction: share of the training identities to hold out, in ``(0, 1)``.
        seed: seed of the choice of identities and of their query tracklets (independent of
            the training seed, so that every run of a study validates on the same identities).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"data.val_split={fraction!r}: expected a fraction in (0, 1) or none")
    if dataset.has_validation:
        raise ValueError(f"{dataset.name} has a validation split already ({dataset.val_source})")
    by_pid: dict[int, list[Tracklet]] = defaultdict(list)
    for tracklet in dataset.train:
        by_pid[tracklet.pid].append(tracklet)
    eligible = sorted(pid for pid, items in by_pid.items() if len({t.camid for t in items}) > 1)
    wanted = max(2, round(fraction * len(by_pid)))
    if wanted > len(eligible) or len(by_pid) - wanted < 2:
        raise DatasetError(
            f"{dataset.name}: data.val_split={fraction} asks for {wanted} validation identities "
            f"seen by two or more cameras; the training split has {len(eligible)} such of "
            f"{len(by_pid)} identities (and at least 2 must remain for training)"
        )
    rng = np.random.default_rng(seed)
    held_out = set(rng.choice(eligible, size=wanted, replace=False).tolist())
    query: list[Tracklet] = []
    gallery: list[Tracklet] = []
    for pid in sorted(held_out):
        items = by_pid[pid]
        chosen = int(rng.integers(len(items)))
        query.append(items[chosen])
        gallery += [t for i, t in enumerate(items) if i != chosen]
    return VideoReIDDataset(
        dataset.name,
        [t for t in dataset.train if t.pid not in held_out],
        dataset.query,
        dataset.gallery,
        query,
        gallery,
        val_source=f"{wanted} training identities held out (data.val_split={fraction}, "
        f"seed {seed})",
    )

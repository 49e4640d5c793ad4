"""The full plan of a synthetic benchmark, drawn from one seed before any pixel is rendered."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stgcn_reid.data.synthetic.config import SyntheticConfig
from stgcn_reid.data.synthetic.identities import Identity, sample_identities
from stgcn_reid.data.synthetic.scene import (
    Camera,
    TrackletSpec,
    sample_cameras,
    sample_tracklet_spec,
)
from stgcn_reid.data.synthetic.splits import TrackletSlot, plan_splits


@dataclass(frozen=True, eq=False)
class PlannedTracklet:
    """A tracklet to render: where it goes, how it looks, and the global counter ``X`` of its
    first frame (its frames are numbered ``F0001``, ``F0002``, ... as in DukeMTMC-VideoReID)."""

    slot: TrackletSlot
    spec: TrackletSpec
    first_serial: int


@dataclass(frozen=True, eq=False)
class Benchmark:
    config: SyntheticConfig
    identities: dict[int, Identity]
    cameras: list[Camera]
    tracklets: list[PlannedTracklet]


def build_benchmark(cfg: SyntheticConfig) -> Benchmark:
    """Identities, cameras, splits and every tracklet's capture conditions for ``cfg``.

    Each stage draws from its own child of ``SeedSequence(cfg.seed)``, so e.g. changing the
    occlusion share leaves identities, cameras and splits unchanged.
    """
    identity_seed, camera_seed, split_seed, spec_seed = np.random.SeedSequence(cfg.seed).spawn(4)
    identities = sample_identities(cfg, np.random.default_rng(identity_seed))
    cameras = sample_cameras(cfg, np.random.default_rng(camera_seed))
    slots = plan_splits(identities, cfg, np.random.default_rng(split_seed))
    rng = np.random.default_rng(spec_seed)
    planned = []
    serial = 1
    for slot in slots:
        spec = sample_tracklet_spec(cfg, cameras[slot.camid], rng)
        planned.append(PlannedTracklet(slot, spec, serial))
        serial += spec.num_frames
    return Benchmark(cfg, {i.pid: i for i in identities}, cameras, planned)

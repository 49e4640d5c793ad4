"""Rendering: determinism, confusers in pixels, occluders confined to their band and run, gait."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest

from stgcn_reid.data.synthetic import SyntheticConfig, make_config
from stgcn_reid.data.synthetic.canvas import Canvas
from stgcn_reid.data.synthetic.identities import Identity, sample_identities
from stgcn_reid.data.synthetic.person import Figure
from stgcn_reid.data.synthetic.plan import Benchmark, PlannedTracklet, build_benchmark
from stgcn_reid.data.synthetic.render import (
    background_panorama,
    occluder_rows,
    render_tracklet,
)
from stgcn_reid.data.synthetic.scene import Camera, TrackletSpec

from .conftest import TINY

# A camera that changes nothing, in front of a magenta wall no garment has: every pixel that is
# not magenta belongs to the person.
CLEAN = Camera(0, (1.0, 1.0, 1.0), 1.0, 0.0, 0.0, 0.0, 0.0, 0)
MAGENTA = np.array([255, 0, 255])


def _render(benchmark: Benchmark, planned: PlannedTracklet) -> np.ndarray:
    cfg = benchmark.config
    camera = benchmark.cameras[planned.slot.camid]
    panorama = background_panorama(camera, cfg.height, cfg.width)
    return render_tracklet(benchmark.identities[planned.slot.pid], camera, planned.spec, panorama)


def _steady(num_frames: int, yaw: float = 0.0, phase: float = 0.0) -> TrackletSpec:
    """No jitter, no background motion, no occluder, no noise variation."""
    ones = np.ones(num_frames, dtype=np.float32)
    return TrackletSpec(
        num_frames, yaw, phase, 10.0, ones, 0 * ones, 0 * ones, 0.0, 0.0, 1.0, None, 0
    )


def _on_magenta(identity: Identity, spec: TrackletSpec, height: int, width: int) -> np.ndarray:
    wall = np.ones((height, 4 * width, 3), np.float32) * np.float32([1.0, 0.0, 1.0])
    return render_tracklet(identity, CLEAN, spec, wall)


def _silhouette(frames: np.ndarray) -> np.ndarray:
    return np.abs(frames.astype(int) - MAGENTA).sum(axis=-1) > 30


def test_rendering_is_deterministic_per_seed(tiny_config: SyntheticConfig) -> None:
    first, again = build_benchmark(tiny_config), build_benchmark(tiny_config)
    other = build_benchmark(replace(tiny_config, seed=tiny_config.seed + 1))
    pixels = _render(first, first.tracklets[0])
    assert np.array_equal(pixels, _render(again, again.tracklets[0]))
    assert pixels.dtype == np.uint8
    assert pixels.shape[1:] == (tiny_config.height, tiny_config.width, 3)
    assert not np.array_equal(pixels[:6], _render(other, other.tracklets[0])[:6])


def test_confusers_share_colors_in_pixels_but_not_silhouettes() -> None:
    cfg = make_config(
        num_train_ids=2,
        num_test_ids=12,
        num_distractors=0,
        num_val_ids=0,
        confuser_share=1.0,
        confuser_group_size=3,
    )
    identities = [i for i in sample_identities(cfg, np.random.default_rng(1)) if i.role == "test"]
    group = [i for i in identities if i.group == identities[0].group]
    spec = _steady(1)
    height, width = 128, 64
    look = group[0].look
    garment = np.round(np.float32([look.upper, look.upper_secondary]) * 255)
    shown, silhouettes = [], []
    for identity in group:
        frame = _on_magenta(identity, spec, height, width)
        figure = Figure(Canvas(np.zeros((1, height, width, 3), np.float32)), identity, spec)
        top = int(figure.box.y(figure.shoulder_y)[0]) + 3
        bottom = int(figure.box.y(figure.hip_y)[0]) - 3
        column = frame[0, top:bottom, width // 2].astype(np.float32)  # torso centre, front view
        distance = np.abs(column[:, None] - garment[None]).max(axis=-1)
        near = distance.min(axis=1) <= 3  # nearly unshaded at the centre line
        assert near.mean() >= 0.8
        shown.append(set(distance.argmin(axis=1)[near].tolist()))
        silhouettes.append(_silhouette(frame)[0])
    expected = {0} if look.texture == "plain" else {0, 1}
    assert all(colors == expected for colors in shown)
    for a, b in combinations(range(len(group)), 2):
        heights = [np.ptp(np.nonzero(s.any(axis=1))[0]) for s in (silhouettes[a], silhouettes[b])]
        stature_px = abs(group[a].body.stature - group[b].body.stature) * height
        assert abs(heights[0] - heights[1]) >= stature_px - 2 >= 0
        union = (silhouettes[a] | silhouettes[b]).sum()
        assert (silhouettes[a] & silhouettes[b]).sum() / union < 0.9


def test_limbs_swing_over_the_gait_cycle() -> None:
    identity = sample_identities(make_config(**TINY), np.random.default_rng(0))[0]
    # Side view, gait period 10 frames: frames 0 and 2 are 72 degrees apart in the cycle.
    frames = _on_magenta(identity, _steady(6, yaw=np.pi / 2), 128, 64)
    masks = _silhouette(frames)
    lower, head = masks[:, 90:], masks[:, :22]
    overlap = (lower[0] & lower[2]).sum() / (lower[0] | lower[2]).sum()
    assert overlap < 0.6
    assert (head[0] ^ head[2]).sum() < 0.5 * head[0].sum()  # the head only bobs


@pytest.fixture(scope="module")
def occluded() -> tuple[Benchmark, list[PlannedTracklet]]:
    cfg = make_config(**{**TINY, "occlusion_prob": 1.0, "max_blur": 1.5})
    benchmark = build_benchmark(cfg)
    return benchmark, benchmark.tracklets[:12]


def test_every_occlusion_is_a_strict_sub_run(
    occluded: tuple[Benchmark, list[PlannedTracklet]],
) -> None:
    _, tracklets = occluded
    for planned in tracklets:
        occluder = planned.spec.occluder
        assert occluder is not None
        assert 0 <= occluder.start < occluder.stop <= planned.spec.num_frames
        assert 0 < occluder.stop - occluder.start < planned.spec.num_frames
        assert 0 <= occluder.top < occluder.bottom <= 1


def test_occluder_changes_only_its_band_in_its_run(
    occluded: tuple[Benchmark, list[PlannedTracklet]],
) -> None:
    benchmark, tracklets = occluded
    height = benchmark.config.height
    kinds = set()
    for planned in tracklets:
        occluder = planned.spec.occluder
        assert occluder is not None
        kinds.add(occluder.kind)
        with_occluder = _render(benchmark, planned).astype(int)
        clear = replace(planned, spec=replace(planned.spec, occluder=None))
        without = _render(benchmark, clear).astype(int)
        changed = np.abs(with_occluder - without).sum(axis=-1) > 0
        run = np.zeros(len(changed), dtype=bool)
        run[occluder.start : occluder.stop] = True
        assert not changed[~run].any()
        # Blur spreads the occluder's edge by the Gaussian's support (truncate=2.5 sigma).
        margin = int(2.5 * benchmark.cameras[planned.slot.camid].blur + 0.5) + 1
        r0, r1 = occluder_rows(occluder, height)
        outside = np.ones(height, dtype=bool)
        outside[max(r0 - margin, 0) : r1 + margin] = False
        assert not changed[:, outside].any()
        assert (changed[run][:, r0:r1].mean(axis=(1, 2)) > 0.2).all()
    assert len(kinds) >= 2

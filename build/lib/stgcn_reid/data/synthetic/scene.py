"""Cameras and per-tracklet capture conditions: viewpoint, gait phase, box jitter, occluders.

Everything random about a tracklet is drawn here, up front, so that rendering is a pure function
of (identity, camera, spec): the same spec renders the same pixels, and a spec with its occluder
removed renders the same tracklet unoccluded (used by the tests and the preview).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stgcn_reid.data.synthetic.config import SyntheticConfig
from stgcn_reid.data.synthetic.identities import HAIR_COLORS, RGB, UPPER_COLORS, pick_color

OCCLUDER_KINDS: dict[str, float] = {"box": 0.4, "barrier": 0.3, "person": 0.3}
# Obstacles in front of the person: bins, benches, car bodies; barriers are striped tape/boards.
BOX_COLORS: tuple[RGB, ...] = (
    (0.45, 0.32, 0.20),
    (0.30, 0.32, 0.34),
    (0.18, 0.34, 0.22),
    (0.22, 0.30, 0.50),
    (0.60, 0.60, 0.58),
)
BARRIER_COLORS: tuple[tuple[RGB, RGB], ...] = (
    ((0.85, 0.15, 0.12), (0.95, 0.95, 0.95)),
    ((0.95, 0.80, 0.10), (0.10, 0.10, 0.10)),
    ((0.55, 0.55, 0.57), (0.25, 0.25, 0.27)),
)


@dataclass(frozen=True)
class Camera:
    """Look of one camera: color cast (per-channel gain incl. brightness), gamma, desaturation,
    blur sigma (pixels), noise std (8-bit levels), the dominant walking yaw of the people it sees
    (radians, 0 = facing the camera) and the seed of its background scene."""

    index: int
    gain: RGB
    gamma: float
    desaturation: float
    blur: float
    noise: float
    axis: float
    background_seed: int


@dataclass(frozen=True)
class Occluder:
    """An object in front of the person during frames ``[start, stop)``.

    It covers only rows ``[top, bottom)`` (fractions of the frame height): a horizontal band of
    the person, like the horizontal patches of the paper. ``kind`` is ``box`` (low obstacle),
    ``barrier`` (striped board at mid height) or ``person`` (head and shoulders of a closer
    pedestrian crossing from ``x_from`` to ``x_to``, fractions of the width from the centre).
    """

    kind: str
    start: int
    stop: int
    top: float
    bottom: float
    color: RGB
    secondary: RGB
    x_from: float
    x_to: float


@dataclass(frozen=True, eq=False)
class TrackletSpec:
    """Capture conditions of one tracklet.

    yaw: body orientation in radians (0 front, pi back, +-pi/2 side views).
    phase, period: gait phase at frame 0 (radians) and gait period in frames.
    scale, shift_x, shift_y: per-frame box misalignment: relative zoom and offsets as fractions
        of the width / height.
    bg_offset, bg_speed: background crop start (fraction of the free panorama width) and its
        motion in widths per frame (the box follows the walker through the scene).
    illumination: brightness factor of this tracklet on top of the camera's look.
    noise_seed: seed of the sensor noise.
    """

    num_frames: int
    yaw: float
    phase: float
    period: float
    scale: np.ndarray
    shift_x: np.ndarray
    shift_y: np.ndarray
    bg_offset: float
    bg_speed: float
    illumination: float
    occluder: Occluder | None
    noise_seed: int


def sample_cameras(cfg: SyntheticConfig, rng: np.random.Generator) -> list[Camera]:
    """``cfg.num_cameras`` cameras; their walking axes are spread over [0, pi) so that some
    cameras see mostly front/back views and others side views."""
    axes = (np.arange(cfg.num_cameras) + rng.uniform(-0.3, 0.3, cfg.num_cameras)) / cfg.num_cameras
    axes = rng.permutation(axes * np.pi)
    shift = cfg.camera_shift
    cameras = []
    for index in range(cfg.num_cameras):
        brightness = np.exp(rng.normal(0.0, 1.5 * shift))
        gain = np.clip((1.0 + rng.normal(0.0, shift, 3)) * brightness, 0.45, 1.7)
        cameras.append(
            Camera(
                index=index,
                gain=(float(gain[0]), float(gain[1]), float(gain[2])),
                gamma=float(np.exp(rng.normal(0.0, shift))),
                desaturation=float(rng.uniform(0.0, 2.0 * shift)),
                blur=float(rng.uniform(0.25 * cfg.max_blur, cfg.max_blur)),
                noise=float(rng.uniform(cfg.max_noise / 3.0, cfg.max_noise)),
                axis=float(axes[index]),
                background_seed=int(rng.integers(2**31)),
            )
        )
    return cameras


def sample_occluder(num_frames: int, rng: np.random.Generator) -> Occluder:
    """An occluder over a run of 30-70% of the frames (never all of them, never none)."""
    run = int(rng.integers(max(1, round(0.3 * num_frames)), round(0.7 * num_frames) + 1))
    run = min(run, num_frames - 1)
    start = int(rng.integers(0, num_frames - run + 1))
    kinds = list(OCCLUDER_KINDS)
    weights = np.array(list(OCCLUDER_KINDS.values()))
    kind = kinds[rng.choice(len(kinds), p=weights / weights.sum())]
    x_from = x_to = 0.0
    if kind == "box":
        top, bottom = float(rng.uniform(0.5, 0.72)), 1.0
        color = BOX_COLORS[rng.integers(len(BOX_COLORS))]
        secondary = (0.6 * color[0], 0.6 * color[1], 0.6 * color[2])
    elif kind == "barrier":
        top = float(rng.uniform(0.28, 0.55))
        bottom = top + float(rng.uniform(0.14, 0.26))
        color, secondary = BARRIER_COLORS[rng.integers(len(BARRIER_COLORS))]
    else:
        top, bottom = float(rng.uniform(0.4, 0.6)), 1.0
        color = pick_color(rng, UPPER_COLORS)
        secondary = pick_color(rng, HAIR_COLORS)
        # Crossing in front of the person: from one side to the other, through the middle.
        direction = float(rng.choice([-1.0, 1.0]))
        x_from = -direction * float(rng.uniform(0.1, 0.45))
        x_to = direction * float(rng.uniform(0.1, 0.45))
    return Occluder(kind, start, start + run, top, bottom, color, secondary, x_from, x_to)


def sample_tracklet_spec(
    cfg: SyntheticConfig, camera: Camera, rng: np.random.Generator
) -> TrackletSpec:
    """Length, view (around the camera's walking axis, either direction), gait, box jitter,
    background motion, illumination and (with ``cfg.occlusion_prob``) an occluder."""
    num_frames = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    yaw = camera.axis + float(rng.choice([0.0, np.pi])) + float(rng.normal(0.0, 0.3))
    # Misalignment = a per-tracklet bias plus per-frame detector noise.
    jitter = cfg.bbox_jitter
    bias = rng.normal(0.0, 1.0, 3)
    noise = rng.normal(0.0, 1.0, (3, num_frames))
    scale = np.exp(jitter * (0.5 * bias[0] + 0.8 * noise[0]))
    shift_x = jitter * (0.8 * bias[1] + 1.0 * noise[1])
    shift_y = 0.6 * jitter * (0.8 * bias[2] + 1.0 * noise[2])
    occluder = sample_occluder(num_frames, rng) if rng.random() < cfg.occlusion_prob else None
    return TrackletSpec(
        num_frames=num_frames,
        yaw=yaw,
        phase=float(rng.uniform(0.0, 2.0 * np.pi)),
        period=float(rng.uniform(7.0, 12.0)),
        scale=scale.astype(np.float32),
        shift_x=shift_x.astype(np.float32),
        shift_y=shift_y.astype(np.float32),
        bg_offset=float(rng.uniform(0.0, 1.0)),
        bg_speed=float(np.sin(yaw) * rng.uniform(0.01, 0.035)),
        illumination=float(np.exp(rng.normal(0.0, 0.08))),
        occluder=occluder,
        noise_seed=int(rng.integers(2**31)),
    )

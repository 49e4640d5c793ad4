"""Rendering a tracklet: background scene, walking person, occluder, camera look.

Everything is computed for all frames of the tracklet at once (see :mod:`.canvas`); the only
Python loops run over body parts, background props and frames of a crop, never over pixels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

from stgcn_reid.data.synthetic.canvas import Array, Canvas, per_frame
from stgcn_reid.data.synthetic.identities import Identity
from stgcn_reid.data.synthetic.person import draw_person
from stgcn_reid.data.synthetic.scene import Camera, Occluder, TrackletSpec

PANORAMA_WIDTHS = 4  # background scene width in frame widths
BACKGROUND_DESATURATION = 0.6
BACKGROUND_CONTRAST = 0.6
NOISE_BANK_SIZE = 1 << 23  # 8M values, 8x the pixels of a 40-frame 128 x 64 tracklet

WALL_COLORS = (
    (0.62, 0.60, 0.56),
    (0.74, 0.68, 0.56),
    (0.55, 0.30, 0.24),
    (0.45, 0.52, 0.58),
    (0.26, 0.36, 0.24),
    (0.82, 0.82, 0.80),
    (0.40, 0.40, 0.42),
)
FLOOR_COLORS = (
    (0.36, 0.36, 0.37),
    (0.66, 0.60, 0.50),
    (0.30, 0.44, 0.22),
    (0.72, 0.72, 0.70),
    (0.48, 0.40, 0.34),
)


def draw_occluder(canvas: Canvas, occluder: Occluder) -> None:
    """Paint the occluder in frames ``[start, stop)``, strictly inside its band of rows."""
    height, width = canvas.height, canvas.width
    r0, r1 = occluder_rows(occluder, height)
    run = slice(occluder.start, occluder.stop)
    frames = canvas.image[run, r0:r1]
    ys = np.arange(r0, r1, dtype=np.float32).reshape(1, -1, 1) + 0.5
    xs = np.arange(width, dtype=np.float32).reshape(1, 1, -1) + 0.5
    color = np.asarray(occluder.color, dtype=np.float32)
    secondary = np.asarray(occluder.secondary, dtype=np.float32)
    if occluder.kind == "box":
        # Slats every 5 rows and a lit top edge read as a bench / bin / car body.
        slat = ((ys - r0) % 5 < 1) | (xs < 0)
        rgb = (
            np.where(slat[..., None], secondary, color)
            * (1.15 - 0.3 * (ys - r0) / height)[..., None]
        )
        rgb = np.where((ys - r0 < 2)[..., None], np.minimum(color * 1.4, 1.0), rgb)
        frames[:] = np.broadcast_to(rgb, frames.shape)
        return
    if occluder.kind == "barrier":
        period = max(width / 6, 3.0)
        stripe = ((xs + ys) // period) % 2 > 0
        rgb = np.where(stripe[..., None], secondary, color)
        edge = (ys - r0 < 1) | (r1 - ys < 1)
        rgb = np.where(edge[..., None], np.float32(0.1), rgb)
        frames[:] = np.broadcast_to(rgb, frames.shape)
        return
    # A closer pedestrian crossing: head and shoulders rising from the bottom of the frame.
    count = occluder.stop - occluder.start
    progress = np.linspace(0.0, 1.0, count, dtype=np.float32)
    cx = per_frame(width * (0.5 + occluder.x_from + (occluder.x_to - occluder.x_from) * progress))
    head_r = 0.085 * height
    head_cy = r0 + head_r
    head_q = ((xs - cx) / (0.8 * head_r)) ** 2 + ((ys - head_cy) / head_r) ** 2
    shoulders_cy = head_cy + 0.26 * height
    body_q = ((xs - cx) / (0.4 * width)) ** 2 + ((ys - shoulders_cy) / (0.2 * height)) ** 2
    head = (head_q <= 1.0)[..., None]
    # Rounded shading so the blob reads as a body, not a flat sticker.
    rgb = np.where(head, secondary, color) * (1.0 - 0.35 * np.minimum(body_q, head_q))[..., None]
    frames[:] = np.where(head | (body_q <= 1.0)[..., None], rgb, frames)


def occluder_rows(occluder: Occluder, height: int) -> tuple[int, int]:
    """Pixel rows ``[r0, r1)`` of the occluder's band."""
    return round(occluder.top * height), round(occluder.bottom * height)


def background_panorama(camera: Camera, height: int, width: int) -> Array:
    """A camera's scene, ``PANORAMA_WIDTHS`` frame widths wide: a wall (windows, bricks or
    columns) above a tiled floor, a few props, and low-frequency lighting variation."""
    rng = np.random.default_rng(camera.background_seed)
    pano_w = PANORAMA_WIDTHS * width
    ys = np.arange(height, dtype=np.float32).reshape(-1, 1) + 0.5
    xs = np.arange(pano_w, dtype=np.float32).reshape(1, -1) + 0.5
    horizon = float(rng.uniform(0.45, 0.7)) * height
    wall = np.asarray(WALL_COLORS[rng.integers(len(WALL_COLORS))], dtype=np.float32)
    floor = np.asarray(FLOOR_COLORS[rng.integers(len(FLOOR_COLORS))], dtype=np.float32)
    accent = np.clip(wall * rng.uniform(0.5, 0.8) + rng.uniform(0.0, 0.1, 3), 0, 1)
    style = rng.integers(3)
    period = rng.uniform(0.35, 0.7) * width
    if style == 0:  # windows
        in_x = (xs % period) < 0.6 * period
        in_y = (
            (ys > 0.12 * height)
            & (ys < horizon - 0.1 * height)
            & ((ys % (0.3 * height)) < 0.2 * height)
        )
        pattern = in_x & in_y
    elif style == 1:  # bricks: rows of staggered blocks, mortar lines lit
        row_h = height / 24
        row = np.floor(ys / row_h)
        pattern = ((ys % row_h) < 1) | (((xs + (row % 2) * period / 4) % (period / 2)) < 1)
    else:  # columns
        pattern = (xs % period) < 0.18 * period
    scene = np.where(pattern[..., None], accent, wall) * np.ones((height, pano_w, 1), np.float32)
    # Floor tiles in perspective: rows compress towards the horizon, columns converge.
    depth = np.maximum(ys - horizon, 0.0) + 0.06 * height
    tile_u = np.floor((xs - pano_w / 2) / depth * 1.5)
    tile_v = np.floor(np.log(depth) * 4.0)
    tiles = ((tile_u + tile_v) % 2)[..., None]
    floor_rgb = floor * (0.92 + 0.1 * tiles)
    scene = np.where((ys > horizon)[..., None], floor_rgb, scene)
    for _ in range(int(rng.integers(2, 6))):  # props: doors, bins, plants against the wall
        x0 = rng.uniform(0, pano_w)
        w, h = rng.uniform(0.2, 0.6) * width, rng.uniform(0.15, 0.45) * height
        prop = (xs > x0) & (xs < x0 + w) & (ys > horizon - h) & (ys < horizon + 0.03 * height)
        scene = np.where(prop[..., None], rng.uniform(0.05, 0.8, 3).astype(np.float32), scene)
    light = ndimage.zoom(rng.normal(0.0, 1.0, (height // 16 + 2, pano_w // 16 + 2)), 16, order=1)
    scene = scene * (1.0 + 0.1 * light[:height, :pano_w, None])
    # Street scenes are mostly dull: muting saturation and contrast keeps the camera-specific
    # background from outweighing the person in any color statistic of the crop.
    gray = scene.mean(axis=-1, keepdims=True)
    scene = scene + BACKGROUND_DESATURATION * (gray - scene)
    mean = scene.mean()
    scene = mean + BACKGROUND_CONTRAST * (scene - mean)
    return np.clip(scene, 0.0, 1.0).astype(np.float32)


def background_frames(panorama: Array, spec: TrackletSpec, width: int) -> Array:
    """Per-frame crops of the panorama along the walker's path, ``(T, H, W, 3)``."""
    free = panorama.shape[1] - width
    travel = spec.bg_speed * width * np.arange(spec.num_frames)
    left = np.clip(spec.bg_offset * free + travel + spec.shift_x * width, 0, free)
    # One contiguous slice per frame: cheaper than a fancy-indexed gather plus transpose.
    return np.stack([panorama[:, x : x + width] for x in left.round().astype(np.int64)])


@lru_cache(maxsize=1)
def _noise_bank() -> Array:
    # Drawing fresh Gaussian noise for every pixel costs more than all the drawing; a fixed
    # bank read at a per-tracklet random offset is as good for sensor noise and deterministic.
    return np.random.default_rng(0).standard_normal(NOISE_BANK_SIZE, dtype=np.float32)


def apply_camera(frames: Array, camera: Camera, spec: TrackletSpec) -> Array:
    """Camera look on linear RGB frames: gain (color cast x brightness x tracklet lighting),
    gamma, desaturation, blur and sensor noise; returns uint8."""
    img = frames * (np.asarray(camera.gain, dtype=np.float32) * np.float32(spec.illumination))
    np.clip(img, 0.0, 1.0, out=img)
    img **= np.float32(camera.gamma)
    gray = img @ np.full(3, 1.0 / 3.0, dtype=np.float32)
    img += np.float32(camera.desaturation) * (gray[..., None] - img)
    if camera.blur > 0.05:
        img = ndimage.gaussian_filter(
            img, sigma=(0, camera.blur, camera.blur, 0), mode="nearest", truncate=2.5
        )
    rng = np.random.default_rng(spec.noise_seed)
    bank = _noise_bank()
    if img.size <= bank.size // 2:
        offset = rng.integers(0, bank.size - img.size)
        noise = bank[offset : offset + img.size].reshape(img.shape)
    else:
        noise = rng.standard_normal(img.shape, dtype=np.float32)
    img *= 255.0
    img += np.float32(camera.noise) * noise
    return np.clip(img, 0, 255).round().astype(np.uint8)


def render_tracklet(
    identity: Identity,
    camera: Camera,
    spec: TrackletSpec,
    panorama: Array,
) -> Array:
    """All frames of one tracklet as ``(T, H, W, 3)`` uint8; ``panorama`` is the camera's
    :func:`background_panorama` at the output size."""
    width = panorama.shape[1] // PANORAMA_WIDTHS
    canvas = Canvas(background_frames(panorama, spec, width))
    draw_person(canvas, identity, spec)
    if spec.occluder is not None:
        draw_occluder(canvas, spec.occluder)
    return apply_camera(canvas.image, camera, spec)

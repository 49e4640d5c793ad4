"""Anti-aliased shape primitives evaluated for every frame of a tracklet at once.

Per-frame shape parameters are ``(T, 1, 1)`` arrays broadcast against the pixel grid of the
shape's bounding window (the union of its per-frame boxes), so drawing a shape into a whole
tracklet is a handful of array operations whatever its length. Coverage is the clipped signed
distance to the edge (1-pixel anti-aliasing); shapes are painted back to front.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Array = np.ndarray


def per_frame(values: Array | float) -> Array:
    """Per-frame values as ``(T, 1, 1)`` float32 for broadcasting against a ``(h, w)`` grid."""
    return np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)


@dataclass
class Patch:
    """Coverage of a shape inside its window ``rows x cols`` for all frames, with a shading
    factor and shape-local coordinates (``u`` along the shape, ``v`` across it, for textures)."""

    rows: slice
    cols: slice
    cover: Array
    shade: Array
    u: Array | None = None
    v: Array | None = None


class Canvas:
    """``T`` RGB float frames painted back to front with anti-aliased shapes."""

    def __init__(self, image: Array) -> None:
        self.image = image
        self.num_frames, self.height, self.width, _ = image.shape
        self._ys = np.arange(self.height, dtype=np.float32) + 0.5
        self._xs = np.arange(self.width, dtype=np.float32) + 0.5

    def window(
        self, x_lo: Array, x_hi: Array, y_lo: Array, y_hi: Array
    ) -> tuple[slice, slice, Array, Array] | None:
        """Union over frames of a per-frame bounding box plus the 1-pixel anti-aliasing margin,
        clipped to the frame, with its pixel-centre grid (``(1, h, 1)`` and ``(1, 1, w)``)."""
        r0 = max(int(np.floor(np.min(y_lo))) - 1, 0)
        r1 = min(int(np.ceil(np.max(y_hi))) + 1, self.height)
        c0 = max(int(np.floor(np.min(x_lo))) - 1, 0)
        c1 = min(int(np.ceil(np.max(x_hi))) + 1, self.width)
        if r0 >= r1 or c0 >= c1:
            return None
        return (
            slice(r0, r1),
            slice(c0, c1),
            self._ys[r0:r1].reshape(1, -1, 1),
            self._xs[c0:c1].reshape(1, 1, -1),
        )

    def paint(self, patch: Patch | None, color: Array) -> None:
        """Alpha-composite the shaded ``color`` (RGB or a per-pixel map) over the patch."""
        if patch is None:
            return
        region = self.image[:, patch.rows, patch.cols]
        # In-place lerp region += alpha * (rgb - region) with a single temporary: painting is
        # the generator's hot loop.
        delta = np.asarray(color, dtype=np.float32) * patch.shade[..., None]
        delta -= region
        delta *= patch.cover[..., None]
        region += delta

    def capsule(self, a: tuple[Array, Array], b: tuple[Array, Array], r: Array) -> Patch | None:
        """Segment ``a``-``b`` thickened by radius ``r`` (limbs); darker towards the rim."""
        ax, ay, bx, by = (per_frame(v) for v in (*a, *b))
        rr = per_frame(r)
        win = self.window(
            np.minimum(ax, bx) - rr,
            np.maximum(ax, bx) + rr,
            np.minimum(ay, by) - rr,
            np.maximum(ay, by) + rr,
        )
        if win is None:
            return None
        rows, cols, ys, xs = win
        vx, vy = bx - ax, by - ay
        t = ((xs - ax) * vx + (ys - ay) * vy) / np.maximum(vx * vx + vy * vy, 1e-6)
        t = np.clip(t, 0.0, 1.0)
        dist = np.hypot(xs - ax - t * vx, ys - ay - t * vy)
        cover = np.clip(rr - dist + 0.5, 0.0, 1.0)
        shade = 1.0 - 0.35 * np.clip(dist / rr, 0.0, 1.0) ** 2
        return Patch(rows, cols, cover, shade)

    def ellipse(self, cx: Array, cy: Array, rx: Array, ry: Array) -> Patch | None:
        """Axis-aligned ellipse; ``u`` (down) and ``v`` (right) are the local coordinates
        normalised by the radii."""
        cx, cy, rx, ry = (per_frame(v) for v in (cx, cy, rx, ry))
        win = self.window(cx - rx, cx + rx, cy - ry, cy + ry)
        if win is None:
            return None
        rows, cols, ys, xs = win
        v, u = (xs - cx) / rx, (ys - cy) / ry
        q = np.sqrt(u * u + v * v)
        cover = np.clip(0.5 - (q - 1.0) * np.minimum(rx, ry), 0.0, 1.0)
        return Patch(rows, cols, cover, 1.0 - 0.25 * np.clip(q, 0.0, 1.0) ** 2, u, v)

    def trapezoid(
        self, cx: Array, y_top: Array, y_bottom: Array, half_top: Array, half_bottom: Array
    ) -> Patch | None:
        """Vertically symmetric quad with horizontal top and bottom edges (torso, pelvis, bags);
        ``u`` runs 0..1 top to bottom, ``v`` -1..1 left to right; shaded like a cylinder."""
        cx, y_top, y_bottom = per_frame(cx), per_frame(y_top), per_frame(y_bottom)
        half_top, half_bottom = per_frame(half_top), per_frame(half_bottom)
        widest = np.maximum(half_top, half_bottom)
        win = self.window(cx - widest, cx + widest, y_top, y_bottom)
        if win is None:
            return None
        rows, cols, ys, xs = win
        u = (ys - y_top) / np.maximum(y_bottom - y_top, 1e-3)
        half = half_top + (half_bottom - half_top) * u
        v = (xs - cx) / np.maximum(half, 1e-3)
        outside = np.maximum(np.abs(xs - cx) - half, np.maximum(y_top - ys, ys - y_bottom))
        cover = np.clip(0.5 - outside, 0.0, 1.0)
        return Patch(rows, cols, cover, 1.0 - 0.3 * np.clip(v, -1.0, 1.0) ** 2, u, v)

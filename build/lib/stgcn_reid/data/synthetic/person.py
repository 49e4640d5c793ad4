"""A walking person drawn into all frames of a tracklet.

Geometry: the person lives in "box units" (1 = frame height, x centred on the box, y down from
the box top). A point has a lateral offset ``l`` (the person's left > 0), a forward offset ``f``
and a height ``y``; the body yaw ``psi`` (0 = facing the camera) projects it to
``x = l cos(psi) + f sin(psi)``, and its depth towards the camera is ``f cos(psi) - l sin(psi)``.
Per-frame box jitter then maps box units to pixels (:class:`BoxFrame`). The gait swings the
thighs and arms in antiphase with a knee bend during the forward swing, and the lower foot
stays on the ground, so the body dips at double support.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stgcn_reid.data.synthetic.canvas import Array, Canvas, Patch
from stgcn_reid.data.synthetic.identities import Identity
from stgcn_reid.data.synthetic.scene import TrackletSpec

Point = tuple[Array, Array]
LEG_SWING = 0.45  # thigh swing amplitude, radians
KNEE_BEND = 0.8  # extra shin bend during the forward swing, radians
ARM_SWING = 0.4


@dataclass
class BoxFrame:
    """Per-frame map from box units to pixels (the jittered detection box)."""

    cx: Array
    cy: Array
    scale: Array

    @classmethod
    def of(cls, spec: TrackletSpec, height: int, width: int) -> BoxFrame:
        return cls(
            cx=width / 2 + spec.shift_x * width,
            cy=height / 2 + spec.shift_y * height,
            scale=spec.scale * height,
        )

    def x(self, x_box: Array | float) -> Array:
        return self.cx + self.scale * np.asarray(x_box, dtype=np.float32)

    def y(self, y_box: Array | float) -> Array:
        return self.cy + self.scale * (np.asarray(y_box, dtype=np.float32) - 0.5)

    def r(self, r_box: Array | float) -> Array:
        return self.scale * np.float32(r_box)


class Figure:
    """Body dimensions and per-frame pose of one identity in one tracklet, with one drawing
    method per body part; :meth:`draw` paints them back to front."""

    def __init__(self, canvas: Canvas, identity: Identity, spec: TrackletSpec) -> None:
        self.canvas, self.look, body = canvas, identity.look, identity.body
        self.box = BoxFrame.of(spec, canvas.height, canvas.width)
        self.cos, self.sin = float(np.cos(spec.yaw)), float(np.sin(spec.yaw))
        s = self.stature = body.stature
        self.head_h = body.head * s
        self.r_arm, self.r_leg = body.limb * s, 1.4 * body.limb * s
        self.sw, self.hw = body.shoulder * s, body.hip * s
        self.thigh = self.shin = 0.5 * (body.leg * s - self.r_leg)
        self.phase = spec.phase + 2 * np.pi * np.arange(spec.num_frames, dtype=np.float32) / (
            spec.period
        )
        self.legs = {side: self._leg_pose(side) for side in (1.0, -1.0)}
        hip_drop = self.thigh + self.shin - np.maximum(self.legs[1.0][3], self.legs[-1.0][3])
        self.top = 0.5 - s / 2 + hip_drop
        self.hip_y = self.top + s - body.leg * s
        self.shoulder_y = self.top + self.head_h + 0.035 * s
        self.torso_len = self.hip_y - self.shoulder_y
        self.sway = self.proj(0.006 * s * np.sin(self.phase), 0.0)
        self.pack_f = -0.85 * self.sw
        self.bag_l = -(self.hw + 0.05 * s)

    def proj(self, lateral: Array | float, forward: Array | float) -> Array:
        """Image x (box units, before sway) of a body point."""
        return np.asarray(lateral * self.cos + forward * self.sin, dtype=np.float32)

    def across(self, half_width: float, depth_ratio: float) -> float:
        """Apparent half-width of a part whose depth is ``depth_ratio`` times its width."""
        return half_width * (abs(self.cos) + depth_ratio * abs(self.sin))

    def point(self, lateral: Array | float, forward: Array | float, y: Array | float) -> Point:
        return self.box.x(self.sway + self.proj(lateral, forward)), self.box.y(y)

    def paint(self, patch: Patch | None, color: Array | tuple[float, float, float]) -> None:
        self.canvas.paint(patch, np.asarray(color, dtype=np.float32))

    def _leg_pose(self, side: float) -> tuple[Array, Array, Array, Array]:
        """Knee and ankle (forward, down) offsets from the hip of the leg on ``side``."""
        leg_phase = self.phase + (0.0 if side > 0 else np.pi)
        swing = LEG_SWING * np.sin(leg_phase)
        shin_angle = swing - KNEE_BEND * np.maximum(0.0, np.cos(leg_phase))
        knee_f, knee_y = self.thigh * np.sin(swing), self.thigh * np.cos(swing)
        return (
            knee_f,
            knee_y,
            knee_f + self.shin * np.sin(shin_angle),
            knee_y + self.shin * np.cos(shin_angle),
        )

    def leg(self, side: float) -> None:
        knee_f, knee_y, ankle_f, ankle_y = self.legs[side]
        lat, s, r = side * 0.5 * self.hw, self.stature, self.r_leg
        hip = self.point(lat, 0.0, self.hip_y)
        knee = self.point(lat, knee_f, self.hip_y + knee_y)
        ankle = self.point(lat, ankle_f, self.hip_y + ankle_y)
        shin_color = self.look.skin if self.look.shorts else self.look.lower
        self.paint(self.canvas.capsule(hip, knee, self.box.r(r)), self.look.lower)
        self.paint(self.canvas.capsule(knee, ankle, self.box.r(0.8 * r)), shin_color)
        heel = self.point(lat, ankle_f - 0.01 * s, self.hip_y + ankle_y)
        toe = self.point(lat, ankle_f + 0.05 * s, self.hip_y + ankle_y + 0.3 * r)
        self.paint(self.canvas.capsule(heel, toe, self.box.r(0.75 * r)), self.look.shoes)

    def arm(self, side: float) -> None:
        arm_phase = self.phase + (np.pi if side > 0 else 0.0)
        swing = ARM_SWING * np.sin(arm_phase)
        bend = swing + 0.25 + 0.35 * np.maximum(0.0, np.sin(arm_phase))
        s, r = self.stature, self.r_arm
        lat, splay, top = side * (self.sw - 0.6 * r), side * 0.012 * s, self.shoulder_y + r
        elbow_f, elbow_y = 0.18 * s * np.sin(swing), top + 0.18 * s * np.cos(swing)
        wrist_f, wrist_y = elbow_f + 0.21 * s * np.sin(bend), elbow_y + 0.21 * s * np.cos(bend)
        shoulder = self.point(lat, 0.0, top)
        elbow = self.point(lat + splay, elbow_f, elbow_y)
        wrist = self.point(lat + splay, wrist_f, wrist_y)
        sleeve = self.look.upper if self.look.long_sleeves else self.look.skin
        self.paint(self.canvas.capsule(shoulder, elbow, self.box.r(r)), self.look.upper)
        self.paint(self.canvas.capsule(elbow, wrist, self.box.r(0.85 * r)), sleeve)
        radius = self.box.r(r)
        self.paint(self.canvas.ellipse(wrist[0], wrist[1], radius, radius), self.look.skin)

    def pelvis(self) -> None:
        half, x = self.across(1.05 * self.hw, 0.65), self.box.x(self.sway)
        top, bottom = self.hip_y - 0.02 * self.stature, self.hip_y + 0.07 * self.stature
        patch = self.canvas.trapezoid(
            x, self.box.y(top), self.box.y(bottom), self.box.r(half), self.box.r(0.95 * half)
        )
        self.paint(patch, self.look.lower)

    def torso(self) -> None:
        top_half, bottom_half = self.across(self.sw, 0.6), self.across(1.05 * self.hw, 0.65)
        x, bottom = self.box.x(self.sway), self.hip_y + 0.02 * self.stature
        patch = self.canvas.trapezoid(
            x,
            self.box.y(self.shoulder_y),
            self.box.y(bottom),
            self.box.r(top_half),
            self.box.r(bottom_half),
        )
        self.canvas.paint(patch, self._upper_garment(patch))
        # Round shoulders: a capsule along the shoulder line.
        reach = max(top_half - self.r_arm, 0.0)
        y = self.box.y(self.shoulder_y + self.r_arm)
        ends = (self.box.x(self.sway - reach), y), (self.box.x(self.sway + reach), y)
        self.paint(self.canvas.capsule(*ends, self.box.r(1.1 * self.r_arm)), self.look.upper)

    def _upper_garment(self, patch: Patch | None) -> Array:
        """Upper-garment color map: plain, horizontal stripes or checks in torso coordinates."""
        look = self.look
        upper = np.asarray(look.upper, dtype=np.float32)
        if patch is None or patch.u is None or patch.v is None or look.texture == "plain":
            return upper
        n = look.texture_period
        if look.texture == "stripes":
            pattern = np.floor(patch.u * 2 * n) % 2
        else:
            pattern = (np.floor(patch.u * n) + np.floor((patch.v + 1.0) * n * 0.5)) % 2
        secondary = np.asarray(look.upper_secondary, dtype=np.float32)
        return np.where(pattern[..., None] > 0, secondary, upper)

    def head(self) -> None:
        h, x = self.head_h, self.box.x(self.sway)
        neck = (x, self.box.y(self.top + 0.8 * h)), (x, self.box.y(self.shoulder_y + 0.01))
        self.paint(self.canvas.capsule(*neck, self.box.r(0.2 * h)), self.look.skin)
        cx = self.box.x(self.sway + self.proj(0.0, 0.04 * h))
        patch = self.canvas.ellipse(
            cx, self.box.y(self.top + h / 2), self.box.r(0.4 * h), self.box.r(0.5 * h)
        )
        if patch is None or patch.u is None or patch.v is None:
            return
        # Hair: crown and sides from the front, the back of the head from the side and behind.
        u, v = patch.u, patch.v
        if self.cos < -0.35:
            hair = u < 0.4
        elif self.cos > 0.35:
            hair = (u < -0.35) | ((np.abs(v) > 0.8) & (u < 0.1))
        else:
            back = v * np.sign(self.sin) < -0.1 - 0.4 * np.maximum(u, 0.0)
            hair = (u < -0.35) | (back & (u < 0.4))
        hair_rgb, skin_rgb = np.float32(self.look.hair), np.float32(self.look.skin)
        self.canvas.paint(patch, np.where(hair[..., None], hair_rgb, skin_rgb))

    def hat(self) -> None:
        h = self.head_h
        crown = self.canvas.ellipse(
            self.box.x(self.sway),
            self.box.y(self.top + 0.2 * h),
            self.box.r(0.46 * h),
            self.box.r(0.26 * h),
        )
        if crown is not None and crown.u is not None:
            crown.cover = crown.cover * (crown.u < 0.45)  # flat bottom edge
        self.paint(crown, self.look.accessory)
        brim = self.canvas.ellipse(
            self.box.x(self.sway + self.proj(0.0, 0.15 * h)),
            self.box.y(self.top + 0.3 * h),
            self.box.r(self.across(0.55 * h, 1.0)),
            self.box.r(0.07 * h),
        )
        self.paint(brim, self.look.accessory)

    def backpack(self) -> None:
        x = self.box.x(self.sway + self.proj(0.0, self.pack_f))
        half = self.box.r(self.across(0.8 * self.hw, 0.5))
        top = self.box.y(self.shoulder_y + 0.08 * self.torso_len)
        bottom = self.box.y(self.shoulder_y + 0.65 * self.torso_len)
        self.paint(self.canvas.trapezoid(x, top, bottom, half, half), self.look.accessory)

    def straps(self) -> None:
        half = self.across(self.sw, 0.6)
        for side in (1.0, -1.0):
            start = (self.box.x(self.sway + side * 0.45 * half), self.box.y(self.shoulder_y))
            end_y = self.box.y(self.shoulder_y + 0.55 * self.torso_len)
            end = (self.box.x(self.sway + side * 0.5 * half), end_y)
            strap = self.canvas.capsule(start, end, self.box.r(0.35 * self.r_arm))
            self.paint(strap, self.look.accessory)

    def bag(self) -> None:
        s = self.stature
        x = self.box.x(self.sway + self.proj(self.bag_l, 0.01 * s * np.sin(self.phase)))
        top, bottom = self.box.y(self.hip_y - 0.02 * s), self.box.y(self.hip_y + 0.08 * s)
        strap_start = self.point(0.6 * self.sw, 0.0, self.shoulder_y)
        strap = self.canvas.capsule(strap_start, (x, top), self.box.r(0.3 * self.r_arm))
        self.paint(strap, self.look.accessory)
        half = self.across(0.055 * s, 0.4)
        patch = self.canvas.trapezoid(x, top, bottom, self.box.r(half), self.box.r(1.1 * half))
        self.paint(patch, self.look.accessory)

    def parts(self) -> list[tuple[float, Callable[[], None]]]:
        """``(depth towards the camera, draw)`` of every visible part; small offsets break ties
        (arms in front of the torso in frontal views, legs behind the pelvis)."""
        parts: list[tuple[float, Callable[[], None]]] = []
        for side in (1.0, -1.0):
            parts.append((-side * 0.5 * self.hw * self.sin - 0.05, lambda s=side: self.leg(s)))
            parts.append((-side * self.sw * self.sin + 0.02, lambda s=side: self.arm(s)))
        parts += [(-0.03, self.pelvis), (0.0, self.torso), (0.03, self.head)]
        if self.look.hat:
            parts.append((0.04, self.hat))
        if self.look.backpack:
            parts.append((self.pack_f * self.cos - 0.001, self.backpack))
            if self.cos > 0.3:
                parts.append((0.005, self.straps))
        if self.look.bag:
            bag_depth = -self.bag_l * self.sin + 0.025 if self.cos > -0.3 else -0.02
            parts.append((bag_depth, self.bag))
        return parts

    def draw(self) -> None:
        for _, draw in sorted(self.parts(), key=lambda item: item[0]):
            draw()


def draw_person(canvas: Canvas, identity: Identity, spec: TrackletSpec) -> None:
    """Paint ``identity`` walking through every frame of ``canvas`` as ``spec`` prescribes."""
    Figure(canvas, identity, spec).draw()

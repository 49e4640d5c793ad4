"""Identities of the synthetic benchmark: body structure, clothing, accessories, confuser groups.

A confuser group is the paper's Figure 1 (b) vs (d) case: people dressed identically (same
colors, texture and accessories) whose body structure differs, so only structure separates them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stgcn_reid.data.synthetic.config import SyntheticConfig

RGB = tuple[float, float, float]

# Clothing palettes (linear 0..1 RGB) with sampling weights. Dark and neutral garments dominate,
# as in surveillance footage, so unrelated people often share a color by chance too.
UPPER_COLORS: dict[str, tuple[RGB, float]] = {
    "black": ((0.08, 0.08, 0.09), 3.0),
    "charcoal": ((0.24, 0.24, 0.26), 2.0),
    "gray": ((0.52, 0.52, 0.54), 1.5),
    "white": ((0.90, 0.90, 0.88), 2.0),
    "navy": ((0.10, 0.14, 0.36), 1.5),
    "blue": ((0.20, 0.36, 0.72), 1.0),
    "light_blue": ((0.56, 0.70, 0.88), 0.8),
    "red": ((0.72, 0.12, 0.12), 0.8),
    "maroon": ((0.42, 0.10, 0.14), 0.6),
    "green": ((0.20, 0.46, 0.22), 0.6),
    "olive": ((0.42, 0.42, 0.20), 0.5),
    "beige": ((0.78, 0.70, 0.52), 0.8),
    "brown": ((0.42, 0.28, 0.16), 0.6),
    "yellow": ((0.90, 0.80, 0.20), 0.4),
    "orange": ((0.92, 0.46, 0.12), 0.3),
    "pink": ((0.92, 0.56, 0.66), 0.4),
    "purple": ((0.42, 0.22, 0.52), 0.3),
}
LOWER_COLORS: dict[str, tuple[RGB, float]] = {
    "black": ((0.07, 0.07, 0.08), 3.0),
    "charcoal": ((0.22, 0.22, 0.24), 1.5),
    "gray": ((0.48, 0.48, 0.50), 1.0),
    "denim": ((0.24, 0.34, 0.52), 2.5),
    "navy": ((0.10, 0.13, 0.30), 1.2),
    "khaki": ((0.70, 0.62, 0.44), 1.0),
    "brown": ((0.38, 0.26, 0.16), 0.6),
    "white": ((0.86, 0.86, 0.84), 0.4),
    "olive": ((0.36, 0.38, 0.20), 0.4),
}
SHOE_COLORS: dict[str, tuple[RGB, float]] = {
    "black": ((0.06, 0.06, 0.06), 3.0),
    "white": ((0.92, 0.92, 0.92), 2.0),
    "gray": ((0.45, 0.45, 0.47), 1.0),
    "brown": ((0.35, 0.22, 0.12), 1.0),
    "red": ((0.70, 0.12, 0.10), 0.3),
}
HAIR_COLORS: dict[str, tuple[RGB, float]] = {
    "black": ((0.05, 0.04, 0.04), 3.0),
    "dark_brown": ((0.20, 0.12, 0.07), 2.0),
    "brown": ((0.40, 0.26, 0.14), 1.0),
    "blond": ((0.80, 0.68, 0.40), 0.6),
    "gray": ((0.62, 0.62, 0.62), 0.4),
}
SKIN_TONES: tuple[RGB, ...] = (
    (0.96, 0.80, 0.69),
    (0.89, 0.69, 0.56),
    (0.78, 0.57, 0.44),
    (0.62, 0.43, 0.31),
    (0.44, 0.30, 0.21),
)
TEXTURES: dict[str, float] = {"plain": 0.5, "stripes": 0.3, "checks": 0.2}

# Body structure ranges (fractions, see BodyShape). Wide enough that members of a confuser group
# differ visibly at 128 x 64: e.g. stature 0.70..0.95 of the frame height is 32 pixels.
STRUCTURE_RANGES: dict[str, tuple[float, float]] = {
    "stature": (0.78, 0.97),
    "shoulder": (0.095, 0.165),
    "hip": (0.07, 0.125),
    "leg": (0.42, 0.56),
    "head": (0.11, 0.16),
    "limb": (0.026, 0.040),
}
# Confuser group members: statures at least this far apart (a fraction of the frame height,
# about 3 pixels at height 128) and whole structure vectors (normalised to [0, 1] per range) at
# least CONFUSER_MIN_STRUCTURE_GAP apart, so structure always tells them apart.
CONFUSER_MIN_STATURE_GAP = 0.025
CONFUSER_MIN_STRUCTURE_GAP = 0.6


@dataclass(frozen=True)
class BodyShape:
    """Body structure; every ratio except ``stature`` is relative to the stature.

    stature: head top to soles as a fraction of the frame height (height in the frame).
    shoulder / hip: half-widths of the shoulders and hips.
    leg: hip-joint height (leg length), so ``1 - leg`` is the torso-plus-head share.
    head: head height.
    limb: arm radius (thighs are 1.4x thicker).
    """

    stature: float
    shoulder: float
    hip: float
    leg: float
    head: float
    limb: float

    def normalised(self) -> np.ndarray:
        """The structure as a vector in [0, 1]^6 (each entry scaled by its sampling range)."""
        return np.array(
            [(getattr(self, key) - lo) / (hi - lo) for key, (lo, hi) in STRUCTURE_RANGES.items()]
        )


@dataclass(frozen=True)
class Appearance:
    """Clothing, hair and accessories: everything a confuser group shares."""

    skin: RGB
    hair: RGB
    upper: RGB
    upper_secondary: RGB
    lower: RGB
    shoes: RGB
    texture: str
    texture_period: int
    long_sleeves: bool
    shorts: bool
    bag: bool
    backpack: bool
    hat: bool
    accessory: RGB


@dataclass(frozen=True)
class Identity:
    """One person. ``role`` is ``train``, ``test``, ``distractor`` or ``val``; ``group`` is the
    confuser group index, or -1 for a person outside every group."""

    pid: int
    role: str
    body: BodyShape
    look: Appearance
    group: int = -1


def pick_color(rng: np.random.Generator, palette: dict[str, tuple[RGB, float]]) -> RGB:
    """A weighted draw from ``palette`` with a small per-person shade variation."""
    names = list(palette)
    weights = np.array([palette[n][1] for n in names])
    base = np.array(palette[names[rng.choice(len(names), p=weights / weights.sum())]][0])
    # Same named color, not the same dye lot.
    return _rgb(np.clip(base + rng.normal(0.0, 0.025, 3), 0.0, 1.0))


def _rgb(values: np.ndarray) -> RGB:
    return (float(values[0]), float(values[1]), float(values[2]))


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Independent draw of clothing colors, upper texture, sleeves and accessories."""
    upper = pick_color(rng, UPPER_COLORS)
    secondary = upper
    # A texture needs a second color that actually contrasts with the first.
    while np.abs(np.subtract(secondary, upper)).sum() < 0.6:
        secondary = pick_color(rng, UPPER_COLORS)
    texture_names = list(TEXTURES)
    texture_p = np.array([TEXTURES[n] for n in texture_names])
    backpack = bool(rng.random() < 0.25)
    return Appearance(
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))],
        hair=pick_color(rng, HAIR_COLORS),
        upper=upper,
        upper_secondary=secondary,
        lower=pick_color(rng, LOWER_COLORS),
        shoes=pick_color(rng, SHOE_COLORS),
        texture=texture_names[rng.choice(len(texture_names), p=texture_p / texture_p.sum())],
        texture_period=int(rng.integers(3, 7)),
        long_sleeves=bool(rng.random() < 0.6),
        shorts=bool(rng.random() < 0.2),
        bag=bool(not backpack and rng.random() < 0.3),
        backpack=backpack,
        hat=bool(rng.random() < 0.15),
        accessory=pick_color(rng, UPPER_COLORS),
    )


def sample_body(rng: np.random.Generator) -> BodyShape:
    """Independent uniform draw of every structure parameter over STRUCTURE_RANGES."""
    return BodyShape(
        **{key: float(rng.uniform(lo, hi)) for key, (lo, hi) in STRUCTURE_RANGES.items()}
    )


def sample_confuser_bodies(rng: np.random.Generator, size: int) -> list[BodyShape]:
    """``size`` bodies that differ clearly in structure.

    Statures are drawn with a guaranteed minimum spacing (uniform spacings on a shortened range,
    shifted apart), then the other ratios are redrawn until each new member is far enough from
    the earlier ones in normalised structure space.
    """
    lo, hi = STRUCTURE_RANGES["stature"]
    slack = (hi - lo) - (size - 1) * CONFUSER_MIN_STATURE_GAP
    statures = np.sort(rng.uniform(0.0, slack, size)) + lo
    statures += np.arange(size) * CONFUSER_MIN_STATURE_GAP
    statures = statures[rng.permutation(size)]
    bodies: list[BodyShape] = []
    for stature in statures:
        candidate = sample_body(rng)
        for _ in range(200):
            candidate = BodyShape(**{**candidate.__dict__, "stature": float(stature)})
            if all(
                np.linalg.norm(candidate.normalised() - b.normalised())
                >= CONFUSER_MIN_STRUCTURE_GAP
                for b in bodies
            ):
                break
            candidate = sample_body(rng)
        bodies.append(candidate)
    return bodies


def _confuser_groups(
    rng: np.random.Generator, members: np.ndarray, share: float, size: int
) -> list[np.ndarray]:
    num_groups = round(share * len(members)) // size
    chosen = rng.permutation(members)[: num_groups * size]
    return [chosen[i * size : (i + 1) * size] for i in range(num_groups)]


def sample_identities(cfg: SyntheticConfig, rng: np.random.Generator) -> list[Identity]:
    """All identities, ordered train, test, distractor, val, with shuffled 1-based pids.

    Confuser groups are formed inside the training identities, inside the test identities
    plus distractors, and inside the validation identities, so that each gallery holds
    look-alikes of its queries and training holds look-alikes the model can learn structure
    from.
    """
    roles = (
        ["train"] * cfg.num_train_ids
        + ["test"] * cfg.num_test_ids
        + ["distractor"] * cfg.num_distractors
        + ["val"] * cfg.num_val_ids
    )
    num_test_side = cfg.num_train_ids + cfg.num_test_ids + cfg.num_distractors
    pids = rng.permutation(len(roles)) + 1
    bodies = [sample_body(rng) for _ in roles]
    looks = [sample_appearance(rng) for _ in roles]
    groups = [-1] * len(roles)
    pools = (
        np.arange(cfg.num_train_ids),
        np.arange(cfg.num_train_ids, num_test_side),
        np.arange(num_test_side, len(roles)),
    )
    group_index = 0
    for pool in pools:
        for members in _confuser_groups(rng, pool, cfg.confuser_share, cfg.confuser_group_size):
            shared_look = sample_appearance(rng)
            for i, body in zip(members, sample_confuser_bodies(rng, len(members)), strict=True):
                looks[i], bodies[i], groups[i] = shared_look, body, group_index
            group_index += 1
    return [
        Identity(int(pid), role, body, look, group)
        for pid, role, body, look, group in zip(pids, roles, bodies, looks, groups, strict=True)
    ]

"""Generator parameters of the synthetic video re-id benchmark, its presets and its cache key."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from stgcn_reid.utils.io import json_digest

# Bumped whenever drawing or sampling code changes what a given config produces, so that caches
# written by an older generator are never mistaken for the current one.
GENERATOR_VERSION = 2  # 2: validation identities; F numbers frames from F0001


class SyntheticConfigError(ValueError):
    """A generator parameter is unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class SyntheticConfig:
    """Every parameter that changes the generated benchmark (all of them enter the cache hash).

    Identity counts:
        num_train_ids, num_test_ids: identities of the training split and of query/gallery.
        num_distractors: identities that appear in the gallery only.
        num_val_ids: validation identities (their own query/gallery, disjoint from both).
    Capture:
        num_cameras: cameras of the network (each has its own background, color cast, blur,
            noise and dominant walking direction).
        cameras_per_id_max: an identity is seen by 2..cameras_per_id_max cameras.
        tracklets_per_id_min / _max: tracklets per identity over its cameras (at least one per
            camera, so ``tracklets_per_id_min >= 2``).
        min_frames / max_frames: tracklet length range in frames.
        height / width: frame size in pixels.
    The paper's two problems:
        occlusion_prob: share of tracklets in which an occluder hides a horizontal band of the
            person during a run of frames (Figure 1a).
        confuser_share: share of identities that belong to a confuser group.
        confuser_group_size: identities per confuser group; members share every color, texture
            and accessory and differ only in body structure (Figure 1b vs 1d).
    Nuisances:
        camera_shift: strength of the per-camera color cast, brightness and desaturation.
        max_blur: largest per-camera Gaussian blur sigma in pixels.
        max_noise: largest per-camera noise standard deviation in 8-bit levels.
        bbox_jitter: per-frame bounding-box misalignment (relative scale std; offsets scale
            with it).
        jpeg_quality: PIL JPEG quality of the written frames.
    """

    seed: int = 0
    num_train_ids: int = 150
    num_test_ids: int = 100
    num_distractors: int = 30
    num_val_ids: int = 30
    num_cameras: int = 6
    cameras_per_id_max: int = 3
    tracklets_per_id_min: int = 2
    tracklets_per_id_max: int = 4
    min_frames: int = 8
    max_frames: int = 40
    height: int = 128
    width: int = 64
    occlusion_prob: float = 0.3
    confuser_share: float = 0.4
    confuser_group_size: int = 3
    camera_shift: float = 0.1
    max_blur: float = 1.0
    max_noise: float = 6.0
    bbox_jitter: float = 0.04
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise SyntheticConfigError(f"synthetic.{f.name}: expected an int, got {value!r}")
            if f.type == "float" and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise SyntheticConfigError(f"synthetic.{f.name}: expected a number, got {value!r}")
        self._check_ranges()

    def _check_ranges(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            ("num_train_ids", self.num_train_ids >= 2, ">= 2"),
            ("num_test_ids", self.num_test_ids >= 2, ">= 2"),
            ("num_distractors", self.num_distractors >= 0, ">= 0"),
            ("num_val_ids", self.num_val_ids == 0 or self.num_val_ids >= 2, "0 or >= 2"),
            ("num_cameras", 2 <= self.num_cameras <= 9, "in [2, 9] (one digit in file names)"),
            (
                "cameras_per_id_max",
                2 <= self.cameras_per_id_max <= self.num_cameras,
                "in [2, num_cameras]",
            ),
            ("tracklets_per_id_min", self.tracklets_per_id_min >= 2, ">= 2"),
            (
                "tracklets_per_id_max",
                self.tracklets_per_id_max >= self.tracklets_per_id_min,
                ">= tracklets_per_id_min",
            ),
            ("min_frames", self.min_frames >= 4, ">= 4"),
            ("max_frames", self.min_frames <= self.max_frames <= 9999, "in [min_frames, 9999]"),
            ("height", self.height >= 32, ">= 32"),
            ("width", 16 <= self.width <= self.height, "in [16, height]"),
            ("occlusion_prob", 0.0 <= self.occlusion_prob <= 1.0, "in [0, 1]"),
            ("confuser_share", 0.0 <= self.confuser_share <= 1.0, "in [0, 1]"),
            ("confuser_group_size", 2 <= self.confuser_group_size <= 8, "in [2, 8]"),
            ("camera_shift", 0.0 <= self.camera_shift <= 0.5, "in [0, 0.5]"),
            ("max_blur", 0.0 <= self.max_blur <= 3.0, "in [0, 3]"),
            ("max_noise", 0.0 <= self.max_noise <= 30.0, "in [0, 30]"),
            ("bbox_jitter", 0.0 <= self.bbox_jitter <= 0.15, "in [0, 0.15]"),
            ("jpeg_quality", 50 <= self.jpeg_quality <= 100, "in [50, 100]"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise SyntheticConfigError(
                    f"synthetic.{key}: expected {expected}, got {getattr(self, key)!r}"
                )

    def cache_key(self) -> str:
        """Short hash of every parameter and the generator version (the cache folder suffix)."""
        return json_digest({"generator_version": GENERATOR_VERSION, **asdict(self)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    # Quick on CPU: ~310 identities, ~900 tracklets, ~22k frames at 128 x 64.
    "default": {},
    # For ablations: the paper's two problems turned up (most identities in larger confuser
    # groups, more occluded tracklets, more misalignment); nuisances as in the default. 500 test
    # identities (queries), so that the choice of queries moves mAP by well under a point;
    # 100 validation identities to choose checkpoints with.
    "hard": {
        "num_test_ids": 500,
        "num_distractors": 150,
        "num_val_ids": 100,
        "occlusion_prob": 0.6,
        "confuser_share": 0.8,
        "confuser_group_size": 5,
        "bbox_jitter": 0.06,
    },
    # Backbone pretraining (experiment=pretrain), this project's stand-in for ImageNet: a
    # population of its own seed (other people, other camera scenes, colour casts and walking
    # directions), 8 cameras instead of 6, 4x the training identities of the benchmarks, and
    # the default nuisance and occlusion rates. Its validation identities give the curve that
    # picks the exported weights; its two test identities are never used (test: false).
    "pretrain": {
        "seed": 7919,
        "num_train_ids": 600,
        "num_test_ids": 2,
        "num_distractors": 0,
        "num_val_ids": 60,
        "num_cameras": 8,
    },
}

PARAMETER_NAMES: tuple[str, ...] = tuple(f.name for f in fields(SyntheticConfig))


def make_config(preset: str = "default", **overrides: Any) -> SyntheticConfig:
    """The config of ``preset`` with ``overrides`` applied; unknown names raise with the list."""
    if preset not in PRESETS:
        raise SyntheticConfigError(
            f"synthetic.preset: unknown preset {preset!r}; expected one of {sorted(PRESETS)}"
        )
    unknown = sorted(set(overrides) - set(PARAMETER_NAMES))
    if unknown:
        raise SyntheticConfigError(
            f"synthetic: unknown parameter(s) {unknown}; valid parameters are "
            f"preset, {', '.join(PARAMETER_NAMES)}"
        )
    return replace(SyntheticConfig(), **{**PRESETS[preset], **overrides})

"""PNG grid of synthetic tracklets: a confuser group, occluded runs, camera looks, a gait cycle.

``python -m stgcn_reid.data.synthetic.preview [--out docs/img/synthetic_preview.png]
[--preset default] [--seed 0]`` renders straight from the benchmark plan (nothing is written
to the dataset cache), so it takes a few seconds.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from stgcn_reid.data.synthetic.config import PRESETS, SyntheticConfig, make_config
from stgcn_reid.data.synthetic.plan import Benchmark, PlannedTracklet, build_benchmark
from stgcn_reid.data.synthetic.render import background_panorama, render_tracklet
from stgcn_reid.data.synthetic.scene import OCCLUDER_KINDS, sample_tracklet_spec

COLUMNS = 8
GAP = 6
TEXT_H = 16
OCCLUDED = (220, 30, 30)


Row = tuple[str, list[tuple[np.ndarray, str, bool]]]  # title, (frame, label, flagged) tiles


def _render(benchmark: Benchmark, planned: PlannedTracklet, **spec_changes: object) -> np.ndarray:
    cfg = benchmark.config
    camera = benchmark.cameras[planned.slot.camid]
    spec = replace(planned.spec, **spec_changes)
    panorama = background_panorama(camera, cfg.height, cfg.width)
    return render_tracklet(benchmark.identities[planned.slot.pid], camera, spec, panorama)


def _steady(num_frames: int) -> dict[str, object]:
    """Spec changes that remove box jitter, background motion and the occluder, so that
    side-by-side tiles differ only in what the row is about."""
    ones = np.ones(num_frames, dtype=np.float32)
    zeros = np.zeros(num_frames, dtype=np.float32)
    return {
        "num_frames": num_frames,
        "scale": ones,
        "shift_x": zeros,
        "shift_y": zeros,
        "occluder": None,
        "bg_speed": 0.0,
    }


def _confuser_row(benchmark: Benchmark) -> Row | None:
    """Every member of the largest test confuser group, with the same camera, view and gait."""
    groups: dict[int, list[int]] = {}
    for identity in benchmark.identities.values():
        if identity.group >= 0 and identity.role != "train":
            groups.setdefault(identity.group, []).append(identity.pid)
    if not groups:
        return None
    members = max(groups.values(), key=len)[:COLUMNS]
    # The clearest camera: bright and sharp, so that the structure differences read well.
    camera = max(benchmark.cameras, key=lambda c: sum(c.gain) - c.blur)
    reference = next(t for t in benchmark.tracklets if t.slot.camid == camera.index)
    tiles = []
    for pid in members:
        planned = replace(reference, slot=replace(reference.slot, pid=pid))
        frames = _render(benchmark, planned, **_steady(12))
        label = f"{pid} h{benchmark.identities[pid].body.stature:.2f}"
        tiles += [(frames[i], label, False) for i in (0, 4, 8, 2)[: COLUMNS // len(members)]]
    title = (
        "confuser group: same clothes and accessories, different body structure "
        "(h = stature); rendered with the same camera, view and gait phase"
    )
    return title, tiles


def _gait_row(benchmark: Benchmark) -> Row:
    """Consecutive frames of the most sideways view: arms and legs swing over the cycle."""
    side = max(benchmark.tracklets, key=lambda t: abs(np.sin(t.spec.yaw)))
    frames = _render(benchmark, side, **_steady(COLUMNS))
    tiles = [(frame, f"f{i}", False) for i, frame in enumerate(frames)]
    title = f"gait cycle, consecutive frames (pid {side.slot.pid}, period {side.spec.period:.1f})"
    return title, tiles


def _occluded_row(benchmark: Benchmark, kind: str) -> Row | None:
    """Evenly spaced frames of an occluded tracklet; the occluded ones are flagged."""
    for planned in benchmark.tracklets:
        occluder = planned.spec.occluder
        if occluder is not None and occluder.kind == kind and planned.spec.num_frames >= 16:
            break
    else:
        return None
    frames = _render(benchmark, planned)
    picks = np.linspace(0, len(frames) - 1, COLUMNS).round().astype(int)
    tiles = []
    for index in picks:
        hidden = bool(occluder.start <= index < occluder.stop)
        tiles.append((frames[index], f"f{index}" + (" occ" if hidden else ""), hidden))
    title = (
        f"occluder '{kind}' hides a horizontal band in frames {occluder.start}-{occluder.stop - 1} "
        f"of {len(frames)} (pid {planned.slot.pid}, camera {planned.slot.camid + 1})"
    )
    return title, tiles


def _camera_row(benchmark: Benchmark) -> Row:
    """One identity as each camera sees it (scene, color cast, blur, noise, walking axis)."""
    identity = min(benchmark.identities.values(), key=lambda i: (i.role != "test", i.group >= 0))
    reference = next(t for t in benchmark.tracklets if t.slot.pid == identity.pid)
    rng = np.random.default_rng(0)
    tiles = []
    for camera in benchmark.cameras[:COLUMNS]:
        spec = sample_tracklet_spec(benchmark.config, camera, rng)
        planned = replace(reference, slot=replace(reference.slot, camid=camera.index), spec=spec)
        frames = _render(benchmark, planned, occluder=None)
        tiles.append((frames[0], f"cam {camera.index + 1}", False))
    title = f"pid {identity.pid} in every camera (each: own scene, color cast, blur, noise)"
    return title, tiles


def preview_grid(cfg: SyntheticConfig, scale: int = 2) -> Image.Image:
    """The preview image of the benchmark ``cfg``, frames enlarged ``scale`` times."""
    benchmark = build_benchmark(cfg)
    candidates = [
        _confuser_row(benchmark),
        _gait_row(benchmark),
        *(_occluded_row(benchmark, kind) for kind in OCCLUDER_KINDS),
        _camera_row(benchmark),
    ]
    rows = [row for row in candidates if row is not None]
    tile_w, tile_h = cfg.width * scale, cfg.height * scale
    row_h = TEXT_H + tile_h + TEXT_H + GAP
    width = COLUMNS * (tile_w + GAP) + GAP
    canvas = Image.new("RGB", (width, len(rows) * row_h + GAP), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=12)
    for r, (title, tiles) in enumerate(rows):
        top = GAP + r * row_h
        draw.text((GAP, top), title, fill=(0, 0, 0), font=font)
        for c, (frame, label, flagged) in enumerate(tiles):
            left = GAP + c * (tile_w + GAP)
            tile = Image.fromarray(frame).resize((tile_w, tile_h), Image.Resampling.NEAREST)
            canvas.paste(tile, (left, top + TEXT_H))
            if flagged:
                draw.rectangle(
                    (left - 2, top + TEXT_H - 2, left + tile_w + 1, top + TEXT_H + tile_h + 1),
                    outline=OCCLUDED,
                    width=2,
                )
            draw.text(
                (left, top + TEXT_H + tile_h + 2),
                label,
                fill=OCCLUDED if flagged else (0, 0, 0),
                font=font,
            )
    return canvas


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/synthetic_preview.png"))
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=2, help="enlargement of each frame")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid = preview_grid(make_config(args.preset, seed=args.seed), args.scale)
    # 256 colors keep the PNG a third of the size; the sensor noise makes true color bulky.
    grid.quantize(256).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""The histogram baseline and the preview command run end to end on the tiny benchmark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stgcn_reid import baseline as baseline_module
from stgcn_reid.baseline import BINS, STRIPES, frame_histograms, histogram_baseline
from stgcn_reid.data.synthetic import SyntheticConfig, load_synthetic
from stgcn_reid.data.synthetic.preview import COLUMNS, GAP, main, preview_grid

from .conftest import TINY


def test_frame_histograms_count_every_pixel_once_per_stripe() -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 32, 3), np.uint8))
    hist = frame_histograms(image)
    assert hist.shape == (STRIPES, int(np.prod(BINS)))
    # Central half of the columns, rows split evenly over the stripes.
    assert hist.sum() == 64 * 16
    assert (hist.sum(axis=1) > 0).all()


def test_baseline_ranks_better_than_chance_but_not_perfectly(tiny_root: Path) -> None:
    result = histogram_baseline(load_synthetic(tiny_root, **TINY))
    assert result["num_valid_queries"] == TINY["num_test_ids"]
    assert 0.0 < float(result["mAP"]) < 1.0  # type: ignore[arg-type]


def test_baseline_command_prints_a_table(
    tiny_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        baseline_module, "load_synthetic", lambda root, preset: load_synthetic(root, **TINY)
    )
    baseline_module.main(["--root", str(tiny_root), "--preset", "default"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["preset", "mAP", "R1"]
    assert lines[1].split()[0] == "default"


def test_preview_grid_and_command(tiny_config: SyntheticConfig, tmp_path: Path) -> None:
    grid = preview_grid(tiny_config, scale=2)
    assert grid.width == COLUMNS * (2 * tiny_config.width + GAP) + GAP
    out = tmp_path / "img" / "preview.png"
    main(["--out", str(out), "--seed", "1"])
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.width == COLUMNS * (2 * 64 + GAP) + GAP

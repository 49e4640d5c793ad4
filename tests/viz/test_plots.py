"""CMC plot and ranked-results grid: files, sizes, and the colours of the borders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stgcn_reid.viz import RankGridLayout, plot_cmc, plot_metric_curves, plot_ranked_results
from stgcn_reid.viz.ranking import GREEN, QUERY_GREY, RED, spread_queries


def test_plot_cmc_writes_png_of_figure_size(tmp_path: Path) -> None:
    curves = {"baseline": np.linspace(0.8, 1.0, 50), "stgcn": np.linspace(0.9, 1.0, 50)}
    out = plot_cmc(curves, tmp_path / "sub" / "cmc.png", title="MARS", dpi=100)
    assert out.stat().st_size > 1000
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (600, 450)  # figsize 6 x 4.5 inches at 100 dpi
        pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # something was drawn


@pytest.mark.parametrize(
    ("curves", "message"),
    [
        ({}, "curves is empty"),
        ({"a": np.array([0.5, 1.2])}, "fractions in \\[0, 1\\]"),
        ({"a": np.zeros((2, 2))}, "non-empty 1-D"),
    ],
)
def test_plot_cmc_bad_input(tmp_path: Path, curves: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plot_cmc(curves, tmp_path / "cmc.png")


def test_plot_metric_curves_draws_each_curve(tmp_path: Path) -> None:
    curves = {"baseline": ([4, 8, 12], [30.0, 25.7, 34.0]), "STGCN": ([4, 8], [20.0, 28.0])}
    out = plot_metric_curves(curves, tmp_path / "val.png", title="validation")
    with Image.open(out) as image:
        assert image.size == (600, 450)
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    # matplotlib's first two colours (C0 blue, C1 orange) are both on the picture.
    for colour in ((31, 119, 180), (255, 127, 14)):
        assert np.any(np.all(np.abs(pixels.astype(int) - colour) < 8, axis=1))
    with pytest.raises(ValueError, match="curves is empty"):
        plot_metric_curves({}, tmp_path / "none.png", title="x")
    with pytest.raises(ValueError, match="as many x as y"):
        plot_metric_curves({"a": ([1, 2], [3.0])}, tmp_path / "bad.png", title="x")


def _solid_clip(value: int, frames: int = 3) -> list[np.ndarray]:
    """Frames in a blue shade that no border colour uses."""
    return [np.full((20, 10, 3), (0, 0, value), dtype=np.uint8) for _ in range(frames)]


# Query 0: pid 1, camera 1. Gallery by distance:
#   g0 pid 1 cam 1 d 0.00 -> junk (same identity, same camera), skipped
#   g4 pid -1      d 0.05 -> junk identity, skipped
#   g1 pid 2       d 0.10 -> rank 1, wrong  (red)
#   g2 pid 1 cam 2 d 0.20 -> rank 2, right  (green)
#   g3 pid 3       d 0.30 -> rank 3, wrong  (red)
# Query 1: pid 3, camera 2. Its nearest items g4 (identity -1) and g3 (pid 3 on its own
#   camera) are junk; the rest, g2, g0, g1, are other identities: red, red, red. Showing g3
#   would put a green tile first.
DIST = np.array([[0.0, 0.1, 0.2, 0.3, 0.05], [0.7, 0.8, 0.6, 0.1, 0.0]])
G_PIDS, G_CAMS = [1, 2, 1, 3, -1], [1, 1, 2, 2, 1]
Q_PIDS, Q_CAMS = [1, 3], [1, 2]
EXPECTED = [[RED, GREEN, RED], [RED, RED, RED]]


def _border_pixel(image: np.ndarray, layout: RankGridLayout, row: int, col: int) -> tuple:
    left, top, _, _ = layout.tile_box(row, col)
    return tuple(int(v) for v in image[top + 1, left + 1])


def test_ranked_results_borders_and_size(tmp_path: Path) -> None:
    gallery = [_solid_clip(40 * (i + 1)) for i in range(5)]
    out = plot_ranked_results(
        [_solid_clip(250), _solid_clip(200)],
        gallery,
        DIST,
        Q_PIDS,
        G_PIDS,
        Q_CAMS,
        G_CAMS,
        tmp_path / "ranks.png",
        topk=3,
        frames_per_clip=2,
        frame_size=(10, 20),
    )
    with Image.open(out) as image:
        # Hand layout: tile = 2 frames x 10 px + 2 x 4 border = 28 wide, 20 + 8 = 28 high.
        # width = 2 x 6 margin + 4 tiles x 28 + 3 gaps x 6 + 18 query gap = 160;
        # height = 2 x 6 + 2 rows x (14 header + 28 + 6 gap) - 6 = 102.
        assert image.size == (160, 102)
        pixels = np.asarray(image.convert("RGB"))
    layout = RankGridLayout(2, 3, 2, frame_size=(10, 20))
    for row in range(2):
        assert _border_pixel(pixels, layout, row, 0) == QUERY_GREY
        for rank in range(1, 4):
            assert _border_pixel(pixels, layout, row, rank) == EXPECTED[row][rank - 1], (row, rank)
    # Inside the border sits the gallery clip itself: rank 1 of query 0 is g1 (blue 80).
    left, top, _, _ = layout.tile_box(0, 1)
    assert tuple(pixels[top + 10, left + 10]) == (0, 0, 80)


def test_ranked_results_reads_frame_files(tmp_path: Path) -> None:
    paths = []
    for i in range(5):
        path = tmp_path / f"frame{i}.png"
        Image.fromarray(_solid_clip(30 + 40 * i, 1)[0]).save(path)
        paths.append([path, str(path)])
    out = plot_ranked_results(
        [paths[0], paths[1]],
        paths,
        DIST,
        Q_PIDS,
        G_PIDS,
        Q_CAMS,
        G_CAMS,
        tmp_path / "r.png",
        topk=2,
        query_indices=[1],
        frame_size=(10, 20),
    )
    layout = RankGridLayout(1, 2, 4, frame_size=(10, 20))
    with Image.open(out) as image:
        assert image.size == layout.image_size
        pixels = np.asarray(image.convert("RGB"))
    assert _border_pixel(pixels, layout, 0, 1) == RED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"g_pids": [1, 2]}, "g_pids has length 2, but distmat is 2 x 5"),
        ({"query_frames": [_solid_clip(1)]}, "query_frames has length 1"),
        ({"query_indices": [5]}, "query_indices must be non-empty indices below 2"),
        ({"topk": 0}, "topk and frames_per_clip must be >= 1"),
    ],
)
def test_ranked_results_bad_input(tmp_path: Path, change: dict, message: str) -> None:
    kwargs = {
        "query_frames": [_solid_clip(1), _solid_clip(2)],
        "gallery_frames": [_solid_clip(3) for _ in range(5)],
        "distmat": DIST,
        "q_pids": Q_PIDS,
        "g_pids": G_PIDS,
        "q_camids": Q_CAMS,
        "g_camids": G_CAMS,
        "path": tmp_path / "r.png",
    }
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        plot_ranked_results(**kwargs)


def test_spread_queries_picks_evenly_among_queries_with_a_correct_match() -> None:
    # Query 1: only a same-camera match; query 3: only identity -1 (junk) in another camera.
    q_pids, q_cams = [1, 2, 3, -1, 4, 5, 6], [0, 0, 0, 0, 0, 0, 0]
    g_pids, g_cams = [1, 2, 3, -1, 4, 5, 6, 2], [1, 0, 1, 1, 1, 1, 1, 0]
    assert spread_queries(q_pids, g_pids, q_cams, g_cams, 10) == [0, 2, 4, 5, 6]
    assert spread_queries(q_pids, g_pids, q_cams, g_cams, 3) == [0, 4, 6]
    assert spread_queries(q_pids, g_pids, q_cams, g_cams, 0) == []
    assert spread_queries([7], g_pids, [0], g_cams, 3) == []

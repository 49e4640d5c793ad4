"""Grad-CAM maps, the temporal adjacency read by a hook, the pictures, the occluded example."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from stgcn_reid.ablation import occluded_example, synthetic_occlusions
from stgcn_reid.data.synthetic import make_config
from stgcn_reid.data.synthetic.plan import build_benchmark
from stgcn_reid.data.synthetic.render import background_panorama, render_tracklet
from stgcn_reid.viz.adjacency import (
    occluded_node_weights,
    plot_adjacency,
    temporal_adjacency,
)
from stgcn_reid.viz.gradcam import clip_grad_cam, plot_gradcam

from .conftest import HEIGHT, WIDTH, T

RED = np.array([214, 39, 40])  # the occlusion colour #d62728


def test_cams_are_per_frame_maps_in_unit_range_that_depend_on_the_model(make_net, clip) -> None:
    first, second = make_net(seed=0), make_net(seed=1)
    maps = clip_grad_cam(first, clip)
    assert maps.shape == (T, HEIGHT, WIDTH)
    assert maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    assert all(frame.max() > 0.5 for frame in maps)  # each frame is scaled on its own
    assert not np.allclose(maps, clip_grad_cam(second, clip), atol=1e-3)
    assert all(p.grad is None for p in first.parameters())  # no gradients left behind


def test_hirescam_equals_gradcam_for_the_global_branch_alone(make_net, clip) -> None:
    # Average pooling makes the gradient uniform over each feature map, so averaging it first
    # (Grad-CAM) or not (HiResCAM) gives the same map: the baseline's maps are Grad-CAM's.
    baseline = make_net(branches=["global"])
    reference = torch.randn(baseline.embedding_dim)
    np.testing.assert_allclose(
        clip_grad_cam(baseline, clip, reference, method="hirescam"),
        clip_grad_cam(baseline, clip, reference, method="gradcam"),
        atol=1e-4,
    )


def test_cam_input_errors_name_what_is_wrong(make_net, clip) -> None:
    with pytest.raises(ValueError, match="clip must be \\[T, 3, H, W\\]"):
        clip_grad_cam(make_net(), clip.unsqueeze(0))
    with pytest.raises(ValueError, match="method must be one of"):
        clip_grad_cam(make_net(), clip, method="scorecam")
    with pytest.raises(ValueError, match="reference has 3 values but the model's embedding"):
        clip_grad_cam(make_net(), clip, torch.ones(3))


def test_adjacency_from_the_hook_has_the_rows_of_eq_4(make_net, clip) -> None:
    net = make_net(tgcn_patches=2)
    adjacency = temporal_adjacency(net, clip)
    nodes = T * 2
    assert adjacency.shape == (nodes, nodes)
    assert bool((adjacency >= 0).all())
    # Eq. 3 rows sum to 1, so every degree of A + I is 2 and Â = (A + I) / 2 (eq. 4):
    # 2Â - I is A again, non-negative with rows summing to 1.
    a = 2 * adjacency - torch.eye(nodes)
    assert bool((a >= -1e-6).all())
    torch.testing.assert_close(a.sum(dim=1), torch.ones(nodes))
    assert not torch.allclose(a, a[0].expand_as(a))  # learned, not uniform
    # The hook is removed afterwards: a second forward pass does not record again.
    assert len(net.temporal_gcn.graph._forward_hooks) == 0


def test_occluded_nodes_weights_split_visible_from_occluded_frames() -> None:
    # 3 frames x 2 patches; frame 1 occluded (nodes 2, 3). Row 2 gives 0.1 to each visible
    # node (0, 1, 4, 5), 0.3 to node 3 and 0.3 to itself; row 3 gives 0.05 to each visible
    # node, 0.5 to node 2 and 0.3 to itself.
    adjacency = torch.zeros(6, 6)
    adjacency[2] = torch.tensor([0.1, 0.1, 0.3, 0.3, 0.1, 0.1])
    adjacency[3] = torch.tensor([0.05, 0.05, 0.5, 0.3, 0.05, 0.05])
    visible, hidden = occluded_node_weights(adjacency, [False, True, False])
    assert visible == pytest.approx((0.4 + 0.2) / 8)
    assert hidden == pytest.approx((0.3 + 0.5) / 2)  # the self-loops (0.3, 0.3) left out
    with pytest.raises(ValueError, match="some frames occluded and some visible"):
        occluded_node_weights(adjacency, [False, False, False])
    with pytest.raises(ValueError, match="multiple of the 4 frames"):
        occluded_node_weights(adjacency, [False, True, False, True])


@pytest.mark.parametrize("model", [{"branches": ["global"]}, {"temporal": {"graph": False}}])
def test_adjacency_needs_a_temporal_graph(make_net, clip, model: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="no temporal graph"):
        temporal_adjacency(make_net(**model), clip)


def _red_pixels(path: Path) -> int:
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    return int((np.abs(pixels - RED).sum(axis=-1) < 30).sum())


def test_adjacency_heatmap_has_the_requested_size_and_marks_occluded_frames(tmp_path: Path) -> None:
    frames = np.full((T, HEIGHT, WIDTH, 3), 128, dtype=np.uint8)
    adjacency = torch.softmax(torch.randn(T * 4, T * 4), dim=1)
    plain = plot_adjacency(adjacency, frames, tmp_path / "plain.png", size=(640, 560))
    marked = plot_adjacency(
        adjacency,
        frames,
        tmp_path / "marked.png",
        occluded=[False, True, True, False],
        size=(640, 560),
    )
    with Image.open(plain) as image:
        assert (image.format, image.size) == ("PNG", (640, 560))
    assert _red_pixels(marked) > 100 > _red_pixels(plain)
    with pytest.raises(ValueError, match="not a multiple of the 3 frames"):
        plot_adjacency(adjacency, frames[:3], tmp_path / "bad.png")


def test_gradcam_grid_shows_a_row_per_model(tmp_path: Path) -> None:
    frames = np.full((T, HEIGHT, WIDTH, 3), 90, dtype=np.uint8)
    cams = np.linspace(0, 1, T * HEIGHT * WIDTH, dtype=np.float32).reshape(T, HEIGHT, WIDTH)
    one = plot_gradcam(frames, {"a": cams}, tmp_path / "one.png")
    two = plot_gradcam(frames, {"a": cams, "b": cams}, tmp_path / "two.png")
    with Image.open(one) as small, Image.open(two) as large:
        assert small.size[0] == large.size[0] and small.size[1] < large.size[1]
    with pytest.raises(ValueError, match="cams\\['a'\\] has 2 maps for 4 frames"):
        plot_gradcam(frames, {"a": cams[:2]}, tmp_path / "bad.png")


def test_occlusion_labels_point_at_the_frames_the_occluder_covers(
    smoke_data_dir: Path, smoke_dataset_options: dict[str, Any]
) -> None:
    dataset_cfg = {"name": "synthetic", "root": str(smoke_data_dir), **smoke_dataset_options}
    occlusions = synthetic_occlusions(dataset_cfg)
    assert occlusions, "the smoke benchmark has occluded tracklets"
    cfg = make_config(**{k: v for k, v in dataset_cfg.items() if k not in ("name", "root")})
    benchmark = build_benchmark(cfg)
    # The on-disk frames the labels call occluded are those that differ from the same
    # tracklet rendered without its occluder.
    folder, covered = next(iter(occlusions.items()))
    split, pid, number = folder.parts[-3], int(folder.parts[-2]), int(folder.parts[-1])
    planned = next(
        t
        for t in benchmark.tracklets
        if (t.slot.split, t.slot.pid, t.slot.number) == (split, pid, number)
    )
    camera = benchmark.cameras[planned.slot.camid]
    clean = render_tracklet(
        benchmark.identities[pid],
        camera,
        replace(planned.spec, occluder=None),
        background_panorama(camera, cfg.height, cfg.width),
    ).astype(float)
    on_disk = np.stack(
        [np.asarray(Image.open(p).convert("RGB"), dtype=float) for p in sorted(folder.iterdir())]
    )
    change = np.abs(on_disk - clean).mean(axis=(1, 2, 3))
    hidden = np.isin(np.arange(len(change)), list(covered))
    assert change[hidden].min() > 2 * change[~hidden].max()


def test_occluded_example_is_a_partly_occluded_clip_at_the_model_input(
    smoke_data_dir: Path, smoke_dataset_options: dict[str, Any]
) -> None:
    run_config = {
        "dataset": {"name": "synthetic", "root": str(smoke_data_dir), **smoke_dataset_options},
        "data": {"seq_len": T, "height": 2 * HEIGHT, "width": 2 * WIDTH},
    }
    example = occluded_example(run_config)
    assert example.clip.shape == (T, 3, 2 * HEIGHT, 2 * WIDTH)
    assert example.clip.dtype == torch.float32
    assert example.frames.shape == (T, 2 * HEIGHT, 2 * WIDTH, 3)
    assert example.frames.dtype == np.uint8
    assert 0 < sum(example.occluded) < T

"""STGCN end to end: every ablation of Tables 3-4 and §4.6, inputs, errors, parameter counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torchvision
from omegaconf import OmegaConf
from torch import Tensor, nn

from stgcn_reid.models import STGCN, ResNetBackbone, STGCNOutput
from stgcn_reid.models.graph import PatchGraph
from stgcn_reid.models.paper import main, paper_model, parameter_counts, summary

C18 = 512  # ResNet-18 channels
T = 2  # frames per clip in these tests; 64x32 images give 4x2 feature maps (stride 16)

# Table 3 and Table 4 of the paper, as model configurations.
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {"branches": ["global"]},
    "TGCN+global": {"branches": ["global", "temporal"]},
    "SGCN+global": {"branches": ["global", "spatial"]},
    "STGCN": {},
    "TFCN+global": {"branches": ["global", "temporal"], "temporal": {"graph": False}},
    "SFCN+global": {"branches": ["global", "spatial"], "spatial": {"graph": False}},
    "TFCN+SGCN+global": {"temporal": {"graph": False}},
    "TGCN+SFCN+global": {"spatial": {"graph": False}},
    "TFCN+SFCN+global": {"temporal": {"graph": False}, "spatial": {"graph": False}},
}


def build(**kwargs: Any) -> STGCN:
    kwargs.setdefault("seq_len", T)
    return STGCN(ResNetBackbone("resnet18"), num_classes=7, **kwargs)


def clips(batch: int = 2, frames: int = T, height: int = 64, width: int = 32) -> Tensor:
    return torch.randn(batch, frames, 3, height, width)


@pytest.mark.parametrize("name", VARIANTS)
def test_ablation_variant_shapes(name: str) -> None:
    torch.manual_seed(0)
    config = VARIANTS[name]
    model = build(**config)
    out = model(clips())
    assert isinstance(out, STGCNOutput)

    branches = config.get("branches", ["global", "temporal", "spatial"])
    widths = {"global": C18, "temporal": C18, "spatial": T * 256}
    assert list(out.features) == branches
    for branch, feature in out.features.items():
        assert feature.shape == (2, widths[branch])
    assert model.embedding_dim == sum(widths[b] for b in branches)
    assert model.branch_widths == {b: widths[b] for b in branches}
    assert list(model.branch_widths) == branches  # the order of f_all
    torch.testing.assert_close(out.embedding, torch.cat([out.features[b] for b in branches], 1))
    assert out.logits.shape == (2, 7)

    # A graph (and its phi) exists exactly for the GCN branches, none for the FCN ones.
    graphs = [
        b for b in ("temporal", "spatial") if b in branches and config.get(b, {}).get("graph", True)
    ]
    assert sum(isinstance(m, PatchGraph) for m in model.modules()) == len(graphs)


@pytest.mark.parametrize(
    ("layers_t", "layers_s", "patches_t", "patches_s"), [(2, 1, 2, 4), (6, 4, 8, 2)]
)
def test_layer_and_patch_counts_of_section_4_6(
    layers_t: int, layers_s: int, patches_t: int, patches_s: int
) -> None:
    model = build(
        tgcn_layers=layers_t,
        sgcn_layers=layers_s,
        tgcn_patches=patches_t,
        sgcn_patches=patches_s,
        spatial={"dim": 32},
    )
    assert len(model.temporal_gcn.gcn.layers) == layers_t
    assert len(model.structural_gcn.gcn.layers) == layers_s
    seen: dict[str, int] = {}

    def record(branch: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
            seen[branch] = out.shape[-1]  # nodes per graph

        return hook

    model.temporal_gcn.graph.register_forward_hook(record("temporal"))
    model.structural_gcn.graph.register_forward_hook(record("spatial"))
    out = model(clips(height=128, width=64))  # 8x4 feature maps
    assert seen == {"temporal": T * patches_t, "spatial": patches_s}
    assert out.embedding.shape == (2, C18 + C18 + T * 32)


def test_backbone_runs_once_on_all_frames() -> None:
    model = build()
    calls: list[tuple[int, ...]] = []
    model.backbone.register_forward_hook(lambda m, args, out: calls.append(tuple(args[0].shape)))
    model(clips(batch=3))
    assert calls == [(3 * T, 3, 64, 32)]


def test_global_feature_is_mean_of_frame_averages() -> None:
    model = build(branches=["global"]).eval()
    x = clips()
    with torch.no_grad():
        fmaps = model.backbone(x.flatten(0, 1)).reshape(2, T, C18, 4, 2)
        torch.testing.assert_close(model(x).features["global"], fmaps.mean((1, 3, 4)))


def test_channels_last_and_non_contiguous_clips_give_the_same_output() -> None:
    model = build().eval()
    x = clips()
    channels_last = x.flatten(0, 1).to(memory_format=torch.channels_last).unflatten(0, (2, T))
    permuted = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    assert not permuted.is_contiguous()
    with torch.no_grad():
        expected = model(x).embedding
        for variant in (channels_last, permuted):
            torch.testing.assert_close(model(variant).embedding, expected, rtol=1e-4, atol=1e-4)


def test_gradients_reach_backbone_graphs_and_classifier() -> None:
    model = build()
    out = model(clips())
    loss = out.logits.logsumexp(1).sum() + sum(f.square().mean() for f in out.features.values())
    loss.backward()
    for name in (
        "backbone.conv1.weight",
        "backbone.layer4.1.conv2.weight",
        "temporal_gcn.graph.phi.weight",
        "temporal_gcn.gcn.layers.2.weight.weight",
        "structural_gcn.graph.phi.weight",
        "structural_gcn.gcn.layers.1.weight.weight",
        "classifier.weight",
    ):
        grad = model.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_a_stopped_branch_trains_without_shaping_the_backbone() -> None:
    """model.stop_gradient: the temporal branch still learns, the backbone gets only the
    gradient of the branches that are not stopped, and the forward pass is unchanged."""
    torch.manual_seed(0)
    free = build(branches=["global", "temporal"])
    stopped = build(branches=["global", "temporal"], stop_gradient=["temporal"])
    stopped.load_state_dict(free.state_dict())
    x = clips()
    grads = {}
    for name, model in (("free", free), ("stopped", stopped)):
        out = model(x)
        out.features["temporal"].square().mean().backward()  # only the temporal branch's loss
        grads[name] = model.get_parameter("backbone.layer4.1.conv2.weight").grad
        phi = model.get_parameter("temporal_gcn.graph.phi.weight").grad
        assert phi is not None and phi.abs().sum() > 0, name
    assert grads["free"].abs().sum() > 0
    assert grads["stopped"] is None or grads["stopped"].abs().sum() == 0
    with torch.no_grad():
        torch.testing.assert_close(free.eval()(x).embedding, stopped.eval()(x).embedding)


def test_bfloat16_autocast_gives_finite_outputs() -> None:
    model = build()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(clips())
    assert all(torch.isfinite(t).all() for t in (out.embedding, out.logits))


def test_omegaconf_config_is_accepted() -> None:
    cfg = OmegaConf.create(
        {
            "branches": ["spatial", "global"],  # any order; features keep the fixed order
            "temporal": {"graph": False},
            "spatial": {"graph": False, "dim": 64},
        }
    )
    model = build(branches=cfg.branches, temporal=cfg.temporal, spatial=cfg.spatial)
    out = model(clips())
    assert list(out.features) == ["global", "spatial"]
    assert out.embedding.shape == (2, C18 + T * 64)


def test_temporal_length_is_free_without_the_spatial_branch() -> None:
    model = build(branches=["global", "temporal"])
    assert model(clips(frames=3)).embedding.shape == (2, 2 * C18)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tgcn_layers": 0}, r"model\.tgcn_layers must be a positive integer, got 0"),
        ({"sgcn_layers": -1}, r"model\.sgcn_layers must be a positive integer, got -1"),
        ({"tgcn_patches": 0}, r"model\.tgcn_patches must be a positive integer"),
        ({"sgcn_patches": -2}, r"model\.sgcn_patches must be a positive integer"),
        ({"tgcn_layers": True}, r"model\.tgcn_layers must be a positive integer, got True"),
        ({"seq_len": 0}, r"model\.seq_len must be a positive integer"),
        ({"branches": []}, r"model\.branches is empty"),
        ({"branches": ["global", "tgcn"]}, r"model\.branches has unknown names \['tgcn'\]"),
        ({"branches": "global"}, r"model\.branches must be a list"),
        ({"temporal": {"graf": False}}, r"model\.temporal has unknown keys \['graf'\]"),
        ({"spatial": {"graph": "no"}}, r"model\.spatial\.graph must be true or false"),
        ({"spatial": {"dim": 0}}, r"model\.spatial\.dim must be a positive integer"),
        ({"stop_gradient": ["global"]}, r"\['global'\] not graph branches"),
        (
            {"branches": ["global", "spatial"], "stop_gradient": ["temporal"]},
            r"\['temporal'\] not graph branches of this model",
        ),
        ({"stop_gradient": "temporal"}, r"model\.stop_gradient must be a list"),
    ],
)
def test_bad_configuration_fails_at_build_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_bad_num_classes_and_backbone() -> None:
    with pytest.raises(ValueError, match=r"model\.num_classes must be a positive integer"):
        STGCN(ResNetBackbone("resnet18"), num_classes=0)
    with pytest.raises(TypeError, match="must expose an int `out_channels`"):
        STGCN(nn.Identity(), num_classes=5)


@pytest.mark.parametrize(
    "shape", [(2, 3, 64, 32), (2, T, 1, 64, 32), (1, 2, T, 3, 64, 32)], ids=["4d", "gray", "6d"]
)
def test_bad_clip_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"expects clips \[B, T, 3, H, W\].*got shape"):
        build()(torch.randn(*shape))


def test_wrong_number_of_frames_with_the_spatial_branch() -> None:
    with pytest.raises(ValueError, match=r"T=3 frames but model\.seq_len=2.*dataset seq_len"):
        build()(clips(frames=3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"tgcn_patches": 3},
            r"model\.tgcn_patches=3 does not divide the feature-map height 4 \(image height 64\)"
            r".*multiple of 48",
        ),
        (
            {"sgcn_patches": 8},
            r"model\.sgcn_patches=8 does not divide the feature-map height 4.*multiple of 128",
        ),
    ],
)
def test_patches_that_do_not_divide_the_feature_map(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(**kwargs)(clips())


def test_parameter_count_of_the_paper_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    c, m, k, dim, frames, classes = 2048, 3, 2, 256, 8, 625
    fc = c * 1000 + 1000
    layer = lambda d_in, d_out: d_in * d_out + 2 * d_out  # W (no bias) + LayerNorm  # noqa: E731
    expected = {
        "backbone": torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["num_params"] - fc,
        "temporal_gcn": c * c + layer(c, c) * m,
        "structural_gcn": c * c + layer(c, dim) + layer(dim, dim) * (k - 1),
        "classifier": (c + c + frames * dim) * classes + classes,
    }
    expected["total"] = sum(expected.values())

    model = paper_model("resnet50")
    assert model.embedding_dim == c + c + frames * dim
    assert sum(p.numel() for p in model.parameters()) == expected["total"]
    assert parameter_counts(model) == expected

    main(["resnet50"])
    printed = capsys.readouterr().out
    assert f"{expected['total']:,}" in printed
    with capsys.disabled():
        print("\n" + str(summary(model)))

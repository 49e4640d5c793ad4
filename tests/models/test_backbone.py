"""The ResNet backbone: feature-map geometry and weight loading (never from the network)."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from stgcn_reid.models.backbone import BackboneWeightsError, ResNetBackbone


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty torch hub cache under tmp_path and a download function that always fails."""

    def no_network(url: str, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.mark.parametrize(
    ("arch", "last_stride", "channels", "stride"),
    [
        ("resnet18", 1, 512, 16),
        ("resnet18", 2, 512, 32),
        ("resnet34", 2, 512, 32),
        ("resnet50", 1, 2048, 16),
    ],
)
def test_feature_map_geometry(arch: str, last_stride: int, channels: int, stride: int) -> None:
    backbone = ResNetBackbone(arch, last_stride=last_stride).eval()
    assert backbone.out_channels == channels and backbone.stride == stride
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, 128, 64))
    assert out.shape == (1, channels, 128 // stride, 64 // stride)


def test_same_parameters_as_torchvision_without_fc() -> None:
    backbone = ResNetBackbone("resnet50")
    expected = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["num_params"]
    expected -= 2048 * 1000 + 1000  # fc
    assert sum(p.numel() for p in backbone.parameters()) == expected


def test_unknown_arch_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"backbone.arch='vgg16'.*resnet18, resnet34, resnet50"):
        ResNetBackbone("vgg16")


@pytest.mark.parametrize("last_stride", [0, 3])
def test_bad_last_stride(last_stride: int) -> None:
    with pytest.raises(ValueError, match=r"backbone\.last_stride must be 1 or 2"):
        ResNetBackbone("resnet18", last_stride=last_stride)


def test_local_weights_round_trip(tmp_path: Path) -> None:
    source = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    backbone = ResNetBackbone("resnet18", weights_path=str(path))
    assert torch.equal(backbone.conv1.weight, source.conv1.weight)
    assert torch.equal(backbone.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)


def test_local_weights_missing_and_unexpected_keys(tmp_path: Path) -> None:
    state = torchvision.models.resnet18().state_dict()
    del state["layer1.0.conv1.weight"]
    state["head.weight"] = torch.zeros(3)
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(
        BackboneWeightsError, match=r"missing keys \[layer1.0.conv1.weight\].*\[head.weight\]"
    ):
        ResNetBackbone("resnet18", weights_path=str(path))


def test_local_weights_of_another_arch(tmp_path: Path) -> None:
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    with pytest.raises(BackboneWeightsError, match=r"shape mismatch .*backbone.arch"):
        ResNetBackbone("resnet18", weights_path=str(path))


def test_local_weights_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "epoch": 3}, path)
    with pytest.raises(BackboneWeightsError, match="expected a plain state dict"):
        ResNetBackbone("resnet18", weights_path=str(path))


def test_local_weights_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"backbone\.weights_path=.*nothing\.pth"):
        ResNetBackbone("resnet18", weights_path=str(tmp_path / "nothing.pth"))


def test_weights_and_weights_path_together() -> None:
    with pytest.raises(ValueError, match=r"either backbone\.weights or backbone\.weights_path"):
        ResNetBackbone("resnet18", weights="DEFAULT", weights_path="x.pth")


def test_offline_download_says_where_to_put_the_file(offline: Path) -> None:
    expected = offline / "resnet50-0676ba61.pth"
    with pytest.raises(BackboneWeightsError) as info:
        ResNetBackbone("resnet50", weights="IMAGENET1K_V1")
    message = str(info.value)
    assert str(expected) in message and "backbone.weights_path" in message


def test_weights_from_the_hub_cache_need_no_network(offline: Path) -> None:
    source = torchvision.models.resnet18()
    offline.mkdir(parents=True)
    torch.save(source.state_dict(), offline / "resnet18-f37072fd.pth")
    backbone = ResNetBackbone("resnet18", weights="DEFAULT")
    assert torch.equal(
        backbone.layer2[0].downsample[0].weight, source.layer2[0].downsample[0].weight
    )


def test_unknown_weights_name_lists_valid_ones(offline: Path) -> None:
    with pytest.raises(ValueError, match=r"backbone.weights='IMAGENET22K'.*IMAGENET1K_V1"):
        ResNetBackbone("resnet18", weights="IMAGENET22K")


def test_channels_last_input_matches_contiguous() -> None:
    backbone = ResNetBackbone("resnet18").eval()
    images = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        expected = backbone(images)
        got = backbone(images.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)

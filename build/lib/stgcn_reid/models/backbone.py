"""torchvision ResNet cut before its pooling: per-frame feature maps (paper §4.2: ResNet-50,
ImageNet-pretrained, last stride 1)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import Tensor, nn

ARCHS: tuple[str, ...] = ("resnet18", "resnet34", "resnet50")


class BackboneWeightsError(RuntimeError):
    """Pretrained backbone weights could not be obtained or do not fit the architecture."""


class ResNetBackbone(nn.Module):
    """A torchvision ResNet without ``avgpool``/``fc``: ``[N, 3, H, W] -> [N, C, h, w]``.

    The submodules keep torchvision's names (``conv1`` ... ``layer4``), so a torchvision state
    dict loads as is and ``layer4`` is the natural Grad-CAM target.

    Args:
        arch: one of ``resnet18``, ``resnet34``, ``resnet50`` (paper: ``resnet50``).
        last_stride: stride of ``layer4``; 1 (paper) keeps a total stride of 16, 2 gives 32.
        weights: torchvision weights name (``"IMAGENET1K_V1"``, ``"DEFAULT"``, ...), fetched
            through the torch hub cache; ``None`` = random initialisation.
        weights_path: a local torchvision ResNet state dict (``fc.*`` entries are ignored).

    Attributes:
        out_channels: ``C`` (512 for resnet18/34, 2048 for resnet50).
        stride: total stride from image to feature map (16 or 32).
    """

    def __init__(
        self,
        arch: str = "resnet50",
        last_stride: int = 1,
        weights: str | None = None,
        weights_path: str | None = None,
    ) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"backbone.arch={arch!r} is not supported; valid: {', '.join(ARCHS)}")
        if last_stride not in (1, 2):
            raise ValueError(f"backbone.last_stride must be 1 or 2, got {last_stride!r}")
        if weights is not None and weights_path is not None:
            raise ValueError("set either backbone.weights or backbone.weights_path, not both")
        resnet = torchvision.models.get_model(arch, weights=None)
        if last_stride == 1:
            _remove_downsampling(resnet.layer4[0])
        self.conv1, self.bn1, self.relu, self.maxpool = (
            resnet.conv1,
            resnet.bn1,
            resnet.relu,
            resnet.maxpool,
        )
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            resnet.layer1,
            resnet.layer2,
            resnet.layer3,
            resnet.layer4,
        )
        self.arch = arch
        self.out_channels: int = resnet.fc.in_features
        self.stride: int = 16 * last_stride
        if weights is not None:
            self.load_torchvision_state_dict(_hub_state_dict(arch, weights), f"weights {weights}")
        elif weights_path is not None:
            self.load_torchvision_state_dict(_file_state_dict(weights_path), weights_path)

    def forward(self, images: Tensor) -> Tensor:
        """``[N, 3, H, W]`` images -> ``[N, C, H / stride, W / stride]`` feature maps."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def load_torchvision_state_dict(self, state: Mapping[str, Tensor], source: str) -> None:
        """Load a torchvision ResNet state dict, ignoring ``fc.*``; any other mismatch raises.

        ``source`` (a path or weights name) is quoted in the error message.
        """
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        own = self.state_dict()
        mismatched = [
            f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
            for k in own.keys() & state.keys()
            if state[k].shape != own[k].shape
        ]
        if mismatched:
            raise BackboneWeightsError(
                f"{source} does not fit torchvision {self.arch}: shape mismatch in "
                f"{_first(sorted(mismatched))} (is backbone.arch right?)"
            )
        result = self.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise BackboneWeightsError(
                f"{source} is not a plain torchvision {self.arch} state dict: "
                f"missing keys [{_first(result.missing_keys)}], "
                f"unexpected keys [{_first(result.unexpected_keys)}]"
            )


def _remove_downsampling(block: nn.Module) -> None:
    """Set every stride-2 convolution of ``block`` (main path and shortcut) to stride 1."""
    for module in block.modules():
        if isinstance(module, nn.Conv2d) and module.stride == (2, 2):
            module.stride = (1, 1)


def _hub_state_dict(arch: str, name: str) -> Mapping[str, Tensor]:
    """ImageNet weights via torchvision's weights API; a clear error when offline."""
    weights_enum = torchvision.models.get_model_weights(arch)
    if name not in weights_enum.__members__:
        raise ValueError(
            f"backbone.weights={name!r} is not a torchvision {arch} weight; "
            f"valid: {', '.join(weights_enum.__members__)}"
        )
    weights = weights_enum[name]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
    try:
        return weights.get_state_dict(progress=False, check_hash=True, weights_only=True)
    except OSError as err:  # urllib's URLError and socket errors are OSErrors
        raise BackboneWeightsError(
            f"could not download {weights} from {weights.url} ({err}). Provide the file "
            f"offline: copy it to {cached} (the torch hub cache; TORCH_HOME moves it), or set "
            "backbone.weights_path to a local torchvision state dict (and backbone.weights=null)"
        ) from err


def _file_state_dict(path: str) -> Mapping[str, Tensor]:
    """Read a state dict saved with ``torch.save``, refusing arbitrary pickled objects."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"backbone.weights_path={path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise BackboneWeightsError(
            f"backbone.weights_path={path} holds a {type(state).__name__}, expected a plain "
            "state dict of tensors (torch.save(resnet.state_dict(), path))"
        )
    return state


def _first(keys: list[str], limit: int = 5) -> str:
    """At most ``limit`` keys, with a count of the rest: errors stay readable."""
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")

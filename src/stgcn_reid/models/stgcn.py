"""STGCN: global, temporal-GCN and structural-GCN branches on a shared backbone (paper §3.5).

Every ablation of Tables 3-4 and §4.6 is a configuration of this one class: ``branches``
picks the branches (baseline = ``["global"]``), ``temporal.graph`` / ``spatial.graph`` turn
the GCNs into FCNs, and ``tgcn_layers`` (M), ``sgcn_layers`` (K), ``tgcn_patches`` (P_t) and
``sgcn_patches`` (P_s) size them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from stgcn_reid.models.gcn import StructuralGCN, TemporalGCN

BRANCHES: tuple[str, ...] = ("global", "temporal", "spatial")


@dataclass
class STGCNOutput:
    """What one forward pass returns.

    Attributes:
        features: per enabled branch (``"global"``, ``"temporal"``, ``"spatial"``), the
            feature that gets its own batch-hard triplet loss (eq. 8).
        embedding: ``f_all``, the enabled features concatenated in that order; the input of
            the softmax loss (eq. 9) and the test-time descriptor.
        logits: ``[B, num_classes]`` from the linear classifier on ``embedding``.
    """

    features: dict[str, Tensor]
    embedding: Tensor
    logits: Tensor


class STGCN(nn.Module):
    """The model of Fig. 2: ``[B, T, 3, H, W]`` clips -> :class:`STGCNOutput`.

    The backbone runs once on all ``B * T`` frames and its feature maps feed every branch.
    Global branch: average pooling per frame, then the mean over time (``f_global``, ``C``).
    Temporal branch: :class:`TemporalGCN` (``f_t``, ``C``). Spatial branch:
    :class:`StructuralGCN` (``f_s``, ``T * spatial.dim``), which fixes ``T`` to ``seq_len``.

    Args:
        backbone: maps ``[N, 3, H, W]`` to ``[N, C, h, w]``; must expose ``out_channels`` (and
            ``stride``, used to suggest a valid image height in errors).
        num_classes: training identities (625 on MARS).
        seq_len: frames per clip ``T`` (paper: 8).
        branches: non-empty subset of ``global``, ``temporal``, ``spatial``.
        tgcn_layers, sgcn_layers: M and K (paper: 3 and 2).
        tgcn_patches, sgcn_patches: P_t and P_s (paper: 4 and 4).
        stop_gradient: branches among ``temporal``, ``spatial`` whose input maps are detached:
            they train on the backbone's features without shaping them (a diagnostic of what
            each branch's loss does to the shared backbone; the paper stops nothing).
        temporal: ``{"graph": bool}``; ``graph: false`` is TFCN (Table 4).
        spatial: ``{"graph": bool, "dim": int}``; ``graph: false`` is SFCN, ``dim`` the
            per-frame width (paper: 256).
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        seq_len: int = 8,
        branches: Sequence[str] = BRANCHES,
        tgcn_layers: int = 3,
        sgcn_layers: int = 2,
        tgcn_patches: int = 4,
        sgcn_patches: int = 4,
        temporal: Mapping | None = None,
        spatial: Mapping | None = None,
        stop_gradient: Sequence[str] = (),
    ) -> None:
        super().__init__()
        for key, value in {
            "num_classes": num_classes,
            "seq_len": seq_len,
            "tgcn_layers": tgcn_layers,
            "sgcn_layers": sgcn_layers,
            "tgcn_patches": tgcn_patches,
            "sgcn_patches": sgcn_patches,
        }.items():
            _require_positive_int(value, f"model.{key}")
        channels = getattr(backbone, "out_channels", None)
        if not isinstance(channels, int):
            raise TypeError(
                f"the backbone {type(backbone).__name__} must expose an int `out_channels`"
            )
        temporal_cfg = _options(temporal, "model.temporal", {"graph": True})
        spatial_cfg = _options(spatial, "model.spatial", {"graph": True, "dim": 256})
        _require_bool(temporal_cfg["graph"], "model.temporal.graph")
        _require_bool(spatial_cfg["graph"], "model.spatial.graph")
        _require_positive_int(spatial_cfg["dim"], "model.spatial.dim")

        self.branches = _branches(branches)
        self.stop_gradient = _stopped(stop_gradient, self.branches)
        self.seq_len = seq_len
        self.backbone = backbone
        self.temporal_gcn = (
            TemporalGCN(channels, tgcn_layers, tgcn_patches, graph=temporal_cfg["graph"])
            if "temporal" in self.branches
            else None
        )
        self.structural_gcn = (
            StructuralGCN(
                channels,
                sgcn_layers,
                sgcn_patches,
                out_dim=spatial_cfg["dim"],
                graph=spatial_cfg["graph"],
            )
            if "spatial" in self.branches
            else None
        )
        widths = {"global": channels, "temporal": channels, "spatial": seq_len * spatial_cfg["dim"]}
        self._branch_widths = {b: widths[b] for b in self.branches}
        self.classifier = nn.Linear(self.embedding_dim, num_classes)

    @property
    def embedding_dim(self) -> int:
        """Width ``D`` of ``f_all`` (paper setting: ``2048 + 2048 + 8 * 256 = 6144``)."""
        return sum(self._branch_widths.values())

    @property
    def branch_widths(self) -> dict[str, int]:
        """Each branch's width in ``f_all``, in the order of concatenation (eq. 9)."""
        return dict(self._branch_widths)

    def forward(self, clips: Tensor) -> STGCNOutput:
        """``[B, T, 3, H, W]`` clips -> features, embedding and logits (:class:`STGCNOutput`)."""
        self._check_clips(clips)
        batch, frames = clips.shape[:2]
        # flatten/unflatten keep views where the memory layout allows (channels-last included)
        # and copy otherwise, so permuted or sliced inputs work too.
        fmaps = self.backbone(clips.flatten(0, 1))
        self._check_patches(fmaps.shape[-2], clips.shape[-2])
        return self.forward_maps(fmaps.unflatten(0, (batch, frames)))

    def forward_maps(self, fmaps: Tensor) -> STGCNOutput:
        """The three branches on backbone feature maps ``[B, T, C, h, w]`` (Fig. 2 after the
        backbone). The frozen-feature study feeds cached maps of a frozen backbone here; rows
        averaged over the width (``w = 1``) give the same result, since every branch pools
        whole rows (global: the mean of all cells; patches: stripes of rows)."""
        features: dict[str, Tensor] = {}
        if "global" in self.branches:
            features["global"] = fmaps.mean(dim=(-2, -1)).mean(dim=1)
        if self.temporal_gcn is not None:
            features["temporal"] = self.temporal_gcn(self._branch_input(fmaps, "temporal"))
        if self.structural_gcn is not None:
            features["spatial"] = self.structural_gcn(self._branch_input(fmaps, "spatial"))
        embedding = torch.cat([features[b] for b in self.branches], dim=1)  # f_all, eq. 9
        return STGCNOutput(
            features=features, embedding=embedding, logits=self.classifier(embedding)
        )

    def _branch_input(self, fmaps: Tensor, branch: str) -> Tensor:
        return fmaps.detach() if branch in self.stop_gradient else fmaps

    def _check_clips(self, clips: Tensor) -> None:
        if clips.dim() != 5 or clips.shape[2] != 3:
            raise ValueError(
                f"STGCN expects clips [B, T, 3, H, W] (T = model.seq_len = {self.seq_len}), "
                f"got shape {tuple(clips.shape)}"
            )
        if self.structural_gcn is not None and clips.shape[1] != self.seq_len:
            raise ValueError(
                f"clips have T={clips.shape[1]} frames but model.seq_len={self.seq_len}: with the "
                "spatial branch f_s has T*dim features, so the classifier fixes T; make the "
                "dataset seq_len (and the test-time clip length) equal model.seq_len"
            )

    def _check_patches(self, fmap_height: int, image_height: int) -> None:
        used = {"model.tgcn_patches": self.temporal_gcn, "model.sgcn_patches": self.structural_gcn}
        for key, branch in used.items():
            if branch is None or fmap_height % branch.patches == 0:
                continue
            stride = getattr(self.backbone, "stride", None)
            hint = ""
            if isinstance(stride, int):
                step = stride * branch.patches
                hint = f"; an image height that is a multiple of {step} works (e.g. "
                hint += f"{max(step, round(image_height / step) * step)})"
            raise ValueError(
                f"{key}={branch.patches} does not divide the feature-map height {fmap_height} "
                f"(image height {image_height}){hint}"
            )


def _require_positive_int(value: object, key: str) -> None:
    # bool is an int subclass, but `tgcn_layers: true` is a config mistake, not 1 layer.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer, got {value!r}")


def _require_bool(value: object, key: str) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")


def _options(given: Mapping | None, key: str, defaults: dict[str, object]) -> dict[str, object]:
    """Defaults overridden by ``given`` (a dict or an OmegaConf DictConfig); unknown keys raise."""
    if given is None:
        return dict(defaults)
    if not isinstance(given, Mapping):
        raise ValueError(f"{key} must be a mapping with keys {sorted(defaults)}, got {given!r}")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"{key} has unknown keys {unknown}; valid: {sorted(defaults)}")
    return {**defaults, **given}


def _branches(given: Sequence[str]) -> tuple[str, ...]:
    """Validate ``model.branches`` and return it in the fixed order global, temporal, spatial."""
    if isinstance(given, str) or not isinstance(given, Sequence):
        raise ValueError(
            f"model.branches must be a list drawn from {list(BRANCHES)}, got {given!r}"
        )
    unknown = [b for b in given if b not in BRANCHES]
    if unknown:
        raise ValueError(f"model.branches has unknown names {unknown}; valid: {list(BRANCHES)}")
    if not given:
        raise ValueError(f"model.branches is empty; pick at least one of {list(BRANCHES)}")
    return tuple(b for b in BRANCHES if b in given)


def _stopped(given: Sequence[str], branches: tuple[str, ...]) -> frozenset[str]:
    """Validate ``model.stop_gradient``: graph branches of the model."""
    if isinstance(given, str) or not isinstance(given, Sequence):
        raise ValueError(f"model.stop_gradient must be a list of branches, got {given!r}")
    wrong = [b for b in given if b not in ("temporal", "spatial") or b not in branches]
    if wrong:
        raise ValueError(
            f"model.stop_gradient={list(given)}: {wrong} not graph branches of this model "
            f"(branches {list(branches)}; only temporal and spatial can be stopped)"
        )
    return frozenset(given)

"""STGCN in the paper configuration and its parameters per part (Lightning's ``ModelSummary``).

Usage: ``python -m stgcn_reid.models.paper [resnet18|resnet34|resnet50]`` (default resnet50):
ResNet, last stride 1, M=3, K=2, P_t=P_s=4, T=8, 625 MARS training identities.
"""

from __future__ import annotations

import sys

import pytorch_lightning as pl
from pytorch_lightning.utilities.model_summary import ModelSummary

from stgcn_reid.models.backbone import ARCHS, ResNetBackbone
from stgcn_reid.models.stgcn import STGCN


def paper_model(arch: str = "resnet50") -> STGCN:
    """STGCN as configured in paper §4.2, with a randomly initialised backbone."""
    return STGCN(ResNetBackbone(arch, last_stride=1), num_classes=625, seq_len=8)


class _Parts(pl.LightningModule):
    """The network's parts as children of a LightningModule: what ``ModelSummary`` takes."""

    def __init__(self, net: STGCN) -> None:
        super().__init__()
        self.backbone = net.backbone
        self.temporal_gcn = net.temporal_gcn
        self.structural_gcn = net.structural_gcn
        self.classifier = net.classifier


def summary(model: STGCN) -> ModelSummary:
    """Lightning's summary of the backbone, the two GCN branches and the classifier."""
    return ModelSummary(_Parts(model), max_depth=1)


def parameter_counts(model: STGCN) -> dict[str, int]:
    """Parameter count of each part (by attribute name; 0 for an absent branch) and the total."""
    found = summary(model)
    counts = dict(zip(found.layer_names, found.param_nums, strict=True))
    counts = {name: counts.get(name, 0) for name in PARTS}
    counts["total"] = found.total_parameters
    return counts


PARTS = ("backbone", "temporal_gcn", "structural_gcn", "classifier")


def main(argv: list[str] | None = None) -> None:
    """Print the table for the architecture named on the command line."""
    args = sys.argv[1:] if argv is None else argv
    arch = args[0] if args else "resnet50"
    if arch not in ARCHS:
        raise SystemExit(f"unknown arch {arch!r}; valid: {', '.join(ARCHS)}")
    model = paper_model(arch)
    print(f"STGCN, {arch} (last stride 1), M=3 K=2 P=4 T=8, 625 classes, D={model.embedding_dim}")
    found = summary(model)
    print(found)
    # Lightning rounds to '48.9 M'; the exact count too, comparable with the paper's.
    print(f"Total parameters: {found.total_parameters:,}")


if __name__ == "__main__":
    main()

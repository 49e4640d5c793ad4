"""Parameter counts per part of STGCN in the paper configuration.

Usage: ``python -m stgcn_reid.models.summary [resnet18|resnet34|resnet50]`` (default resnet50):
ResNet, last stride 1, M=3, K=2, P_t=P_s=4, T=8, 625 MARS training identities.
"""

from __future__ import annotations

import sys

from torch import nn

from stgcn_reid.models.backbone import ARCHS, ResNetBackbone
from stgcn_reid.models.stgcn import STGCN


def paper_model(arch: str = "resnet50") -> STGCN:
    """STGCN as configured in paper §4.2, with a randomly initialised backbone."""
    return STGCN(ResNetBackbone(arch, last_stride=1), num_classes=625, seq_len=8)


def parameter_counts(model: STGCN) -> dict[str, int]:
    """Trainable-parameter count of each part and the total."""
    parts: dict[str, nn.Module | None] = {
        "backbone": model.backbone,
        "temporal GCN": model.temporal_gcn,
        "structural GCN": model.structural_gcn,
        "classifier": model.classifier,
    }
    counts = {
        name: sum(p.numel() for p in part.parameters()) if part is not None else 0
        for name, part in parts.items()
    }
    counts["total"] = sum(counts.values())
    return counts


def format_counts(counts: dict[str, int]) -> str:
    """A two-column text table."""
    return "\n".join(f"{name:<16}{count:>14,}" for name, count in counts.items())


def main(argv: list[str] | None = None) -> None:
    """Print the table for the architecture named on the command line."""
    args = sys.argv[1:] if argv is None else argv
    arch = args[0] if args else "resnet50"
    if arch not in ARCHS:
        raise SystemExit(f"unknown arch {arch!r}; valid: {', '.join(ARCHS)}")
    model = paper_model(arch)
    print(f"STGCN, {arch} (last stride 1), M=3 K=2 P=4 T=8, 625 classes, D={model.embedding_dim}")
    print(format_counts(parameter_counts(model)))


if __name__ == "__main__":
    main()

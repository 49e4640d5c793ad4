"""Eq. 8-9: batch-hard triplet per branch and softmax cross entropy."""

from __future__ import annotations

import pytest
import torch

from stgcn_reid.losses import ReIDLoss, batch_hard_triplet
from stgcn_reid.models import STGCNOutput


def brute_force_batch_hard(features: torch.Tensor, labels: torch.Tensor, margin: float) -> float:
    """Hermans et al.: per anchor, the farthest positive and the nearest negative, by loops."""
    losses = []
    for a in range(len(labels)):
        pos = [
            torch.dist(features[a], features[p]).item()
            for p in range(len(labels))
            if p != a and labels[p] == labels[a]
        ]
        neg = [
            torch.dist(features[a], features[n]).item()
            for n in range(len(labels))
            if labels[n] != labels[a]
        ]
        losses.append(max(0.0, max(pos) - min(neg) + margin))
    return sum(losses) / len(losses)


def test_batch_hard_matches_loops() -> None:
    torch.manual_seed(0)
    features = torch.randn(12, 5)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    expected = brute_force_batch_hard(features, labels, margin=0.3)
    assert batch_hard_triplet(features, labels, 0.3).item() == pytest.approx(expected, rel=1e-5)


def test_batch_hard_zero_when_identities_are_separated() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    features = torch.tensor([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [10.1, 0.0]])
    assert batch_hard_triplet(features, labels, 0.3).item() == 0.0
    # The soft margin never reaches zero, but is tiny here.
    assert 0 < batch_hard_triplet(features, labels, None).item() < 1e-3


@pytest.mark.parametrize("labels", [[0, 1, 2], [0, 0, 1], [0, 0, 0, 0]])
def test_batches_without_positives_or_negatives_are_rejected(labels: list[int]) -> None:
    features = {"global": torch.randn(len(labels), 4)}
    output = STGCNOutput(
        features=features, embedding=features["global"], logits=torch.randn(len(labels), 3)
    )
    with pytest.raises(ValueError, match="num_instances"):
        ReIDLoss()(output, torch.tensor(labels))


def test_reid_loss_has_one_triplet_term_per_branch_and_sums() -> None:
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    features = {name: torch.randn(6, 8) for name in ("global", "temporal", "spatial")}
    logits = torch.randn(6, 3)
    output = STGCNOutput(
        features=features, embedding=torch.cat(list(features.values()), 1), logits=logits
    )
    terms = ReIDLoss(margin=0.3, triplet_weight=2.0, softmax_weight=0.5)(output, labels)
    assert set(terms) == {
        "triplet/global",
        "triplet/temporal",
        "triplet/spatial",
        "softmax",
        "total",
    }
    triplets = sum(terms[f"triplet/{b}"] for b in features)
    assert terms["total"].item() == pytest.approx(
        (2.0 * triplets + 0.5 * terms["softmax"]).item(), rel=1e-6
    )
    assert terms["softmax"].item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-6
    )


@pytest.mark.parametrize("branches", [("global",), ("global", "spatial")])
def test_reid_loss_follows_enabled_branches(branches: tuple[str, ...]) -> None:
    features = {b: torch.randn(4, 3) for b in branches}
    output = STGCNOutput(
        features=features, embedding=torch.cat(list(features.values()), 1), logits=torch.randn(4, 2)
    )
    terms = ReIDLoss()(output, torch.tensor([0, 0, 1, 1]))
    assert sorted(k for k in terms if k.startswith("triplet/")) == sorted(
        f"triplet/{b}" for b in branches
    )


def test_label_smoothing_changes_only_the_softmax_term() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    output = STGCNOutput(
        features={"global": torch.randn(4, 3)},
        embedding=torch.randn(4, 3),
        logits=torch.tensor([[4.0, 0.0]] * 2 + [[0.0, 4.0]] * 2),
    )
    plain, smooth = ReIDLoss(label_smoothing=0.0), ReIDLoss(label_smoothing=0.2)
    a, b = plain(output, labels), smooth(output, labels)
    assert a["triplet/global"] == b["triplet/global"]
    assert b["softmax"] > a["softmax"]


def test_batch_hard_gradient_reaches_every_anchor_inside_the_margin() -> None:
    torch.manual_seed(0)
    features = torch.randn(6, 4, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    # Tiny distances: every anchor violates margin 1, so every anchor gets a gradient.
    batch_hard_triplet(features * 0.01, labels, margin=1.0).backward()
    assert features.grad is not None
    assert bool((features.grad.abs().sum(dim=1) > 0).all())

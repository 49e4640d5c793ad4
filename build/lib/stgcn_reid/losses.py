"""Training objective of STGCN: eq. 8 (a batch-hard triplet loss per branch) plus eq. 9 (softmax
cross entropy on the concatenated feature)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgcn_reid.models import STGCNOutput


def batch_hard_triplet(features: Tensor, labels: Tensor, margin: float | None = 0.3) -> Tensor:
    """Batch-hard triplet loss of Hermans et al. (2017), the form used by eq. 8.

    For every anchor the farthest positive and the closest negative in the batch are mined on
    euclidean distances. ``margin=None`` selects the soft-margin variant ``softplus(d_p - d_n)``.
    torch ships only a triplet loss over given triplets (``nn.TripletMarginLoss``), not the
    in-batch mining, hence this function.
    """
    dist = torch.cdist(features.float(), features.float())
    same = labels[:, None] == labels[None, :]
    hardest_pos = dist.masked_fill(~same, float("-inf")).amax(dim=1)
    hardest_neg = dist.masked_fill(same, float("inf")).amin(dim=1)
    if margin is None:
        return F.softplus(hardest_pos - hardest_neg).mean()
    return F.relu(hardest_pos - hardest_neg + margin).mean()


def check_triplet_batch(labels: Tensor) -> None:
    """Raise unless every identity has a positive and a negative in the batch.

    Without them batch-hard mining silently yields a zero loss. The check reads the labels on
    the host, so :class:`ReIDLoss` runs it on its first batch only: the P x K sampler gives
    every later batch the same structure.
    """
    counts = torch.unique(labels.cpu(), return_counts=True)[1]
    if len(counts) < 2 or int(counts.min()) < 2:
        raise ValueError(
            "batch-hard triplet loss needs >= 2 tracklets per identity and >= 2 identities per "
            "batch (check data.num_instances >= 2 and data.num_identities >= 2)"
        )


class ReIDLoss(nn.Module):
    """L_total = L_softmax + sum over enabled branches of L_triplet (eq. 8-9).

    Args:
        margin: triplet margin; ``None`` for the soft margin.
        label_smoothing: cross-entropy label smoothing (0 = the paper's plain softmax loss).
        triplet_weight: weight of the summed triplet terms.
        softmax_weight: weight of the cross-entropy term.
    """

    def __init__(
        self,
        margin: float | None = 0.3,
        label_smoothing: float = 0.0,
        triplet_weight: float = 1.0,
        softmax_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.margin = margin
        self.triplet_weight = triplet_weight
        self.softmax_weight = softmax_weight
        self.cross_entropy = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self._batch_checked = False

    def forward(self, output: STGCNOutput, pids: Tensor) -> dict[str, Tensor]:
        """Every term (``triplet/<branch>``, ``softmax``) and their weighted sum ``total``."""
        if not self._batch_checked:
            check_triplet_batch(pids)
            self._batch_checked = True
        terms = {
            f"triplet/{branch}": batch_hard_triplet(feature, pids, self.margin)
            for branch, feature in output.features.items()
        }
        terms["softmax"] = self.cross_entropy(output.logits.float(), pids)
        triplet = torch.stack([v for k, v in terms.items() if k.startswith("triplet/")]).sum()
        terms["total"] = self.triplet_weight * triplet + self.softmax_weight * terms["softmax"]
        return terms

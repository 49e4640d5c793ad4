"""Index samplers: P x K identity batches for training, exact per-rank shards for testing.

Both are finite per epoch and deterministic: :class:`PKBatchSampler` derives its order from
``(seed, epoch)`` alone, so every DDP rank computes the same global plan and takes its own part
without any communication.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
from torch.utils.data import Sampler

EpochMode = Literal["identities", "tracklets"]


class PKBatchSampler(Sampler[list[int]]):
    """Batches of ``P`` distinct identities x ``K`` tracklets each (for the triplet loss).

    Each batch lists the ``K`` indices of its first identity, then of the second, and so on. An
    identity with fewer than ``K`` tracklets contributes all of them plus draws with replacement.

    Epoch (``epoch_mode``):
        ``"identities"``: every identity once, ``num_ids x K`` tracklets per epoch, as in
        Video-Person-ReID, whose 800-epoch schedule STGCN reuses.
        ``"tracklets"``: every tracklet at least once (torchreid); an identity with ``n``
        tracklets gives ``ceil(n / K)`` groups of ``K``.

    DDP: the global batch of ``P x world_size`` identities is planned from ``(seed, epoch)`` on
    every rank, and rank ``r`` takes identities ``r*P .. (r+1)*P - 1`` of it, so ranks hold
    disjoint identities in each step and yield the same number of batches. No identity is
    dropped: the (at most ``P x world_size - 1``) free places of the plan are filled with extra
    random identities, spread over the batches.

    Args:
        pids: the identity of every dataset index.
        P: identities per batch (per rank).
        K: tracklets per identity.
        rank, world_size: this process's place in DDP.
        seed: shared by all ranks.
        epoch_mode: see above.
    """

    def __init__(
        self,
        pids: Sequence[int],
        P: int,  # noqa: N803 (the paper's P x K notation)
        K: int,  # noqa: N803
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        epoch_mode: EpochMode = "identities",
    ) -> None:
        if P < 1 or K < 1:
            raise ValueError(f"P and K must be at least 1, got P={P}, K={K}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        if epoch_mode not in ("identities", "tracklets"):
            raise ValueError(f"epoch_mode must be 'identities' or 'tracklets', got {epoch_mode!r}")
        labels = np.asarray(pids)
        self.identities, counts = np.unique(labels, return_counts=True)
        if P * world_size > len(self.identities):
            raise ValueError(
                f"P={P} identities per batch x world_size={world_size} ranks needs "
                f"{P * world_size} distinct identities, but the data has {len(self.identities)}"
            )
        # Indices of each identity, in the order of self.identities.
        self.members = np.split(np.argsort(labels, kind="stable"), np.cumsum(counts)[:-1])
        self.P, self.K = P, K
        self.rank, self.world_size = rank, world_size
        self.seed, self.epoch_mode = seed, epoch_mode
        self.epoch = 0
        groups = [self._num_groups(len(m)) for m in self.members]
        self._num_batches = max(-(-sum(groups) // (P * world_size)), max(groups))

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose plan ``__iter__`` yields (called by Lightning each epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self._num_batches

    def __iter__(self) -> Iterator[list[int]]:
        for plan in self.global_batches(self.epoch):
            mine = plan[self.rank * self.P : (self.rank + 1) * self.P]
            yield np.concatenate(mine).tolist()

    def global_batches(self, epoch: int) -> list[list[np.ndarray]]:
        """The plan of ``epoch``: per step, ``P x world_size`` groups of ``K`` indices.

        Groups are laid out identity by identity and dealt to the steps in turn (group ``j`` to
        step ``j mod num_batches``); as an identity has at most ``num_batches`` groups, no
        step gets the same identity twice. Steps left short are topped up with identities they
        do not hold yet.
        """
        rng = np.random.default_rng([self.seed, epoch])
        width = self.P * self.world_size
        steps: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(self._num_batches)]
        slot = 0
        for identity in rng.permutation(len(self.identities)):
            for group in self._groups(self.members[identity], rng):
                steps[slot % self._num_batches].append((identity, group))
                slot += 1
        for step in steps:
            present = {identity for identity, _ in step}
            free = np.setdiff1d(np.arange(len(self.identities)), list(present))
            for identity in rng.choice(free, width - len(step), replace=False):
                step.append((identity, self._fill(self.members[identity], rng)))
        plans = [[step[i][1] for i in rng.permutation(width)] for step in steps]
        return [plans[i] for i in rng.permutation(len(plans))]

    def _num_groups(self, n: int) -> int:
        return 1 if self.epoch_mode == "identities" else -(-n // self.K)

    def _groups(self, members: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """This epoch's groups of ``K`` indices of one identity."""
        if self.epoch_mode == "identities" or len(members) <= self.K:
            return [self._fill(members, rng)]
        shuffled = rng.permutation(members)
        groups = [shuffled[i : i + self.K] for i in range(0, len(shuffled), self.K)]
        short = self.K - len(groups[-1])
        if short:
            # Top the last group up with other tracklets of the identity, without repeating one.
            used = shuffled[: len(shuffled) - len(groups[-1])]
            groups[-1] = np.concatenate([groups[-1], rng.choice(used, short, replace=False)])
        return groups

    def _fill(self, members: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``K`` tracklets of one identity: distinct if it has ``K``, else all plus repeats."""
        if len(members) >= self.K:
            return rng.choice(members, self.K, replace=False)
        extra = rng.choice(members, self.K - len(members), replace=True)
        return rng.permutation(np.concatenate([members, extra]))


class ShardSampler(Sampler[int]):
    """Rank ``rank``'s contiguous share of ``range(n)``: exact, no padding, no duplicates.

    Lightning's default DistributedSampler pads ranks to equal length by repeating items, which
    would count some query/gallery tracklets twice in the retrieval metrics.

    With ``group_sizes`` (consecutive groups summing to ``n``, e.g. the clips of each
    tracklet), shard borders fall between groups so that each group stays on one rank; shards
    are then balanced by item count up to one group.
    """

    def __init__(
        self,
        n: int,
        rank: int = 0,
        world_size: int = 1,
        group_sizes: Sequence[int] | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        if group_sizes is None:
            self.start, self.stop = n * rank // world_size, n * (rank + 1) // world_size
            return
        ends = np.cumsum(group_sizes)
        if len(ends) == 0 or ends[-1] != n:
            raise ValueError(f"group_sizes must sum to n={n}, got {int(np.sum(group_sizes))}")
        borders = np.concatenate([[0], ends])
        # The group border nearest to each ideal cut k*n/world_size.
        cuts = [
            int(borders[np.abs(borders - n * k / world_size).argmin()]) for k in (rank, rank + 1)
        ]
        self.start, self.stop = cuts

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start

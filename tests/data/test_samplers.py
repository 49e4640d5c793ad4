"""p x k identity batches (single process and simulated DDP ranks) and exact test shards."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from stgcn_reid.data.samplers import PKBatchSampler, ShardSampler

# Ten identities with 1..20 tracklets, interleaved so that an index's position says nothing
# about its identity.
COUNTS = {7: 1, 11: 2, 12: 3, 20: 4, 21: 5, 30: 6, 31: 7, 40: 9, 41: 12, 50: 20}
PIDS = (
    np.random.default_rng(0)
    .permutation([pid for pid, count in COUNTS.items() for _ in range(count)])
    .tolist()
)
MODES = ("identities", "tracklets")


def groups(batch: list[int], k: int) -> list[list[int]]:
    return [batch[i : i + k] for i in range(0, len(batch), k)]


@pytest.mark.parametrize("mode", MODES)
def test_batches_hold_p_distinct_identities_of_k_tracklets(mode: str) -> None:
    p, k = 3, 4
    sampler = PKBatchSampler(PIDS, p, k, epoch_mode=mode)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    for batch in batches:
        assert len(batch) == p * k
        identities = []
        for group in groups(batch, k):
            (pid,) = {PIDS[i] for i in group}  # one identity per group of k
            identities.append(pid)
            if COUNTS[pid] >= k:
                assert len(set(group)) == k  # no repeats when the identity has k tracklets
            else:
                # All of a small identity's tracklets, padded with repeats.
                assert {i for i, other in enumerate(PIDS) if other == pid} == set(group)
        assert len(set(identities)) == p


def test_identities_epoch_visits_every_identity_once_plus_padding() -> None:
    p, k = 3, 4
    sampler = PKBatchSampler(PIDS, p, k, epoch_mode="identities")
    seen = Counter(PIDS[group[0]] for batch in sampler for group in groups(batch, k))
    assert len(sampler) == 4  # ceil(10 identities / 3)
    assert set(seen) == set(COUNTS)
    assert max(seen.values()) <= 2  # only the 2 padding places repeat an identity


def test_tracklets_epoch_visits_every_tracklet() -> None:
    sampler = PKBatchSampler(PIDS, 3, 4, epoch_mode="tracklets")
    seen = {i for batch in sampler for i in batch}
    assert seen == set(range(len(PIDS)))
    # 1+1+1+1+2+2+2+3+3+5 = 21 groups of 4 in steps of 3, and 5 groups for pid 50.
    assert len(sampler) == 7


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_ranks_take_disjoint_identities_and_cover_all(mode: str, world_size: int) -> None:
    p, k = 2, 3
    ranks = [
        PKBatchSampler(PIDS, p, k, rank=r, world_size=world_size, seed=5, epoch_mode=mode)
        for r in range(world_size)
    ]
    for sampler in ranks:
        sampler.set_epoch(3)
    per_rank = [list(sampler) for sampler in ranks]
    assert len({len(batches) for batches in per_rank}) == 1
    assert all(
        len(batches) == len(sampler) for batches, sampler in zip(per_rank, ranks, strict=True)
    )
    covered = set()
    for step in zip(*per_rank, strict=True):
        ids = [{PIDS[i] for i in batch} for batch in step]
        assert all(len(rank_ids) == p for rank_ids in ids)
        assert len(set().union(*ids)) == p * world_size  # disjoint across ranks
        covered |= set().union(*ids)
    assert covered == set(COUNTS)
    if mode == "tracklets":
        assert {i for batches in per_rank for b in batches for i in b} == set(range(len(PIDS)))


def test_plan_depends_on_seed_and_epoch_only() -> None:
    def plan(seed: int, epoch: int) -> list[list[int]]:
        sampler = PKBatchSampler(PIDS, 2, 4, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert plan(0, 2) == plan(0, 2)
    assert plan(0, 2) != plan(0, 3)
    assert plan(0, 2) != plan(1, 2)


@pytest.mark.parametrize("mode", MODES)
def test_length_is_exact_in_every_epoch(mode: str) -> None:
    sampler = PKBatchSampler(PIDS, 4, 2, world_size=2, rank=1, epoch_mode=mode)
    for epoch in range(4):
        sampler.set_epoch(epoch)
        assert len(list(sampler)) == len(sampler)


def test_more_identities_per_batch_than_exist_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"P=11 .* has 10"):
        PKBatchSampler(PIDS, 11, 4)
    with pytest.raises(ValueError, match=r"P=4 .*world_size=3.* has 10"):
        PKBatchSampler(PIDS, 4, 4, rank=0, world_size=3)


@pytest.mark.parametrize(("n", "world_size"), [(10, 3), (2, 3), (7, 1), (0, 2)])
def test_shards_partition_the_range_exactly(n: int, world_size: int) -> None:
    shards = [list(ShardSampler(n, r, world_size)) for r in range(world_size)]
    assert [i for shard in shards for i in shard] == list(range(n))
    assert [len(ShardSampler(n, r, world_size)) for r in range(world_size)] == list(
        map(len, shards)
    )
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_grouped_shards_keep_each_group_on_one_rank() -> None:
    sizes = [3, 1, 4, 1, 5, 9, 2, 6]
    owner = np.repeat(np.arange(len(sizes)), sizes)
    shards = [list(ShardSampler(sum(sizes), r, 3, group_sizes=sizes)) for r in range(3)]
    assert [i for shard in shards for i in shard] == list(range(sum(sizes)))
    for a in range(3):
        for b in range(a + 1, 3):
            assert not set(owner[shards[a]]) & set(owner[shards[b]])
    with pytest.raises(ValueError, match="sum to n=5"):
        ShardSampler(5, 0, 1, group_sizes=[1, 2])

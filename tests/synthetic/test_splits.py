"""Split protocol (DukeMTMC-VideoReID): on the plan and on the dataset read back from disk."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from stgcn_reid.data.synthetic import SyntheticConfig, load_synthetic
from stgcn_reid.data.synthetic.plan import build_benchmark

from .conftest import TINY


def test_planned_splits_follow_the_protocol(tiny_config: SyntheticConfig) -> None:
    benchmark = build_benchmark(tiny_config)
    roles = {pid: identity.role for pid, identity in benchmark.identities.items()}
    by_pid = defaultdict(list)
    for planned in benchmark.tracklets:
        by_pid[planned.slot.pid].append(planned.slot)
    for pid, slots in by_pid.items():
        splits = {s.split for s in slots}
        assert sorted(s.number for s in slots) == list(range(1, len(slots) + 1))
        if roles[pid] == "train":
            assert splits == {"train"}
            assert len({s.camid for s in slots}) >= 2
        elif roles[pid] == "distractor":
            assert splits == {"gallery"}
        else:
            prefix = "val_" if roles[pid] == "val" else ""
            assert splits == {f"{prefix}query", f"{prefix}gallery"}
            (query,) = [s for s in slots if s.split == f"{prefix}query"]
            assert any(s.split == f"{prefix}gallery" and s.camid != query.camid for s in slots)
    assert set(by_pid) == set(roles)


def test_loaded_dataset_follows_the_protocol(tiny_root: Path) -> None:
    dataset = load_synthetic(tiny_root, **TINY)
    query_pids = {t.pid for t in dataset.query}
    gallery_pids = {t.pid for t in dataset.gallery}
    assert len(dataset.query) == len(query_pids) == TINY["num_test_ids"]
    assert len(gallery_pids - query_pids) == TINY["num_distractors"]
    assert {t.pid for t in dataset.train} == set(range(TINY["num_train_ids"]))
    train_pids = {int(Path(t.frames[0]).parent.parent.name) for t in dataset.train}
    assert len(train_pids) == TINY["num_train_ids"]
    assert not train_pids & (query_pids | gallery_pids)
    # The query copies shipped in gallery/ were dropped by the Duke loader.
    assert not {t.frames[0] for t in dataset.query} & {
        t.frames[0].replace("/gallery/", "/query/") for t in dataset.gallery
    }
    for query in dataset.query:
        matches = [t for t in dataset.gallery if t.pid == query.pid]
        assert any(t.camid != query.camid for t in matches)
        assert len({t.camid for t in [query, *matches]}) >= 2


def test_validation_identities_are_their_own(tiny_root: Path) -> None:
    dataset = load_synthetic(tiny_root, **TINY)
    assert len(dataset.val_query) == TINY["num_val_ids"]
    assert "3 generated validation identities" in dataset.summary()

    def folder_pids(tracklets) -> set[int]:
        return {int(Path(t.frames[0]).parent.parent.name) for t in tracklets}

    val = folder_pids([*dataset.val_query, *dataset.val_gallery])
    assert len(val) == TINY["num_val_ids"]
    assert not val & folder_pids(dataset.train)
    assert not val & folder_pids([*dataset.query, *dataset.gallery])
    for query in dataset.val_query:
        assert any(g.pid == query.pid and g.camid != query.camid for g in dataset.val_gallery)

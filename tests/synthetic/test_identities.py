"""Identities: confuser groups share every appearance attribute and differ in structure."""

from __future__ import annotations

from itertools import combinations

import numpy as np

from stgcn_reid.data.synthetic import make_config
from stgcn_reid.data.synthetic.identities import (
    CONFUSER_MIN_STATURE_GAP,
    CONFUSER_MIN_STRUCTURE_GAP,
    Identity,
    sample_identities,
)


def _groups(identities: list[Identity]) -> dict[int, list[Identity]]:
    groups: dict[int, list[Identity]] = {}
    for identity in identities:
        if identity.group >= 0:
            groups.setdefault(identity.group, []).append(identity)
    return groups


def test_confusers_share_appearance_and_differ_in_body_structure() -> None:
    cfg = make_config(
        num_train_ids=12,
        num_test_ids=10,
        num_distractors=6,
        num_val_ids=8,
        confuser_share=1.0,
        confuser_group_size=4,
    )
    groups = _groups(sample_identities(cfg, np.random.default_rng(3)))
    # 12 train ids -> 3 groups; 16 test + distractor ids -> 4 groups; 8 val ids -> 2 groups.
    assert sorted(len(members) for members in groups.values()) == [4] * 9
    for members in groups.values():
        assert all(m.look == members[0].look for m in members)
        for a, b in combinations(members, 2):
            assert abs(a.body.stature - b.body.stature) >= CONFUSER_MIN_STATURE_GAP - 1e-9
            gap = np.linalg.norm(a.body.normalised() - b.body.normalised())
            assert gap >= CONFUSER_MIN_STRUCTURE_GAP


def test_groups_stay_inside_training_test_and_distractors_or_validation() -> None:
    cfg = make_config(
        num_train_ids=20, num_test_ids=20, num_distractors=10, num_val_ids=10, confuser_share=0.6
    )
    identities = sample_identities(cfg, np.random.default_rng(0))
    side = {"train": "train", "test": "test", "distractor": "test", "val": "val"}
    for members in _groups(identities).values():
        assert len({side[m.role] for m in members}) == 1
    grouped = sum(i.group >= 0 for i in identities)
    size = cfg.confuser_group_size
    expected = round(0.6 * 20) // size + round(0.6 * 30) // size + round(0.6 * 10) // size
    assert grouped == expected * size
    assert sum(i.role == "val" for i in identities) == 10


def test_people_outside_groups_are_drawn_independently() -> None:
    cfg = make_config(
        num_train_ids=30, num_test_ids=30, num_distractors=0, num_val_ids=0, confuser_share=0.0
    )
    identities = sample_identities(cfg, np.random.default_rng(0))
    assert all(i.group == -1 for i in identities)
    assert len({i.look for i in identities}) == len(identities)
    assert sorted(i.pid for i in identities) == list(range(1, 61))

"""Generator parameters: validation with clear errors, presets, and the cache key."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest

from stgcn_reid.data.synthetic import (
    PARAMETER_NAMES,
    SyntheticConfig,
    SyntheticConfigError,
    load_synthetic,
    make_config,
)


def test_unknown_parameter_error_lists_the_valid_names() -> None:
    with pytest.raises(SyntheticConfigError, match="bogus") as error:
        make_config(bogus=1)
    message = str(error.value)
    assert "preset" in message
    assert all(name in message for name in PARAMETER_NAMES)


def test_unknown_preset_names_the_presets() -> None:
    with pytest.raises(SyntheticConfigError, match="'default', 'hard'"):
        make_config("nope")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("num_test_ids", "5"),
        ("num_test_ids", True),
        ("num_test_ids", 2.0),
        ("occlusion_prob", "high"),
        ("occlusion_prob", 1.5),
        ("num_cameras", 1),
        ("cameras_per_id_max", 9),
        ("tracklets_per_id_min", 1),
        ("max_frames", 5),
        ("width", 200),
        ("confuser_group_size", 1),
    ],
)
def test_bad_values_name_the_key(key: str, value: object) -> None:
    with pytest.raises(SyntheticConfigError, match=f"synthetic.{key}"):
        make_config(**{key: value})


def test_hard_preset_turns_up_both_problems_of_the_paper() -> None:
    default, hard = make_config("default"), make_config("hard")
    assert hard.occlusion_prob > default.occlusion_prob
    assert hard.confuser_share > default.confuser_share
    assert hard.confuser_group_size > default.confuser_group_size
    assert make_config("hard", occlusion_prob=0.1).occlusion_prob == 0.1


def test_cache_key_changes_with_every_parameter() -> None:
    base = SyntheticConfig()
    keys = {base.cache_key()}
    for f in fields(SyntheticConfig):
        value = getattr(base, f.name)
        changed = value + 1 if isinstance(value, int) else value + 0.01
        keys.add(replace(base, **{f.name: changed}).cache_key())
    assert len(keys) == len(fields(SyntheticConfig)) + 1
    assert SyntheticConfig().cache_key() == base.cache_key()


def test_load_synthetic_rejects_unknown_keys_before_writing(tmp_path: Path) -> None:
    with pytest.raises(SyntheticConfigError, match="num_distractorz"):
        load_synthetic(tmp_path, num_distractorz=3)
    assert not any(tmp_path.iterdir())

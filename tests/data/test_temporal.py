"""Frame-index rules: restricted random sampling, evenly, consecutive and strided clips, weights."""

from __future__ import annotations

import numpy as np
import pytest

from stgcn_reid.data.temporal import (
    EVAL_SAMPLINGS,
    clip_weights,
    consecutive_clips,
    eval_clips,
    evenly,
    num_eval_clips,
    restricted_random,
    strided_clips,
)

LENGTHS = range(1, 50)
CLIP_LENGTHS = (1, 3, 8)


def chunk_of(index: np.ndarray, n: int, t: int) -> np.ndarray:
    """Which chunk each frame falls into, chunk i being [floor(i*n/t), floor((i+1)*n/t))."""
    edges = [i * n // t for i in range(t + 1)]
    return np.searchsorted(edges, index, side="right") - 1


@pytest.mark.parametrize("t", CLIP_LENGTHS)
def test_rrs_draws_one_frame_per_chunk(t: int) -> None:
    rng = np.random.default_rng(0)
    for n in range(t, 50):
        for _ in range(5):
            index = restricted_random(n, t, rng)
            assert index.shape == (t,)
            assert (np.diff(index) > 0).all()
            np.testing.assert_array_equal(chunk_of(index, n, t), np.arange(t))


def test_rrs_reaches_every_frame_of_a_chunk() -> None:
    rng = np.random.default_rng(1)
    draws = np.stack([restricted_random(80, 8, rng) for _ in range(400)])
    # Chunk 0 is frames 0..9: the draws must not be stuck on one position.
    assert set(draws[:, 0].tolist()) == set(range(10))


def test_rrs_is_reproducible_from_the_generator() -> None:
    first = restricted_random(57, 8, np.random.default_rng(7))
    again = restricted_random(57, 8, np.random.default_rng(7))
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("n", range(1, 8))
def test_rrs_short_tracklet_repeats_every_frame_in_order(n: int) -> None:
    index = restricted_random(n, 8, np.random.default_rng(0))
    assert index.shape == (8,)
    assert (np.diff(index) >= 0).all()
    assert set(index.tolist()) == set(range(n))


def test_evenly_takes_the_middle_of_each_chunk() -> None:
    # 24 frames in 8 chunks of 3: frames 1, 4, 7, ...
    np.testing.assert_array_equal(evenly(24, 8), np.arange(8) * 3 + 1)


@pytest.mark.parametrize("t", CLIP_LENGTHS)
def test_evenly_is_sorted_inside_the_tracklet(t: int) -> None:
    for n in LENGTHS:
        index = evenly(n, t)
        assert index.shape == (t,)
        assert index.min() >= 0 and index.max() < n
        assert (np.diff(index) >= 0).all()
        if n >= t:
            np.testing.assert_array_equal(chunk_of(index, n, t), np.arange(t))
        else:
            assert set(index.tolist()) == set(range(n))
        np.testing.assert_array_equal(index, evenly(n, t))


@pytest.mark.parametrize("t", CLIP_LENGTHS)
def test_consecutive_clips_cover_every_frame_once_in_order(t: int) -> None:
    for n in LENGTHS:
        clips = consecutive_clips(n, t)
        assert clips.shape == (-(-n // t), t)
        np.testing.assert_array_equal(clips.ravel()[:n], np.arange(n))


def test_consecutive_clips_loop_the_last_clip_over_its_own_frames() -> None:
    clips = consecutive_clips(19, 8)
    # 19 = 8 + 8 + 3: the last clip loops over frames 16, 17, 18.
    np.testing.assert_array_equal(clips[-1], [16, 17, 18, 16, 17, 18, 16, 17])
    np.testing.assert_array_equal(consecutive_clips(3, 8)[0], [0, 1, 2, 0, 1, 2, 0, 1])


@pytest.mark.parametrize("t", CLIP_LENGTHS)
def test_strided_clips_take_one_frame_per_chunk_and_cover_every_frame(t: int) -> None:
    for n in LENGTHS:
        clips = strided_clips(n, t)
        assert clips.shape == (num_eval_clips(n, t, "strided"), t)
        assert set(clips.ravel().tolist()) == set(range(n))
        assert (np.diff(clips, axis=1) >= 0).all()  # time order inside each clip
        if n >= t:
            # Like a training clip: frame i of the clip lies in chunk i.
            for row in clips:
                np.testing.assert_array_equal(chunk_of(row, n, t), np.arange(t))


def test_strided_clips_of_20_frames_in_8_chunks() -> None:
    # Chunks of 2, 3, 2, 3, 2, 3, 2, 3 frames, starting at 0, 2, 5, 7, 10, 12, 15, 17.
    np.testing.assert_array_equal(
        strided_clips(20, 8),
        [
            [0, 2, 5, 7, 10, 12, 15, 17],
            [1, 3, 6, 8, 11, 13, 16, 18],
            [0, 4, 5, 9, 10, 14, 15, 19],  # the 2-frame chunks loop back to their first
        ],
    )


@pytest.mark.parametrize("rule", ["consecutive", "strided"])
@pytest.mark.parametrize("t", CLIP_LENGTHS)
def test_weighted_clips_count_every_frame_once(rule: str, t: int) -> None:
    """A frame's weight in the tracklet mean: the weight of the clip that first holds it,
    shared among that clip's frames. Every distinct frame must get the same weight."""
    for n in LENGTHS:
        clips, weights = eval_clips(n, t, rule)
        assert weights.sum() == n
        share = np.zeros(n)
        seen: set[int] = set()
        for row, weight in zip(clips, weights, strict=True):
            new = [i for i in dict.fromkeys(row.tolist()) if i not in seen]
            assert len(new) == weight
            seen.update(new)
            share[new] += 1
        np.testing.assert_array_equal(share, np.ones(n))


def test_padding_does_not_double_the_weight_of_the_last_frames() -> None:
    """all_clips(20, 8) padded its last clip as [16..19, 16..19]: with equal clip weights those
    four frames counted twice as much as the others."""
    clips, weights = eval_clips(20, 8, "consecutive")
    np.testing.assert_array_equal(clips[-1], [16, 17, 18, 19, 16, 17, 18, 19])
    np.testing.assert_array_equal(weights, [8, 8, 4])
    per_frame = np.repeat(weights / weights.sum(), [8, 8, 4]) / np.repeat([8, 8, 4], [8, 8, 4])
    np.testing.assert_allclose(per_frame, 1 / 20)
    np.testing.assert_array_equal(clip_weights(strided_clips(20, 8)), [8, 8, 4])


def test_evenly_is_one_clip_of_weight_one() -> None:
    clips, weights = eval_clips(30, 8, "evenly")
    np.testing.assert_array_equal(clips, evenly(30, 8)[None])
    np.testing.assert_array_equal(weights, [1.0])


def test_unknown_eval_rule_names_the_choices() -> None:
    with pytest.raises(ValueError, match="strided"):
        eval_clips(10, 4, "all")
    assert set(EVAL_SAMPLINGS) == {"evenly", "consecutive", "strided"}


@pytest.mark.parametrize("rule", [evenly, consecutive_clips, strided_clips])
def test_empty_tracklet_or_clip_is_an_error(rule) -> None:
    with pytest.raises(ValueError, match="n=0"):
        rule(0, 8)
    with pytest.raises(ValueError, match="T=0"):
        rule(5, 0)
    with pytest.raises(ValueError, match="n=0"):
        restricted_random(0, 8, np.random.default_rng(0))

"""Frame-index rules: restricted random sampling, evenly, all clips."""

from __future__ import annotations

import numpy as np
import pytest

from stgcn_reid.data.temporal import all_clips, evenly, restricted_random

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
def test_all_clips_cover_every_frame_once_in_order(t: int) -> None:
    for n in LENGTHS:
        clips = all_clips(n, t)
        assert clips.shape == (-(-n // t), t)
        np.testing.assert_array_equal(clips.ravel()[:n], np.arange(n))


def test_all_clips_loop_the_last_clip_over_its_own_frames() -> None:
    clips = all_clips(19, 8)
    # 19 = 8 + 8 + 3: the last clip loops over frames 16, 17, 18.
    np.testing.assert_array_equal(clips[-1], [16, 17, 18, 16, 17, 18, 16, 17])
    np.testing.assert_array_equal(all_clips(3, 8)[0], [0, 1, 2, 0, 1, 2, 0, 1])


@pytest.mark.parametrize("rule", [evenly, all_clips])
def test_empty_tracklet_or_clip_is_an_error(rule) -> None:
    with pytest.raises(ValueError, match="n=0"):
        rule(0, 8)
    with pytest.raises(ValueError, match="T=0"):
        rule(5, 0)
    with pytest.raises(ValueError, match="n=0"):
        restricted_random(0, 8, np.random.default_rng(0))

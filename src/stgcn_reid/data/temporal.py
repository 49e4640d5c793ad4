"""Which frames of a tracklet of ``n`` frames form a clip of ``T`` frames.

Pure functions on lengths: they return frame indices and never touch images, so they are cheap to
test exhaustively. Randomness comes only from the generator passed in.

All three rules share one chunking: the tracklet is cut into ``T`` chunks of (almost) equal
length, chunk ``i`` spanning frames ``[floor(i*n/T), floor((i+1)*n/T))``. When ``n < T`` some of
those spans are empty, and chunk ``i`` then falls back to frame ``floor(i*n/T)``, so a short
tracklet repeats its frames in order instead of failing.

``T`` keeps the paper's name for the clip length (hence ``noqa: N803``).
"""

from __future__ import annotations

import numpy as np


def _check(n: int, T: int) -> None:  # noqa: N803
    if n < 1:
        raise ValueError(f"a tracklet needs at least one frame, got n={n}")
    if T < 1:
        raise ValueError(f"the clip length T (seq_len) must be at least 1, got T={T}")


def _chunk_bounds(n: int, T: int) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
    """Inclusive start and exclusive end of the ``T`` chunks (never empty, see module doc)."""
    edges = (np.arange(T + 1) * n) // T
    starts = edges[:-1]
    ends = np.maximum(edges[1:], starts + 1)
    return starts, ends


def restricted_random(n: int, T: int, rng: np.random.Generator) -> np.ndarray:  # noqa: N803
    """Restricted random sampling (RRS), the paper's training rule (Sec. 4.2, after [26]).

    The tracklet is split into ``T`` equal chunks and one frame is drawn uniformly from each, so
    the clip covers the whole tracklet while still varying from draw to draw.

    Returns:
        ``T`` sorted int64 frame indices in ``[0, n)``; distinct when ``n >= T``.
    """
    _check(n, T)
    starts, ends = _chunk_bounds(n, T)
    return rng.integers(starts, ends)


def evenly(n: int, T: int) -> np.ndarray:  # noqa: N803
    """``T`` frames spread over the tracklet, the middle frame of each chunk (deterministic).

    For a chunk of even length this is the later of its two middle frames.

    Used for cheap validation: one clip per tracklet. Unlike torchreid's ``evenly`` (first frame
    of each chunk) the middle frame keeps the clip centred on the tracklet.
    """
    _check(n, T)
    starts, ends = _chunk_bounds(n, T)
    return (starts + ends) // 2


def all_clips(n: int, T: int) -> np.ndarray:  # noqa: N803
    """Every frame, in order, cut into consecutive clips of ``T`` frames.

    The last clip is padded by looping over its own frames (as Video-Person-ReID's ``dense``
    mode): a remainder ``[a, b, c]`` with ``T=8`` becomes ``[a, b, c, a, b, c, a, b]``. Looping
    rather than repeating the last frame keeps the remainder's frames equally weighted when the
    clip features are averaged. A tracklet shorter than ``T`` is one looped clip.

    Returns:
        int64 array ``[ceil(n / T), T]``; its first ``n`` entries, read row by row, are
        ``0, 1, ..., n-1``.
    """
    _check(n, T)
    num_clips = -(-n // T)
    clips = np.arange(num_clips * T).reshape(num_clips, T)
    last_start = (num_clips - 1) * T
    remainder = n - last_start
    clips[-1] = last_start + np.arange(T) % remainder
    return clips

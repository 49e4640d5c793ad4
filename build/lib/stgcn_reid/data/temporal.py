"""Which frames of a tracklet of ``n`` frames form a clip of ``T`` frames.

Pure functions on lengths: they return frame indices and never touch images, so they are cheap to
test exhaustively. Randomness comes only from the generator passed in.

Training draws one frame per chunk (:func:`restricted_random`); the test rules either mirror it
(:func:`evenly`, :func:`strided_clips`) or take runs of consecutive frames
(:func:`consecutive_clips`). The chunk rules share one chunking: the tracklet is cut into ``T``
chunks of (almost) equal length, chunk ``i`` spanning frames ``[floor(i*n/T),
floor((i+1)*n/T))``. When ``n < T`` some of those spans are empty, and chunk ``i`` then falls
back to frame ``floor(i*n/T)``, so a short tracklet repeats its frames in order instead of
failing.

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


def consecutive_clips(n: int, T: int) -> np.ndarray:  # noqa: N803
    """Every frame, in order, cut into consecutive clips of ``T`` frames (short time span).

    The last clip is padded by looping over its own frames (as Video-Person-ReID's ``dense``
    mode): a remainder ``[a, b, c]`` with ``T=8`` becomes ``[a, b, c, a, b, c, a, b]``. A
    tracklet shorter than ``T`` is one looped clip. Averaged with :func:`clip_weights`, every
    frame counts once.

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


def strided_clips(n: int, T: int) -> np.ndarray:  # noqa: N803
    """Every frame, in clips built like the training clips: one frame per chunk.

    The tracklet is cut into the ``T`` chunks of :func:`restricted_random`; clip ``j`` takes
    frame ``j`` of every chunk, so each clip spans the whole tracklet, as a training clip does.
    A chunk shorter than ``j + 1`` frames loops over its own frames (it has given all of them
    to earlier clips). Together the clips hold every frame at least once, and with
    :func:`clip_weights` every frame counts once.

    Returns:
        int64 array ``[max chunk length, T]`` (``ceil(n / T)`` clips when ``n >= T``, one clip
        otherwise); every row is sorted.
    """
    _check(n, T)
    starts, ends = _chunk_bounds(n, T)
    lengths = ends - starts
    offsets = np.arange(int(lengths.max()))[:, None] % lengths[None, :]
    return starts[None, :] + offsets


def clip_weights(clips: np.ndarray) -> np.ndarray:
    """The weight of each clip in a tracklet's mean feature: the frames it adds.

    Clip ``i`` weighs the number of its frames that no earlier clip holds, so a padded clip
    (loop-padded remainder, chunks that ran out) does not give its frames more weight than the
    others get; the weights sum to the number of distinct frames. E.g. ``n = 20, T = 8``
    consecutive: ``[8, 8, 4]``.

    Args:
        clips: int ``[num_clips, T]`` frame indices (:func:`consecutive_clips`,
            :func:`strided_clips`).
    """
    _, first = np.unique(clips.ravel(), return_index=True)
    return np.bincount(first // clips.shape[1], minlength=clips.shape[0]).astype(np.float64)


#: Test-time clip rules: ``evenly`` (one clip of spread frames, cheap), ``consecutive``
#: (every frame in runs of T), ``strided`` (every frame in clips spanning the tracklet).
EVAL_SAMPLINGS = ("evenly", "consecutive", "strided")


def eval_clips(n: int, T: int, rule: str) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
    """The clips ``[C, T]`` of a tracklet of ``n`` frames under ``rule`` and their weights ``[C]``
    (see :func:`clip_weights`; the tracklet feature is the weighted mean of its clip features).
    """
    if rule == "evenly":
        return evenly(n, T)[None], np.ones(1)
    if rule == "consecutive":
        clips = consecutive_clips(n, T)
    elif rule == "strided":
        clips = strided_clips(n, T)
    else:
        raise ValueError(f"test sampling must be one of {EVAL_SAMPLINGS}, got {rule!r}")
    return clips, clip_weights(clips)


def num_eval_clips(n: int, T: int, rule: str) -> int:  # noqa: N803
    """How many clips :func:`eval_clips` gives (without building them)."""
    if rule == "evenly":
        return 1
    _check(n, T)
    return -(-n // T)

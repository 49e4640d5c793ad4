"""Clip transforms (one random draw per clip) and the train/test clip datasets."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision import tv_tensors

from stgcn_reid.data.clips import TestClips, TrainClips, transform_clip
from stgcn_reid.data.datasets import DatasetError, Tracklet
from stgcn_reid.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_test_transform,
    build_train_transform,
)

from .trees import write_frame


def frame_ids(clip: torch.Tensor) -> list[int]:
    """Frame numbers of a raw clip whose frame k has value 10*k in its top-left pixel."""
    return [round(int(v) / 10) for v in clip[:, 0, 0, 0]]


def make_tracklet(folder: Path, n: int, pid: int = 3, camid: int = 1) -> Tracklet:
    """``n`` lossless PNG frames, frame k with left half 10*k."""
    paths = []
    for k in range(n):
        paths.append(folder / f"{k:03d}.png")
        write_frame(paths[-1], value=10 * k)
    return Tracklet(tuple(map(str, paths)), pid, camid)


def raw(frames: tv_tensors.Image) -> tv_tensors.Image:
    """A transform that leaves the decoded uint8 frames alone."""
    return frames


def asymmetric_clip(num_frames: int = 6) -> torch.Tensor:
    clip = torch.zeros(num_frames, 3, 16, 8, dtype=torch.uint8)
    clip[..., 4:] = 255
    return clip


def flipped(frames: torch.Tensor) -> list[bool]:
    """Per frame: is the bright half on the left?"""
    return [bool(f[..., :4].mean() > f[..., 4:].mean()) for f in frames]


@pytest.mark.parametrize("as_list", [False, True])
def test_train_transform_flips_all_frames_of_a_clip_together(as_list: bool) -> None:
    transform = build_train_transform(16, 8, flip_prob=0.5)
    decisions = set()
    for seed in range(30):
        torch.manual_seed(seed)
        clip = asymmetric_clip()
        out = transform([tv_tensors.Image(f) for f in clip]) if as_list else transform(clip)
        per_frame = flipped(torch.stack(list(out)))
        assert len(set(per_frame)) == 1
        decisions.add(per_frame[0])
    assert decisions == {True, False}


def test_random_erasing_erases_the_same_box_in_every_frame() -> None:
    transform = build_train_transform(32, 16, flip_prob=0.0, random_erasing=1.0)
    torch.manual_seed(0)
    clip = torch.randint(1, 255, (4, 3, 32, 16), dtype=torch.uint8)
    out = transform(clip)
    erased = (out == 0).all(dim=1)  # [T, H, W]
    assert erased[0].any()
    assert (erased == erased[0]).all()


def test_a_clip_of_one_frame_size_is_transformed_as_its_frames_are() -> None:
    """Stacked frames go through the transform in one call: the clip must equal what the
    frame-by-frame call makes from the same random state (flip, erased box, resize)."""
    transform = build_train_transform(16, 8, flip_prob=0.5, random_erasing=0.5)
    # channels-last strides, as pil_to_tensor gives them
    frames = [torch.randint(0, 256, (20, 12, 3), dtype=torch.uint8).permute(2, 0, 1)]
    frames = [frames[0], frames[0].flip(-1), frames[0] // 2, frames[0].flip(-2)]
    no_flip = build_train_transform(16, 8, flip_prob=0.0)
    unflipped = torch.stack(no_flip([tv_tensors.Image(f) for f in frames]))
    flips = erasures = 0
    for seed in range(12):
        torch.manual_seed(seed)
        expected = torch.stack(transform([tv_tensors.Image(f) for f in frames]))
        torch.manual_seed(seed)
        clip = transform_clip(transform, frames)
        assert type(clip) is torch.Tensor
        assert torch.equal(clip, expected)
        erasures += bool((clip == 0).all(dim=1).any())
        flips += not torch.equal(
            clip.masked_fill(clip == 0, 0), unflipped.masked_fill(clip == 0, 0)
        )
    assert flips and erasures  # both random steps acted at some seeds


def test_test_transform_resizes_and_normalises() -> None:
    clip = torch.full((2, 3, 40, 20), 51, dtype=torch.uint8)
    out = build_test_transform(16, 8)(clip)
    assert out.shape == (2, 3, 16, 8) and out.dtype == torch.float32
    expected = (0.2 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(out[0, :, 3, 3], expected)


def test_train_clips_sample_one_frame_per_chunk(tmp_path: Path) -> None:
    tracklet = make_tracklet(tmp_path, 16)
    clips = TrainClips([tracklet], seq_len=4, transform=raw, seed=0)
    for epoch in range(5):
        clips.set_epoch(epoch)
        item = clips[0]
        assert item["clips"].shape == (4, 3, 16, 8)
        assert [k // 4 for k in frame_ids(item["clips"])] == [0, 1, 2, 3]
        assert (int(item["pid"]), int(item["camid"])) == (3, 1)


def test_train_clips_depend_on_seed_epoch_and_repeat(tmp_path: Path) -> None:
    tracklet = make_tracklet(tmp_path, 24)
    transform = build_train_transform(16, 8)

    def clip(seed: int, epoch: int, index: int = 0, repeat: int = 0) -> torch.Tensor:
        dataset = TrainClips([tracklet, tracklet], 6, transform, seed=seed)
        dataset.set_epoch(epoch)
        return dataset.__getitems__([index] * (repeat + 1))[repeat]["clips"]

    assert torch.equal(clip(0, 0), clip(0, 0))
    assert not torch.equal(clip(0, 0), clip(0, 1))
    assert not torch.equal(clip(0, 0), clip(1, 0))
    assert not torch.equal(clip(0, 0), clip(0, 0, index=1))
    assert not torch.equal(clip(0, 0), clip(0, 0, repeat=1))  # a repeat in a batch differs


def test_train_clips_leave_every_generator_as_they_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clip's draws come from a private CPU generator: the caller's CPU stream goes on
    untouched, and no device generator is seeded (in a GPU run's main process, a loader
    without workers would otherwise reseed CUDA's generator with every clip)."""
    seeded: list[int] = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", seeded.append)
    dataset = TrainClips([make_tracklet(tmp_path, 12)], 4, build_train_transform(16, 8), seed=1)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    seeded.clear()
    dataset.__getitems__([0, 0])
    assert torch.equal(torch.rand(3), expected)
    assert seeded == []


def test_train_clips_do_not_depend_on_workers(tmp_path: Path) -> None:
    tracklets = [make_tracklet(tmp_path / str(i), 10 + i, pid=i) for i in range(4)]
    batches = [[0, 1, 1], [2, 3, 0]]

    def run(num_workers: int) -> list[torch.Tensor]:
        dataset = TrainClips(tracklets, 4, build_train_transform(16, 8), seed=3)
        loader = DataLoader(
            dataset,
            batch_sampler=batches,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
        )
        out = []
        for epoch in range(2):
            dataset.set_epoch(epoch)  # must reach the persistent workers' copies
            out += [batch["clips"] for batch in loader]
        return out

    single, multi = run(0), run(2)
    assert all(torch.equal(a, b) for a, b in zip(single, multi, strict=True))
    assert not torch.equal(single[0], single[2])  # epoch 1 draws anew


def test_test_clips_all_cover_every_frame_with_passthrough(tmp_path: Path) -> None:
    tracklets = [make_tracklet(tmp_path / "a", 7, pid=5), make_tracklet(tmp_path / "b", 3)]
    clips = TestClips(
        tracklets, 3, raw, sampling="consecutive", extras={"is_query": [True, False], "tag": [7, 9]}
    )
    assert clips.clips_per_tracklet == [3, 1]
    items = [clips[i] for i in range(len(clips))]
    assert [int(item["track"]) for item in items] == [0, 0, 0, 1]
    frames = [k for item in items[:3] for k in frame_ids(item["clips"])]
    assert frames == [0, 1, 2, 3, 4, 5, 6, 6, 6]
    assert frame_ids(items[3]["clips"]) == [0, 1, 2]
    assert [bool(item["is_query"]) for item in items] == [True, True, True, False]
    assert [int(item["tag"]) for item in items] == [7, 7, 7, 9]
    assert int(items[0]["pid"]) == 5


def test_test_clips_evenly_give_one_clip_per_tracklet(tmp_path: Path) -> None:
    tracklets = [make_tracklet(tmp_path / "a", 12), make_tracklet(tmp_path / "b", 2)]
    clips = TestClips(tracklets, 4, raw, sampling="evenly")
    assert len(clips) == 2
    assert frame_ids(clips[0]["clips"]) == [1, 4, 7, 10]
    assert frame_ids(clips[1]["clips"]) == [0, 0, 1, 1]


def test_test_clips_reject_bad_arguments(tmp_path: Path) -> None:
    tracklets = [make_tracklet(tmp_path, 2)]
    with pytest.raises(ValueError, match="'random'"):
        TestClips(tracklets, 4, raw, sampling="random")
    with pytest.raises(ValueError, match="extras\\['flag'\\] has 2 values for 1"):
        TestClips(tracklets, 4, raw, extras={"flag": [1, 2]})
    with pytest.raises(ValueError, match="'pid' would overwrite"):
        TestClips(tracklets, 4, raw, extras={"pid": [1]})


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "missing"])
def test_unreadable_frame_is_an_error_naming_it(tmp_path: Path, damage: str) -> None:
    tracklet = make_tracklet(tmp_path, 4)
    bad = Path(tracklet.frames[2])
    if damage == "missing":
        bad.unlink()
    else:
        content = {"empty": b"", "truncated": bad.read_bytes()[:40], "garbage": b"\x00" * 99}
        bad.write_bytes(content[damage])
    clips = TestClips([tracklet], 4, raw, sampling="consecutive")
    with pytest.raises(DatasetError, match=re.escape(str(bad))):
        clips[0]


def test_skip_corrupt_uses_the_nearest_readable_frame(tmp_path: Path) -> None:
    tracklet = make_tracklet(tmp_path, 4)
    for k in (1, 2):
        Path(tracklet.frames[k]).write_bytes(b"")
    clips = TestClips([tracklet], 4, raw, sampling="consecutive", skip_corrupt=True)
    with pytest.warns(RuntimeWarning) as caught:
        item = clips[0]
    messages = [str(w.message) for w in caught]
    assert any(m.startswith(tracklet.frames[1]) for m in messages)
    assert any(m.startswith(tracklet.frames[2]) for m in messages)
    # Frame 1's nearest readable neighbour is frame 0 (2 is broken too), frame 2's is 3.
    assert frame_ids(item["clips"]) == [0, 0, 3, 3]


def test_skip_corrupt_fails_when_no_frame_is_readable(tmp_path: Path) -> None:
    tracklet = make_tracklet(tmp_path, 3)
    for path in tracklet.frames:
        Path(path).write_bytes(b"")
    clips = TrainClips([tracklet], 2, raw, skip_corrupt=True)
    with pytest.raises(DatasetError, match="no readable frame in the tracklet"):
        clips[0]


def test_frames_of_different_sizes_form_one_clip(tmp_path: Path) -> None:
    paths = [tmp_path / "0.jpg", tmp_path / "1.jpg"]
    write_frame(paths[0], size=(10, 22))
    write_frame(paths[1], size=(12, 30))
    tracklet = Tracklet(tuple(map(str, paths)), 0, 0)
    item = TestClips([tracklet], 2, build_test_transform(16, 8))[0]
    assert item["clips"].shape == (2, 3, 16, 8)
    assert np.isfinite(item["clips"].numpy()).all()

"""Training frames held in memory (data.cache_frames): the same clips, less decoding."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from stgcn_reid.data.clips import TrainClips, read_frame
from stgcn_reid.data.datasets import DatasetError, Tracklet
from stgcn_reid.data.decoded import UNBOUNDED, DecodedFrames, available_bytes
from stgcn_reid.data.transforms import build_train_transform

from .trees import write_frame

SIZES = [(8, 16), (10, 22), (8, 16)]  # (width, height) of each tracklet's even frames


def tracklets(folder: Path) -> list[Tracklet]:
    """Three tracklets of two identities, every frame its own value; odd frames of tracklet 1
    have another size than its even ones; the last tracklet ends in a non-image and a
    truncated PNG whose header still reads."""
    out = []
    for t, size in enumerate(SIZES):
        paths = [folder / str(t) / f"{k}.png" for k in range(6)]
        for k, path in enumerate(paths):
            write_frame(path, value=30 * k + t, size=(12, 18) if t == 1 and k % 2 else size)
        out.append(Tracklet(tuple(map(str, paths)), t % 2, t))
    (folder / "2" / "5.png").write_bytes(b"not an image")
    truncated = folder / "2" / "4.png"
    truncated.write_bytes(truncated.read_bytes()[:-40])
    return out


def test_decoded_frames_equal_the_decoded_files(tmp_path: Path) -> None:
    frames = [f for t in tracklets(tmp_path) for f in t.frames]
    decoded = DecodedFrames(frames + frames[:3], progress=False)  # repeats are held once
    assert len(decoded) == len(frames) - 2  # the broken frames are not held
    for path in frames[:-2]:
        assert torch.equal(decoded.read(path), read_frame(path))
    for broken in frames[-2:]:  # read from disk, so that skip_corrupt still applies
        with pytest.raises(DatasetError, match="unreadable frame"):
            decoded.read(broken)


def test_frames_that_do_not_fit_are_read_from_disk_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames = [f for t in tracklets(tmp_path) for f in t.frames]
    with caplog.at_level(logging.WARNING):
        decoded = DecodedFrames(frames, max_bytes=1000, progress=False)
    assert "reading them from disk" in caplog.text
    assert len(decoded) == 0 and decoded.buffer.numel() == 0  # nothing decoded
    assert torch.equal(decoded.read(frames[0]), read_frame(frames[0]))


def test_available_memory_is_the_smaller_of_the_system_and_the_cgroup(tmp_path: Path) -> None:
    meminfo, cgroup = tmp_path / "meminfo", tmp_path / "cgroup"
    cgroup.mkdir()
    meminfo.write_text("MemTotal:  4000 kB\nMemFree:  1000 kB\nMemAvailable:  3000 kB\n")
    (cgroup / "memory.max").write_text("max\n")
    assert available_bytes(meminfo, cgroup) == 3000 * 1024  # free + reclaimable cache
    (cgroup / "memory.max").write_text(f"{2 * 2**20}\n")
    (cgroup / "memory.current").write_text(f"{2**20}\n")
    assert available_bytes(meminfo, cgroup) == 2**20  # the job's limit minus its use
    assert available_bytes(tmp_path / "none", tmp_path / "none") == UNBOUNDED


@pytest.mark.filterwarnings("ignore:.*unreadable frame:RuntimeWarning")
def test_clips_from_memory_equal_clips_from_disk_with_workers(tmp_path: Path) -> None:
    data = tracklets(tmp_path)
    decoded = DecodedFrames([f for t in data for f in t.frames], progress=False)
    transform = build_train_transform(16, 8, random_erasing=0.5)

    def batches(read, workers: int) -> list[torch.Tensor]:
        clips = TrainClips(data, 4, transform, seed=1, skip_corrupt=True, read=read)
        loader = DataLoader(clips, batch_sampler=[[0, 1], [2, 0], [1, 2]], num_workers=workers)
        return [batch["clips"] for batch in loader]

    from_disk, from_memory = batches(None, 0), batches(decoded.read, 2)
    assert all(torch.equal(a, b) for a, b in zip(from_disk, from_memory, strict=True))

"""Disk layout (DukeMTMC-VideoReID), cache reuse, rebuild of incomplete caches, determinism."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from stgcn_reid.data.synthetic import SyntheticConfig, dataset_dir, generate
from stgcn_reid.data.synthetic import writer as writer_module
from stgcn_reid.data.synthetic.splits import SPLITS
from stgcn_reid.data.synthetic.writer import MARKER

NAME = re.compile(r"^(\d{4})_C([1-9])_F(\d{4})_X(\d{5})\.jpg$")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.jpg"))}


def test_layout_and_file_names(tiny_root: Path, tiny_config: SyntheticConfig) -> None:
    folder = dataset_dir(tiny_root, tiny_config)
    assert folder.name == f"synthetic-{tiny_config.cache_key()}"
    assert sorted(p.name for p in folder.iterdir()) == sorted([MARKER, *SPLITS])
    serials = set()
    for split in SPLITS:
        for track_dir in (folder / split).glob("*/*"):
            assert re.fullmatch(r"\d{4}", track_dir.name)
            assert re.fullmatch(r"\d{4}", track_dir.parent.name)
            matches = [NAME.match(p.name) for p in sorted(track_dir.iterdir())]
            assert all(matches)
            assert {m[1] for m in matches if m} == {track_dir.parent.name}
            assert len({m[2] for m in matches if m}) == 1  # one camera per tracklet
            # As in the DukeMTMC-VideoReID release: F counts the tracklet's frames from F0001
            # (torchreid's loader looks for F0001, F0002, ... in turn).
            frames = [int(m[3]) for m in matches if m]
            assert frames == list(range(1, len(frames) + 1))
            if not split.endswith("gallery"):
                serials |= {int(m[4]) for m in matches if m}
            assert tiny_config.min_frames <= len(frames) <= tiny_config.max_frames
    first = next((folder / "train").rglob("*.jpg"))
    with Image.open(first) as image:
        assert image.format == "JPEG"
        assert image.size == (tiny_config.width, tiny_config.height)
    shipped_once = ("train", "query", "val_query")
    assert len(serials) == sum(
        len(list(folder.glob(f"{split}/*/*/*.jpg"))) for split in shipped_once
    )


def test_query_tracklets_are_also_shipped_in_gallery(
    tiny_root: Path, tiny_config: SyntheticConfig
) -> None:
    folder = dataset_dir(tiny_root, tiny_config)
    queries = list((folder / "query").glob("*/*"))
    assert len(queries) == tiny_config.num_test_ids
    for query in queries:
        copy = folder / "gallery" / query.parent.name / query.name
        assert _files(query) == _files(copy)


def test_marker_records_config_and_statistics(
    tiny_root: Path, tiny_config: SyntheticConfig
) -> None:
    folder = dataset_dir(tiny_root, tiny_config)
    marker = json.loads((folder / MARKER).read_text())
    assert marker["config"] == tiny_config.to_dict()
    for split in ("train", "query"):
        on_disk = list((folder / split).rglob("*.jpg"))
        assert marker["statistics"][split]["frames"] == len(on_disk)


def test_complete_cache_is_reused(
    tiny_root: Path, tiny_config: SyntheticConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a complete cache must not be rendered again")

    monkeypatch.setattr(writer_module, "render_tracklet", fail)
    assert generate(tiny_config, tiny_root, workers=1) == dataset_dir(tiny_root, tiny_config)


def test_crash_during_generation_leaves_nothing_then_rebuilds(
    tmp_path: Path, tiny_config: SyntheticConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = writer_module.write_tracklet
    calls = []

    def crash_after_three(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("simulated crash")
        real_write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(writer_module, "write_tracklet", crash_after_three)
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate(tiny_config, tmp_path, workers=1)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(writer_module, "write_tracklet", real_write)
    folder = generate(tiny_config, tmp_path, workers=1)
    assert (folder / MARKER).is_file()


def test_folder_without_marker_or_with_other_config_is_rebuilt(
    tmp_path: Path, tiny_config: SyntheticConfig
) -> None:
    folder = dataset_dir(tmp_path, tiny_config)
    (folder / "train" / "0001" / "0001").mkdir(parents=True)
    (folder / "train" / "0001" / "0001" / "0001_C1_F0001_X00001.jpg").write_bytes(b"half")
    generate(tiny_config, tmp_path, workers=1)
    assert (folder / MARKER).is_file()
    assert b"half" not in _files(folder).values()
    marker = json.loads((folder / MARKER).read_text())
    marker["config"]["seed"] = 123
    (folder / MARKER).write_text(json.dumps(marker))
    generate(tiny_config, tmp_path, workers=1)
    assert json.loads((folder / MARKER).read_text())["config"]["seed"] == tiny_config.seed


def test_partial_folder_of_a_dead_process_is_removed(
    tmp_path: Path, tiny_config: SyntheticConfig
) -> None:
    process = subprocess.Popen(["true"])
    process.wait()  # reaped: its pid names no live process
    dead_pid = process.pid
    target = dataset_dir(tmp_path, tiny_config)
    stale = tmp_path / f".{target.name}.partial-{socket.gethostname()}-{dead_pid}"
    (stale / "train").mkdir(parents=True)
    other_host = tmp_path / f".{target.name}.partial-elsewhere-{dead_pid}"
    other_host.mkdir()
    generate(tiny_config, tmp_path, workers=1)
    assert not stale.exists()
    assert other_host.exists()  # may belong to a live process on another machine


def test_output_is_identical_across_worker_counts_and_changes_with_seed(
    tmp_path: Path, tiny_root: Path, tiny_config: SyntheticConfig
) -> None:
    reference = _files(dataset_dir(tiny_root, tiny_config))
    parallel = generate(tiny_config, tmp_path / "parallel", workers=2)
    assert _files(parallel) == reference
    reseeded = generate(replace(tiny_config, seed=7), tmp_path / "reseeded", workers=1)
    assert _files(reseeded) != reference

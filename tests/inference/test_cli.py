"""embed + search command lines end to end, folder discovery, and their error messages."""

from __future__ import annotations

import csv
import dataclasses
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stgcn_reid import embed, search
from stgcn_reid.inference import Embedder, FeatureFile, find_tracklets, list_frames

from .conftest import TrainedRun


def read_ranking(path: Path) -> dict[str, list[tuple[int, str, float]]]:
    rows: dict[str, list[tuple[int, str, float]]] = defaultdict(list)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows[row["query"]].append((int(row["rank"]), row["gallery"], float(row["distance"])))
    return rows


def test_embed_then_search_end_to_end(
    trained: TrainedRun, embedder: Embedder, tmp_path: Path
) -> None:
    q_npz, g_npz, out = tmp_path / "q.npz", tmp_path / "g.npz", tmp_path / "search"
    ckpt = f"ckpt_path={trained.checkpoint}"
    embed.main([ckpt, f"input_dir={trained.query_dir}", f"output={q_npz}", "progress=false"])
    embed.main([ckpt, f"input_dir={trained.gallery_dir}", f"output={g_npz}", "batch_size=7"])

    query, gallery = FeatureFile.load(q_npz), FeatureFile.load(g_npz)
    expected_names = sorted(
        p.relative_to(trained.gallery_dir).as_posix() for p in trained.gallery_dir.glob("*/*")
    )
    assert gallery.names == expected_names
    assert gallery.features.shape == (len(expected_names), embedder.embedding_dim)
    assert (gallery.seq_len, (gallery.height, gallery.width)) == (
        embedder.seq_len,
        embedder.image_size,
    )
    assert gallery.checkpoint_sha256 == query.checkpoint_sha256
    some = [0, len(gallery.names) - 1]
    direct = embedder.embed_many(
        [list_frames(trained.gallery_dir / gallery.names[i]) for i in some], progress=False
    )
    np.testing.assert_allclose(gallery.features[some], direct.numpy(), atol=1e-5, rtol=1e-5)

    topk = 5
    search.main([f"query={q_npz}", f"gallery={g_npz}", f"output_dir={out}", f"topk={topk}"])
    ranking = read_ranking(out / "ranking.csv")
    assert sorted(ranking) == sorted(query.names)
    distances = torch.cdist(
        torch.from_numpy(query.features).double(), torch.from_numpy(gallery.features).double()
    )
    for q, name in enumerate(query.names):
        rows = ranking[name]
        assert [rank for rank, _, _ in rows] == list(range(1, topk + 1))
        listed = [d for _, _, d in rows]
        assert listed == sorted(listed)
        for _, g_name, dist in rows:
            # abs: an identical pair is 0 up to float64 cancellation (~1e-6), not exactly 0.
            expected = float(distances[q, gallery.names.index(g_name)])
            assert dist == pytest.approx(expected, rel=1e-4, abs=1e-5)
        assert listed[-1] <= float(torch.sort(distances[q]).values[topk - 1]) + 1e-4
    with Image.open(out / "ranked.png") as picture:
        assert picture.width > 0 and picture.height > 0

    cosine = [f"output_dir={tmp_path / 'c'}", "metric=cosine", "color_by_identity=true"]
    search.main([f"query={q_npz}", f"gallery={g_npz}", *cosine, "picture_queries=2"])
    assert (tmp_path / "c" / "ranked.png").is_file()


def test_search_refuses_features_of_two_checkpoints(
    trained: TrainedRun, tmp_path: Path, embedder: Embedder
) -> None:
    ours = FeatureFile(
        features=np.zeros((1, embedder.embedding_dim), np.float32),
        names=["a"],
        input_dir=str(tmp_path),
        checkpoint=str(trained.checkpoint),
        checkpoint_sha256="0" * 64,
        seq_len=4,
        height=64,
        width=32,
        sampling="consecutive",
        run_config={},
    )
    ours.save(tmp_path / "q.npz")
    dataclasses.replace(ours, checkpoint_sha256="1" * 64).save(tmp_path / "g.npz")
    args = [f"query={tmp_path / 'q.npz'}", f"gallery={tmp_path / 'g.npz'}", "output_dir=x"]
    with pytest.raises(SystemExit, match="different SHA-256"):
        search.main(args)


def test_frames_in_natural_order_and_nested_tracklets(tmp_path: Path) -> None:
    tracklet = tmp_path / "id7" / "cam1"
    tracklet.mkdir(parents=True)
    for name in ("frame10.jpg", "frame9.jpg", "frame1.JPG", "notes.txt"):
        (tracklet / name).touch()
    (tmp_path / "id7" / "cam2").mkdir()
    (tmp_path / "id7" / "cam2" / "f.png").touch()
    assert [p.name for p in list_frames(tracklet)] == ["frame1.JPG", "frame9.jpg", "frame10.jpg"]
    assert [name for name, _ in find_tracklets(tmp_path)] == ["id7/cam1", "id7/cam2"]


def test_embed_names_the_empty_folder_and_the_unreadable_frame(
    trained: TrainedRun, tmp_path: Path
) -> None:
    source = next(p for p in sorted(trained.query_dir.glob("*/*")) if p.is_dir())
    shutil.copytree(source, tmp_path / "in" / "good")
    (tmp_path / "in" / "hollow").mkdir()
    args = [f"ckpt_path={trained.checkpoint}", f"input_dir={tmp_path / 'in'}", "progress=false"]
    with pytest.raises(SystemExit, match=r"hollow: empty tracklet folder"):
        embed.main([*args, f"output={tmp_path / 'f.npz'}"])

    (tmp_path / "in" / "hollow").rmdir()
    (tmp_path / "in" / "good" / "zz_broken.jpg").write_bytes(b"\x00" * 10)
    with pytest.raises(SystemExit, match=r"zz_broken\.jpg: unreadable frame"):
        embed.main([*args, f"output={tmp_path / 'f.npz'}"])
    assert not (tmp_path / "f.npz").exists()

    (tmp_path / "nothing").mkdir()
    with pytest.raises(SystemExit, match="nothing holds no tracklet"):
        embed.main([f"ckpt_path={trained.checkpoint}", f"input_dir={tmp_path / 'nothing'}"])


def test_bad_command_lines_fail_with_one_line(trained: TrainedRun, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="missing mandatory value: input_dir"):
        embed.main([f"ckpt_path={trained.checkpoint}"])
    with pytest.raises(SystemExit, match=r"Key 'topK' not in 'SearchConfig'.*valid keys"):
        search.main(["query=a", "gallery=b", "output_dir=c", "topK=3"])
    with pytest.raises(SystemExit, match="batch_size"):
        embed.main([f"ckpt_path={trained.checkpoint}", "input_dir=.", "batch_size=many"])
    # As a user runs it: exit status 1 and one error line, no traceback.
    result = subprocess.run(
        [sys.executable, "-m", "stgcn_reid.embed", "ckpt_path=x.ckpt", f"input_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:")
    assert str(tmp_path) in result.stderr
    assert "Traceback" not in result.stderr

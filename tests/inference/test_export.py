"""ONNX / torch.export exports: parity with PyTorch, dynamic batch, stored input contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from stgcn_reid import export
from stgcn_reid.data.temporal import eval_clips
from stgcn_reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from stgcn_reid.exporting import InputContract, parity, read_onnx_metadata, read_pt2_metadata
from stgcn_reid.inference import Embedder

from .conftest import TrainedRun

ort = pytest.importorskip("onnxruntime")


def check_contract(metadata: dict[str, str], embedder: Embedder) -> None:
    """The stored contract is the checkpoint's input, so a user can rebuild the preprocessing."""
    assert int(metadata["seq_len"]) == embedder.seq_len
    assert (int(metadata["height"]), int(metadata["width"])) == embedder.image_size
    assert json.loads(metadata["mean"]) == list(IMAGENET_MEAN)
    assert json.loads(metadata["std"]) == list(IMAGENET_STD)
    assert int(metadata["embedding_dim"]) == embedder.embedding_dim
    assert metadata["test_sampling"] == embedder.sampling


def test_onnx_matches_pytorch_for_batch_1_and_3(
    trained: TrainedRun, embedder: Embedder, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "stgcn.onnx"
    # check=true runs batches 1 and 3 through onnxruntime; tolerance makes it fail above 1e-4.
    export.main([f"ckpt_path={trained.checkpoint}", f"output={path}", "tolerance=1e-4"])
    printed = capsys.readouterr().out
    assert "max abs diff of the embedding: batch 1:" in printed
    assert "batch 3:" in printed
    check_contract(dict(read_onnx_metadata(path)), embedder)

    # The contract end to end: Embedder.preprocess output fed to ONNX, mean over the clips
    # weighted by the frames each clip adds.
    frames = sorted(next(trained.gallery_dir.glob("*/*")).glob("*.jpg"))
    clips = embedder.preprocess(frames)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (embeddings,) = session.run(None, {"clips": clips.numpy()})
    assert embeddings.shape == (len(clips), embedder.embedding_dim)
    _, weights = eval_clips(len(frames), embedder.seq_len, embedder.sampling)
    weights = torch.from_numpy(weights).float()
    descriptor = (torch.from_numpy(embeddings) * weights[:, None]).sum(dim=0) / weights.sum()
    torch.testing.assert_close(descriptor, embedder.embed(frames), atol=1e-4, rtol=1e-4)


def test_pt2_matches_pytorch_with_a_symbolic_batch(
    trained: TrainedRun, embedder: Embedder, tmp_path: Path
) -> None:
    path = tmp_path / "stgcn.pt2"
    export.main([f"ckpt_path={trained.checkpoint}", "format=pt2", f"output={path}", "check=false"])
    check_contract(read_pt2_metadata(path), embedder)
    diffs = parity(path, embedder.net, InputContract.of(embedder, trained.checkpoint))
    assert max(diffs.values()) < 1e-5


def test_export_rejects_unknown_formats_and_mismatched_suffixes(
    trained: TrainedRun, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit, match=r"format='tflite'; expected one of \('onnx', 'pt2'\)"):
        export.main([f"ckpt_path={trained.checkpoint}", "format=tflite"])
    with pytest.raises(SystemExit, match=r"must end in \.onnx"):
        export.main([f"ckpt_path={trained.checkpoint}", f"output={tmp_path / 'model.pt2'}"])


def test_an_output_under_an_existing_file_names_that_file(
    trained: TrainedRun, tmp_path: Path
) -> None:
    blocking = tmp_path / "model"
    blocking.write_text("a file")
    target = blocking / "sub" / "model.onnx"
    with pytest.raises(SystemExit, match=f"^error: cannot write {target}: {blocking} is a file"):
        export.main([f"ckpt_path={trained.checkpoint}", f"output={target}", "check=false"])
    assert blocking.read_text() == "a file"

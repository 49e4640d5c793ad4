"""Embedder: same features as the evaluation pipeline, any input type, clear errors."""

from __future__ import annotations

from pathlib import Path

import hydra
import numpy as np
import pytest
import torch
from PIL import Image

from stgcn_reid.checkpoints.files import load_checkpoint
from stgcn_reid.errors import CheckpointError, DatasetError
from stgcn_reid.evaluation import ReIDMetric
from stgcn_reid.inference import Embedder

from .conftest import TrainedRun


def frames_of(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


def tracklet_dirs(split: Path) -> list[Path]:
    return sorted(p for p in split.glob("*/*") if p.is_dir())


def test_settings_come_from_the_checkpoint(trained: TrainedRun, embedder: Embedder) -> None:
    data = load_checkpoint(trained.checkpoint)["hyper_parameters"]["run_config"]["data"]
    assert embedder.seq_len == data["seq_len"]
    assert embedder.image_size == (data["height"], data["width"])
    assert embedder.sampling == data["test_sampling"]
    assert embedder.embedding_dim == embedder.net.classifier.in_features


def test_embed_many_shape_determinism_and_batching(trained: TrainedRun, embedder: Embedder) -> None:
    tracklets = [frames_of(d) for d in tracklet_dirs(trained.gallery_dir)[:3]]
    features = embedder.embed_many(tracklets, batch_size=3, progress=False)
    assert features.shape == (3, embedder.embedding_dim)
    assert features.dtype == torch.float32
    assert torch.isfinite(features).all()
    assert torch.equal(features, embedder.embed_many(tracklets, batch_size=3, progress=False))
    # Batches that mix clips of different tracklets must route each clip to its own mean.
    other_batches = embedder.embed_many(tracklets, batch_size=2, progress=False)
    torch.testing.assert_close(features, other_batches, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(embedder.embed(tracklets[2]), features[2], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("sampling", ["strided", "consecutive", "evenly"])
def test_features_equal_the_evaluation_pipeline(
    trained: TrainedRun, embedder: Embedder, sampling: str
) -> None:
    """The DataModule's loader + ReIDMetric's clip mean give the tracklet features of eval."""
    run_config = load_checkpoint(trained.checkpoint)["hyper_parameters"]["run_config"]
    datamodule = hydra.utils.instantiate(
        {**run_config["data"], "val_sampling": sampling, "test_sampling": sampling}
    )
    tracklets = datamodule.test_tracklets.tracklets
    metric = ReIDMetric(max_rank=1, ranks=(1,))
    with torch.inference_mode():
        for batch in datamodule.test_dataloader():
            metric.update(
                embedder.net(batch["clips"]).embedding,
                batch["pid"],
                batch["camid"],
                batch["track"],
                batch["is_query"],
                batch["in_gallery"],
                batch["weight"],
            )
    metric.compute()
    evaluated = metric.last_result

    same_settings = Embedder(
        embedder.net, embedder.seq_len, *embedder.image_size, sampling=sampling
    )
    features = same_settings.embed_many([t.frames for t in tracklets], progress=False)
    torch.testing.assert_close(
        features[evaluated.query_tracks], evaluated.query_features, atol=1e-5, rtol=1e-5
    )
    torch.testing.assert_close(
        features[evaluated.gallery_tracks], evaluated.gallery_features, atol=1e-5, rtol=1e-5
    )


def test_paths_pil_images_and_uint8_tensors_agree(trained: TrainedRun, embedder: Embedder) -> None:
    paths = frames_of(tracklet_dirs(trained.query_dir)[0])
    images = [Image.open(p).convert("RGB") for p in paths]
    array = np.stack([np.asarray(image) for image in images])  # [T, H, W, 3] uint8
    from_paths = embedder.embed([str(p) for p in paths])
    torch.testing.assert_close(embedder.embed(paths), from_paths, atol=0, rtol=0)
    torch.testing.assert_close(embedder.embed(images), from_paths, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(
        embedder.embed(torch.from_numpy(array)), from_paths, atol=1e-6, rtol=1e-6
    )
    torch.testing.assert_close(embedder.embed(array), from_paths, atol=1e-6, rtol=1e-6)


def test_a_tracklet_is_the_mean_of_its_clips_and_short_ones_loop(
    trained: TrainedRun, embedder: Embedder
) -> None:
    t = embedder.seq_len
    paths = frames_of(tracklet_dirs(trained.gallery_dir)[0])
    frames = torch.from_numpy(np.stack([np.asarray(Image.open(p)) for p in paths]))
    frames = frames[torch.arange(2 * t) % len(frames)]  # exactly two clips' worth
    # Strided (the default): T chunks of 2 frames, clip j takes frame j of every chunk.
    assert embedder.sampling == "strided"
    strided = (embedder.embed(frames[0::2]) + embedder.embed(frames[1::2])) / 2
    torch.testing.assert_close(embedder.embed(frames), strided, atol=1e-5, rtol=1e-5)

    embedder = Embedder(embedder.net, t, *embedder.image_size, sampling="consecutive")
    two_clips = (embedder.embed(frames[:t]) + embedder.embed(frames[t:])) / 2
    torch.testing.assert_close(embedder.embed(frames), two_clips, atol=1e-5, rtol=1e-5)

    short = frames[:2]  # fewer frames than T: one clip [f0, f1, f0, f1, ...]
    looped = short[torch.arange(t) % 2]
    assert embedder.preprocess(short).shape == (1, t, 3, *embedder.image_size)
    torch.testing.assert_close(embedder.embed(short), embedder.embed(looped), atol=0, rtol=0)
    assert torch.isfinite(embedder.embed(frames[:1])).all()


def test_bad_frames_raise_errors_that_name_them(
    trained: TrainedRun, embedder: Embedder, tmp_path: Path
) -> None:
    paths = frames_of(tracklet_dirs(trained.query_dir)[0])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match=r"broken\.jpg"):
        embedder.embed([*paths, broken])
    with pytest.raises(DatasetError, match=r"missing\.jpg"):
        embedder.embed([tmp_path / "missing.jpg"])
    with pytest.raises(ValueError, match="no frames"):
        embedder.embed([])
    with pytest.raises(ValueError, match=r"uint8 \[T, H, W, 3\]"):
        embedder.embed(torch.zeros(4, 3, 64, 32))
    with pytest.raises(TypeError, match="single path"):
        embedder.embed(str(paths[0]))
    with pytest.raises(TypeError, match="all paths or all PIL images"):
        embedder.embed([paths[0], Image.new("RGB", (32, 64))])
    with pytest.raises(ValueError, match="batch_size"):
        embedder.embed_many([paths], batch_size=0)


def test_checkpoint_errors_are_clear(trained: TrainedRun, tmp_path: Path) -> None:
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        Embedder.from_checkpoint(text)
    with pytest.raises(CheckpointError, match="not found"):
        Embedder.from_checkpoint(tmp_path / "absent.ckpt")

    checkpoint = load_checkpoint(trained.checkpoint)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"layer.weight": torch.zeros(2, 2)}}, foreign)
    with pytest.raises(CheckpointError, match=r"not written by stgcn_reid\.train"):
        Embedder.from_checkpoint(foreign)

    run_config = checkpoint["hyper_parameters"]["run_config"]
    other_model = {**run_config, "model": {**run_config["model"], "branches": ["global"]}}
    mismatched = tmp_path / "mismatched.ckpt"
    torch.save(
        {
            "state_dict": checkpoint["state_dict"],
            "hyper_parameters": {"run_config": other_model},
        },
        mismatched,
    )
    with pytest.raises(CheckpointError, match="another model configuration"):
        Embedder.from_checkpoint(mismatched)

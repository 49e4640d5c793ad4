"""Embed a folder of tracklets with a trained model into an ``.npz`` feature file.

Usage::

    python -m stgcn_reid.embed ckpt_path=CKPT input_dir=DIR [output=features.npz]
        [device=cpu] [batch_size=32] [progress=true] [skip_corrupt=false]

Every folder under ``input_dir`` that directly holds image files (``.jpg``, ``.jpeg``, ``.png``,
``.bmp``, ``.webp``, ``.tif``, ``.tiff``) is one tracklet, named by its path relative to
``input_dir`` (``cam1/0003`` or, for a ``<identity>/<tracklet>`` layout, ``0002/0001``). Its
frames are taken in natural name order (``frame9`` before ``frame10``). A folder that holds
neither images nor sub-folders is an error, as is an unreadable frame.

The feature file (:class:`~stgcn_reid.inference.feature_file.FeatureFile`, the format eval and
train write too) holds ``features`` ``[N, D]`` float32, the tracklet ``names``, the
``input_dir`` they were found under (``stgcn_reid.search`` draws their frames from there) and
what produced them: the checkpoint path and SHA-256, the embedding width, the clip length,
input size and temporal sampling, and the run configuration as JSON. It is written atomically:
an interrupted run leaves any previous file intact.

The command line is ``key=value`` like the training entry point, but parsed by OmegaConf
against a dataclass (:mod:`stgcn_reid.utils.keyvalue_cli`) rather than by Hydra: a tool that reads
one folder and writes one file needs no run directory, log files or ``conf/`` folder, and OmegaConf
still types the values and rejects unknown or missing keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from stgcn_reid.inference import Embedder, FeatureFile, find_tracklets
from stgcn_reid.utils.io import file_sha256
from stgcn_reid.utils.keyvalue_cli import run_cli


@dataclass
class EmbedConfig:
    """Arguments of ``python -m stgcn_reid.embed``."""

    ckpt_path: str = MISSING
    input_dir: str = MISSING
    output: str = "features.npz"
    device: str = "cpu"
    batch_size: int = 32
    progress: bool = True
    skip_corrupt: bool = False


def embed_folder(cfg: EmbedConfig) -> FeatureFile:
    """Embed every tracklet under ``cfg.input_dir`` and write ``cfg.output``."""
    tracklets = find_tracklets(cfg.input_dir)  # before loading the model: fail fast
    embedder = Embedder.from_checkpoint(cfg.ckpt_path, cfg.device, cfg.skip_corrupt)
    features = embedder.embed_many(
        [frames for _, frames in tracklets], batch_size=cfg.batch_size, progress=cfg.progress
    )
    height, width = embedder.image_size
    result = FeatureFile(
        features=features.numpy(),
        names=[name for name, _ in tracklets],
        input_dir=str(Path(cfg.input_dir).resolve()),
        checkpoint=str(Path(cfg.ckpt_path).resolve()),
        checkpoint_sha256=file_sha256(cfg.ckpt_path),
        seq_len=embedder.seq_len,
        height=height,
        width=width,
        sampling=embedder.sampling,
        run_config=embedder.run_config,
    )
    result.save(cfg.output)
    print(f"Wrote {cfg.output}: {len(result.names)} tracklets x {result.embedding_dim} features")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point (``argv`` defaults to ``sys.argv[1:]``)."""
    run_cli(EmbedConfig, embed_folder, argv, __doc__ or "")


if __name__ == "__main__":
    main()

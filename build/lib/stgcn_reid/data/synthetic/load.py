"""Entry point used by ``build_dataset("synthetic", root, **kwargs)``: generate if needed, then
index the benchmark with the real DukeMTMC-VideoReID loader (and its validation identities with
the same reader)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stgcn_reid.data.datasets.base import VideoReIDDataset
from stgcn_reid.data.datasets.dukemtmc_video import load_dukemtmc_video, read_query_gallery
from stgcn_reid.data.synthetic.config import make_config
from stgcn_reid.data.synthetic.writer import dataset_dir, generate, is_complete


def load_synthetic(
    root: str | Path, preset: str = "default", workers: int | None = None, **overrides: Any
) -> VideoReIDDataset:
    """The synthetic benchmark ``preset`` with ``overrides``, cached under
    ``root/synthetic-<hash>/``.

    Args:
        root: cache folder.
        preset: ``"default"`` or ``"hard"`` (see :data:`~stgcn_reid.data.synthetic.PRESETS`).
        workers: rendering processes for a first generation (does not change the output).
        overrides: any :class:`~stgcn_reid.data.synthetic.SyntheticConfig` field, e.g.
            ``seed``, ``num_train_ids``, ``occlusion_prob``; unknown names raise
            :class:`~stgcn_reid.data.synthetic.SyntheticConfigError` listing the valid ones.
    """
    cfg = make_config(preset, **overrides)
    folder = generate(cfg, root, workers=workers)
    dataset = load_dukemtmc_video(folder)
    val_query, val_gallery = (
        read_query_gallery(folder / "val_query", folder / "val_gallery")
        if cfg.num_val_ids
        else ([], [])
    )
    return VideoReIDDataset(
        f"synthetic-{preset} ({folder.name})",
        dataset.train,
        dataset.query,
        dataset.gallery,
        val_query,
        val_gallery,
        val_source=f"{cfg.num_val_ids} generated validation identities",
    )


def prepare_synthetic(
    root: str | Path, preset: str = "default", workers: int | None = None, **overrides: Any
) -> Path:
    """Generate the benchmark into its cache folder unless it is there (no indexing)."""
    return generate(make_config(preset, **overrides), root, workers=workers)


def synthetic_ready(root: str | Path, preset: str = "default", **overrides: Any) -> bool:
    """Whether the benchmark of ``preset`` with ``overrides`` is completely cached."""
    cfg = make_config(preset, **overrides)
    return is_complete(dataset_dir(root, cfg), cfg)

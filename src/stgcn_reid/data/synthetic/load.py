"""Entry point used by ``build_dataset("synthetic", root, **kwargs)``: generate if needed, then
index the benchmark with the real DukeMTMC-VideoReID loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stgcn_reid.data.datasets.base import VideoReIDDataset
from stgcn_reid.data.datasets.dukemtmc_video import load_dukemtmc_video
from stgcn_reid.data.synthetic.config import make_config
from stgcn_reid.data.synthetic.writer import generate


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
    return VideoReIDDataset(
        f"synthetic-{preset} ({folder.name})", dataset.train, dataset.query, dataset.gallery
    )

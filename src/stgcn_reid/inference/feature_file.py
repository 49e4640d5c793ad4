"""The query / gallery tracklet features of an evaluation, as one ``.npz`` file.

Written by ``stgcn_reid.train`` (``save_test_features=true``) and ``stgcn_reid.eval``
(``eval.save_features=true``); read by the ablation study (``ablation.results.load_features``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stgcn_reid.evaluation.metric import RankingResult
from stgcn_reid.utils.io import atomic_write

FEATURES_FILE = "features.npz"


def save_features(ranking: RankingResult, path: Path) -> None:
    """Query/gallery tracklet features with ids, cameras and track indices, as one npz."""
    arrays = {
        "query_features": ranking.query_features.numpy(),
        "gallery_features": ranking.gallery_features.numpy(),
        "query_pids": ranking.q_pids.numpy(),
        "gallery_pids": ranking.g_pids.numpy(),
        "query_camids": ranking.q_camids.numpy(),
        "gallery_camids": ranking.g_camids.numpy(),
        "query_tracks": ranking.query_tracks.numpy(),
        "gallery_tracks": ranking.gallery_tracks.numpy(),
    }
    atomic_write(path, lambda handle: np.savez(handle, **arrays))

"""Using a trained STGCN without training code: the :class:`Embedder` (tracklets to
embeddings, as the evaluation computes them), tracklet folders (:mod:`.folders`) and the one
feature file format (:class:`FeatureFile`) that embed, eval and train write and search and the
ablation study read."""

from stgcn_reid.inference.embedder import Embedder
from stgcn_reid.inference.feature_file import (
    FEATURES_FILE,
    EvaluationLabels,
    FeatureFile,
    evaluation_features,
)
from stgcn_reid.inference.folders import find_tracklets, list_frames

__all__ = [
    "FEATURES_FILE",
    "Embedder",
    "EvaluationLabels",
    "FeatureFile",
    "evaluation_features",
    "find_tracklets",
    "list_frames",
]

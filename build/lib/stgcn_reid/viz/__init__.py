"""Pictures of evaluation results: CMC curves, ranked retrieval grids, the temporal adjacency.

The class activation maps (:mod:`stgcn_reid.viz.gradcam`) are imported from their module: they
need the ``grad-cam`` package, which the training and evaluation entry points do not.
"""

from stgcn_reid.viz.adjacency import plot_adjacency, temporal_adjacency
from stgcn_reid.viz.curves import plot_cmc, plot_metric_curves
from stgcn_reid.viz.ranking import RankGridLayout, plot_ranked_results

__all__ = [
    "RankGridLayout",
    "plot_adjacency",
    "plot_cmc",
    "plot_metric_curves",
    "plot_ranked_results",
    "temporal_adjacency",
]

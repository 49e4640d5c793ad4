"""Pictures of evaluation results: CMC curves and ranked retrieval grids."""

from stgcn_reid.viz.curves import plot_cmc
from stgcn_reid.viz.ranking import RankGridLayout, plot_ranked_results

__all__ = ["RankGridLayout", "plot_cmc", "plot_ranked_results"]

"""Retrieval evaluation: distances, re-ranking, CMC / mAP / mINP and the torchmetrics metric."""

from stgcn_reid.evaluation.distance import compute_distance
from stgcn_reid.evaluation.metric import RankingResult, ReIDMetric
from stgcn_reid.evaluation.rank import cmc_at, evaluate_rank
from stgcn_reid.evaluation.rerank import re_ranking

__all__ = [
    "RankingResult",
    "ReIDMetric",
    "cmc_at",
    "compute_distance",
    "evaluate_rank",
    "re_ranking",
]

"""The STGCN model: ResNet backbone, patch graphs, temporal and structural GCN branches."""

from stgcn_reid.models.backbone import ResNetBackbone
from stgcn_reid.models.graph import normalized_adjacency
from stgcn_reid.models.stgcn import STGCN, STGCNOutput

__all__ = ["STGCN", "ResNetBackbone", "STGCNOutput", "normalized_adjacency"]

"""Lightning callbacks of the training entry point."""

from stgcn_reid.callbacks.audit import DataAudit
from stgcn_reid.callbacks.backbone_export import BackboneExport
from stgcn_reid.callbacks.nonfinite import NonFiniteLossError, NonFiniteLossGuard
from stgcn_reid.callbacks.resume import ResumeCheckpoint

__all__ = [
    "BackboneExport",
    "DataAudit",
    "NonFiniteLossError",
    "NonFiniteLossGuard",
    "ResumeCheckpoint",
]

"""Exporting the embedding network of a checkpoint: the input contract an exported model keeps
(:mod:`.contract`), the ONNX file (:mod:`.onnx_file`), the ``torch.export`` archive
(:mod:`.pt2_file`) and the parity check of either against PyTorch (:mod:`.parity`).

``python -m stgcn_reid.export`` is the command line over these.
"""

from stgcn_reid.exporting.contract import EmbeddingNet, InputContract
from stgcn_reid.exporting.onnx_file import export_onnx, read_onnx_metadata
from stgcn_reid.exporting.parity import check_parity, parity
from stgcn_reid.exporting.pt2_file import export_pt2, read_pt2_metadata

__all__ = [
    "EmbeddingNet",
    "InputContract",
    "check_parity",
    "export_onnx",
    "export_pt2",
    "parity",
    "read_onnx_metadata",
    "read_pt2_metadata",
]

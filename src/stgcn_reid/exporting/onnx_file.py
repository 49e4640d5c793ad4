"""The ONNX file: one batched graph from the dynamo exporter, the contract in ``metadata_props``.

``torch.onnx.export(..., dynamo=True)`` (which needs ``onnxscript``, in the ``export`` extra)
captures the network with ``torch.export``, so the batch stays symbolic through every
``batch * frames`` reshape and the adaptive pooling: the file maps ``clips [batch, T, 3, H, W]``
to ``embedding [batch, D]`` in one graph, and ONNX Runtime runs the clips of a batch together.
(The TorchScript-based exporter froze those shapes, which is why earlier versions wrapped a
one-clip graph in an ONNX ``Loop``.)

The dynamo exporter writes opset 18; older opsets are refused, since converting its graph down
fails (``Reduce*`` ops whose axes are inputs since opset 18).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from stgcn_reid.exporting.contract import INPUT_NAME, OUTPUT_NAME, EmbeddingNet, InputContract
from stgcn_reid.exporting.optional import require
from stgcn_reid.models import STGCN
from stgcn_reid.utils.io import atomic_write

MIN_OPSET = 18


def export_onnx(net: STGCN, contract: InputContract, path: str | Path, opset: int = 18) -> Path:
    """Write the ONNX model with a dynamic batch and the contract as ``metadata_props``."""
    if opset < MIN_OPSET:
        raise ValueError(f"opset={opset}: the dynamo ONNX exporter writes opset {MIN_OPSET}+")
    onnx = require("onnx", "format=onnx")
    require("onnxscript", "format=onnx")
    example, dynamic_shapes = contract.batch_example()
    program = torch.onnx.export(
        EmbeddingNet(net).eval(),
        (example,),
        dynamo=True,
        dynamic_shapes=dynamic_shapes,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        opset_version=opset,
        verbose=False,
    )
    model = program.model_proto
    model.doc_string = "STGCN clip embedding; input contract in metadata_props"
    for key, value in contract.metadata().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return atomic_write(path, lambda handle: handle.write(model.SerializeToString()))


def read_onnx_metadata(path: str | Path) -> Mapping[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict."""
    onnx = require("onnx", "reading ONNX metadata")
    return {prop.key: prop.value for prop in onnx.load(str(path)).metadata_props}

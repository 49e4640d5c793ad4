"""The ``torch.export`` archive (``.pt2``): a symbolic batch, the contract as an extra file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from stgcn_reid.exporting.contract import EmbeddingNet, InputContract
from stgcn_reid.models import STGCN
from stgcn_reid.utils.io import atomic_write

PT2_METADATA_FILE = "stgcn_reid.json"


def export_pt2(net: STGCN, contract: InputContract, path: str | Path) -> Path:
    """Write a ``torch.export`` archive with a symbolic batch and the contract as extra file."""
    example, dynamic_shapes = contract.batch_example()
    program = torch.export.export(
        EmbeddingNet(net).eval(), (example,), dynamic_shapes=dynamic_shapes
    )
    buffer = io.BytesIO()
    extra = {PT2_METADATA_FILE: json.dumps(contract.metadata(), sort_keys=True)}
    torch.export.save(program, buffer, extra_files=extra)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def read_pt2_metadata(path: str | Path) -> dict[str, str]:
    """The input contract stored in a ``pt2`` archive written by :func:`export_pt2`."""
    extra = {PT2_METADATA_FILE: ""}
    torch.export.load(str(path), extra_files=extra)
    return json.loads(extra[PT2_METADATA_FILE])

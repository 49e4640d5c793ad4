"""Parity of an exported model with the PyTorch network: the same random clips through both."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from stgcn_reid.exporting.contract import INPUT_NAME, InputContract
from stgcn_reid.exporting.optional import require
from stgcn_reid.models import STGCN

PARITY_BATCH_SIZES = (1, 3)


def parity(
    path: str | Path,
    net: STGCN,
    contract: InputContract,
    batch_sizes: Sequence[int] = PARITY_BATCH_SIZES,
) -> dict[int, float]:
    """Largest absolute difference between exported and PyTorch embeddings, per batch size."""
    run = _onnx_runner(path) if Path(path).suffix == ".onnx" else _pt2_runner(path)
    diffs = {}
    for batch_size in batch_sizes:
        clips = contract.random_clips(batch_size, seed=batch_size)
        with torch.inference_mode():
            expected = net(clips).embedding
        got = run(clips)
        if got.shape != expected.shape:
            raise ValueError(
                f"{path}: exported model returned {tuple(got.shape)} for batch {batch_size}, "
                f"expected {tuple(expected.shape)}"
            )
        diffs[batch_size] = float((got - expected).abs().max())
    return diffs


def check_parity(path: Path, net: STGCN, contract: InputContract, tolerance: float) -> None:
    """Print :func:`parity` per batch size; raise if the worst exceeds ``tolerance`` (or is NaN)."""
    diffs = parity(path, net, contract)
    shown = ", ".join(f"batch {b}: {d:.2e}" for b, d in diffs.items())
    print(f"{path.suffix[1:]} vs PyTorch, max abs diff of the embedding: {shown}")
    worst = max(diffs.values())
    if not worst <= tolerance:  # also catches NaN
        raise ValueError(
            f"{path}: exported model differs from PyTorch by {worst:.3e} > tolerance={tolerance}"
        )


def _onnx_runner(path: str | Path) -> Callable[[Tensor], Tensor]:
    ort = require("onnxruntime", "checking an ONNX export")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda clips: torch.from_numpy(session.run(None, {INPUT_NAME: clips.numpy()})[0])


def _pt2_runner(path: str | Path) -> Callable[[Tensor], Tensor]:
    module = torch.export.load(str(path)).module()
    return lambda clips: module(clips).detach()

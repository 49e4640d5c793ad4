"""Export the embedding network of a checkpoint to ONNX or to a ``torch.export`` program.

Usage::

    python -m stgcn_reid.export ckpt_path=CKPT [format=onnx|pt2] [output=PATH] [opset=18]
        [check=true] [tolerance=1e-3]

``output`` defaults to the checkpoint path with the suffix ``.onnx`` / ``.pt2``. With
``check=true`` (default) the exported model is run next to the PyTorch network on the same
random clips, batch sizes 1 and 3, and the largest absolute difference of the embeddings is
printed; above ``tolerance`` the export fails.

The exported model's input contract (``clips [B, T, 3, H, W]``, normalised; output
``embedding [B, D]``) is described in :mod:`stgcn_reid.exporting.contract` and stored in the
file: as ONNX ``metadata_props`` (:func:`~stgcn_reid.exporting.read_onnx_metadata`), and in a
``torch.export`` archive as the extra file ``stgcn_reid.json``
(:func:`~stgcn_reid.exporting.read_pt2_metadata`). The ONNX file is one batched graph from the
dynamo exporter (:mod:`stgcn_reid.exporting.onnx_file`; opset 18 or newer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from stgcn_reid.exporting import InputContract, check_parity, export_onnx, export_pt2
from stgcn_reid.inference import Embedder
from stgcn_reid.utils.keyvalue_cli import run_cli

FORMATS = ("onnx", "pt2")


@dataclass
class ExportConfig:
    """Arguments of ``python -m stgcn_reid.export``."""

    ckpt_path: str = MISSING
    format: str = "onnx"
    output: str | None = None
    opset: int = 18
    check: bool = True
    tolerance: float = 1e-3


def export(cfg: ExportConfig) -> Path:
    """Export ``cfg.ckpt_path`` to ``cfg.format``, then (``cfg.check``) measure the parity."""
    if cfg.format not in FORMATS:
        raise ValueError(f"format={cfg.format!r}; expected one of {FORMATS}")
    output = Path(cfg.output or Path(cfg.ckpt_path).with_suffix(f".{cfg.format}"))
    if output.suffix != f".{cfg.format}":
        raise ValueError(f"output={output} must end in .{cfg.format} for format={cfg.format}")
    embedder = Embedder.from_checkpoint(cfg.ckpt_path)
    contract = InputContract.of(embedder, cfg.ckpt_path)
    if cfg.format == "onnx":
        export_onnx(embedder.net, contract, output, cfg.opset)
    else:
        export_pt2(embedder.net, contract, output)
    print(
        f"Wrote {output}: clips [B, {', '.join(map(str, contract.input_shape))}] -> embedding "
        f"[B, {contract.embedding_dim}]"
    )
    if cfg.check:
        check_parity(output, embedder.net, contract, cfg.tolerance)
    return output


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point (``argv`` defaults to ``sys.argv[1:]``)."""
    run_cli(ExportConfig, export, argv, __doc__ or "")


if __name__ == "__main__":
    main()

"""Export the embedding network of a checkpoint to ONNX or to a ``torch.export`` program.

Usage::

    python -m stgcn_reid.export ckpt_path=CKPT [format=onnx|pt2] [output=PATH] [opset=17]
        [check=true] [tolerance=1e-3]

``output`` defaults to the checkpoint path with the suffix ``.onnx`` / ``.pt2``. With
``check=true`` (default) the exported model is run next to the PyTorch network on the same
random clips, batch sizes 1 and 3, and the largest absolute difference of the embeddings is
printed; above ``tolerance`` the export fails.

**Input contract.** The exported model maps clips to clip embeddings; it does *not* decode,
resize or normalise, and must not be given pre-normalised frames twice (a classic mistake with
exported re-id models whose graph normalises internally; this one does not):

- input ``clips``: float32 ``[B, T, 3, H, W]``, ``B`` dynamic, ``T`` = ``seq_len``, ``H x W`` =
  ``height x width`` of the checkpoint's data config (all fixed);
- each frame RGB, resized to ``H x W`` (bilinear, antialiased), scaled to ``[0, 1]`` (pixel /
  255), then normalised per channel as ``(x - mean) / std`` with the ImageNet mean and std;
- the ``T`` frames of a clip in temporal order, chosen as in evaluation by
  :func:`stgcn_reid.data.temporal.eval_clips` with the stored ``test_sampling`` (``strided``:
  clip ``j`` takes frame ``j`` of each of ``T`` equal chunks; ``consecutive``: runs of ``T``
  frames, the last one loop-padded; ``evenly``: ``T`` frames spread over the tracklet);
- output ``embedding``: float32 ``[B, D]``, the paper's ``f_all`` of each clip; a tracklet's
  descriptor is the mean over its clips weighted by the frames each clip adds
  (:func:`stgcn_reid.data.temporal.clip_weights`).

:meth:`stgcn_reid.inference.Embedder.preprocess` produces exactly this input from frames. The
contract is stored in the file: as ONNX ``metadata_props`` (``seq_len``, ``height``, ``width``,
``mean``, ``std``, ``input_layout``, ``test_sampling``, ``embedding_dim``, ...), and in a
``torch.export`` archive as the extra file ``stgcn_reid.json``.

**How the ONNX file is made.** ``torch.onnx.export(..., dynamo=True)`` needs the
``onnxscript`` package, which this project does not depend on, so the TorchScript-based
exporter (``dynamo=False``) is used. That exporter freezes every shape computed in Python
(``batch * frames`` reshapes) and cannot export ``adaptive_avg_pool2d`` with a symbolic batch,
so the network is exported for one clip and wrapped in an ONNX ``Loop`` over the batch
dimension. Clips never interact in the network (BatchNorm runs in eval mode), so the result is
the batched embedding; the clips of a batch run one after another inside the ONNX runtime.
The ``pt2`` format (``torch.export``) keeps a symbolic batch natively.
"""

from __future__ import annotations

import importlib
import io
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from omegaconf import MISSING
from torch import Tensor, nn

from stgcn_reid import __version__
from stgcn_reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from stgcn_reid.embed import file_sha256
from stgcn_reid.inference import Embedder
from stgcn_reid.models import STGCN
from stgcn_reid.utils.io import atomic_write
from stgcn_reid.utils.keyvalue_cli import run_cli

FORMATS = ("onnx", "pt2")
PARITY_BATCH_SIZES = (1, 3)
PT2_METADATA_FILE = "stgcn_reid.json"


@dataclass
class ExportConfig:
    """Arguments of ``python -m stgcn_reid.export``."""

    ckpt_path: str = MISSING
    format: str = "onnx"
    output: str | None = None
    opset: int = 17
    check: bool = True
    tolerance: float = 1e-3


class EmbeddingNet(nn.Module):
    """``clips [B, T, 3, H, W] -> embedding [B, D]``: STGCN without logits or branch features."""

    def __init__(self, net: STGCN) -> None:
        super().__init__()
        self.net = net

    def forward(self, clips: Tensor) -> Tensor:
        return self.net(clips).embedding


@dataclass(frozen=True)
class InputContract:
    """What an exported model expects and returns (see the module docstring)."""

    seq_len: int
    height: int
    width: int
    embedding_dim: int
    test_sampling: str
    checkpoint: str
    checkpoint_sha256: str

    @classmethod
    def of(cls, embedder: Embedder, checkpoint: str | Path) -> InputContract:
        height, width = embedder.image_size
        return cls(
            embedder.seq_len,
            height,
            width,
            embedder.embedding_dim,
            embedder.sampling,
            str(Path(checkpoint).resolve()),
            file_sha256(checkpoint),
        )

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(T, 3, H, W)``: the shape of one clip."""
        return self.seq_len, 3, self.height, self.width

    def metadata(self) -> dict[str, str]:
        """The contract as string key/values (ONNX ``metadata_props`` take strings only)."""
        return {
            "input_name": "clips",
            "input_layout": "B,T,3,H,W float32 RGB",
            "input_normalization": "(pixel / 255 - mean) / std per channel, after resizing",
            "mean": json.dumps(list(IMAGENET_MEAN)),
            "std": json.dumps(list(IMAGENET_STD)),
            "seq_len": str(self.seq_len),
            "height": str(self.height),
            "width": str(self.width),
            "resize": "bilinear, antialias",
            "test_sampling": self.test_sampling,
            "output_name": "embedding",
            "embedding_dim": str(self.embedding_dim),
            "tracklet_descriptor": "mean of the clip embeddings of the tracklet, weighted by the "
            "number of its frames each clip adds (stgcn_reid.data.temporal.clip_weights)",
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256,
            "stgcn_reid_version": __version__,
        }

    def random_clips(self, batch_size: int, seed: int = 0) -> Tensor:
        """Normalised clips of uniformly random pixels: inputs in the range real frames give."""
        generator = torch.Generator().manual_seed(seed)
        pixels = torch.rand((batch_size, *self.input_shape), generator=generator)
        mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
        std = torch.tensor(IMAGENET_STD)[:, None, None]
        return (pixels - mean) / std


def export_onnx(net: STGCN, contract: InputContract, path: str | Path, opset: int = 17) -> Path:
    """Write the ONNX model (one-clip graph inside a ``Loop`` over the batch, see above)."""
    onnx = _require("onnx", "format=onnx")
    single = _export_single_clip(EmbeddingNet(net).eval(), contract, opset)
    model = _batch_loop(onnx, single, contract)
    for key, value in contract.metadata().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return atomic_write(path, lambda handle: handle.write(model.SerializeToString()))


def _export_single_clip(module: EmbeddingNet, contract: InputContract, opset: int) -> Any:
    """The network for one clip ``[1, T, 3, H, W]`` as an ONNX ``ModelProto``."""
    onnx = _require("onnx", "format=onnx")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The model checks its input shape with Python ifs; the tracer warns that they are
        # frozen, which is intended: T, H and W are fixed by the contract.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        # The legacy exporter is a deliberate choice (module docstring): its deprecation
        # notices would only alarm users.
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        torch.onnx.export(
            module,
            (torch.zeros(1, *contract.input_shape),),
            buffer,
            dynamo=False,
            input_names=["clip"],
            output_names=["clip_embedding"],
            opset_version=opset,
        )
    return onnx.load_from_string(buffer.getvalue())


def _batch_loop(onnx: ModuleType, single: Any, contract: InputContract) -> Any:
    """Wrap a one-clip model in ``Loop`` over dim 0 of ``clips``: ``[B, ...] -> [B, D]``.

    The loop body takes clip ``i``, adds a batch axis of 1 and runs the one-clip graph; the
    loop stacks the ``[1, D]`` outputs into ``[B, 1, D]``, squeezed to ``[B, D]``. The weights
    stay initializers of the outer graph, which a loop body may read.
    """
    helper, proto = onnx.helper, onnx.TensorProto
    dim = contract.embedding_dim
    body = helper.make_graph(
        [
            helper.make_node("Gather", ["clips", "loop_index"], ["loop_clip"], axis=0),
            helper.make_node("Unsqueeze", ["loop_clip", "loop_axis0"], ["clip"]),
            *single.graph.node,
            helper.make_node("Identity", ["loop_cond_in"], ["loop_cond_out"]),
        ],
        "one_clip",
        [
            helper.make_tensor_value_info("loop_index", proto.INT64, []),
            helper.make_tensor_value_info("loop_cond_in", proto.BOOL, []),
        ],
        [
            helper.make_tensor_value_info("loop_cond_out", proto.BOOL, []),
            helper.make_tensor_value_info("clip_embedding", proto.FLOAT, [1, dim]),
        ],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Shape", ["clips"], ["loop_batch_1d"], start=0, end=1),
            helper.make_node("Squeeze", ["loop_batch_1d"], ["loop_batch"]),
            helper.make_node("Loop", ["loop_batch", ""], ["loop_stacked"], body=body),
            helper.make_node("Squeeze", ["loop_stacked", "loop_axis1"], ["embedding"]),
        ],
        "stgcn_embedding",
        [helper.make_tensor_value_info("clips", proto.FLOAT, ["batch", *contract.input_shape])],
        [helper.make_tensor_value_info("embedding", proto.FLOAT, ["batch", dim])],
        initializer=[
            *single.graph.initializer,
            helper.make_tensor("loop_axis0", proto.INT64, [1], [0]),
            helper.make_tensor("loop_axis1", proto.INT64, [1], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=single.opset_import)
    # make_model stamps the newest IR version onnx knows; keep the exporter's, which the
    # installed onnxruntime is more likely to read.
    model.ir_version = single.ir_version
    model.doc_string = "STGCN clip embedding; input contract in metadata_props"
    return model


def export_pt2(net: STGCN, contract: InputContract, path: str | Path) -> Path:
    """Write a ``torch.export`` archive with a symbolic batch and the contract as extra file."""
    example = contract.random_clips(2)  # not 1: torch.export specialises sizes 0 and 1
    program = torch.export.export(
        EmbeddingNet(net).eval(),
        (example,),
        dynamic_shapes={"clips": {0: torch.export.Dim("batch", min=1)}},
    )
    buffer = io.BytesIO()
    extra = {PT2_METADATA_FILE: json.dumps(contract.metadata(), sort_keys=True)}
    torch.export.save(program, buffer, extra_files=extra)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


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


def _onnx_runner(path: str | Path) -> Any:
    ort = _require("onnxruntime", "checking an ONNX export")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda clips: torch.from_numpy(session.run(None, {"clips": clips.numpy()})[0])


def _pt2_runner(path: str | Path) -> Any:
    module = torch.export.load(str(path)).module()
    return lambda clips: module(clips).detach()


def read_pt2_metadata(path: str | Path) -> dict[str, str]:
    """The input contract stored in a ``pt2`` archive written by :func:`export_pt2`."""
    extra = {PT2_METADATA_FILE: ""}
    torch.export.load(str(path), extra_files=extra)
    return json.loads(extra[PT2_METADATA_FILE])


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
        _report_parity(output, embedder.net, contract, cfg.tolerance)
    return output


def _report_parity(path: Path, net: STGCN, contract: InputContract, tolerance: float) -> None:
    diffs = parity(path, net, contract)
    shown = ", ".join(f"batch {b}: {d:.2e}" for b, d in diffs.items())
    print(f"{path.suffix[1:]} vs PyTorch, max abs diff of the embedding: {shown}")
    worst = max(diffs.values())
    if not worst <= tolerance:  # also catches NaN
        raise ValueError(
            f"{path}: exported model differs from PyTorch by {worst:.3e} > tolerance={tolerance}"
        )


def _require(name: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or say how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(
            f"{purpose} needs the '{name}' package: pip install 'stgcn-reid[export]'"
        ) from err


def read_onnx_metadata(path: str | Path) -> Mapping[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict."""
    onnx = _require("onnx", "reading ONNX metadata")
    return {prop.key: prop.value for prop in onnx.load(str(path)).metadata_props}


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point (``argv`` defaults to ``sys.argv[1:]``)."""
    run_cli(ExportConfig, export, argv, __doc__ or "")


if __name__ == "__main__":
    main()

"""ONNX Runtime (CPU) throughput of exported models, side by side on the same clips.

Each ``--models`` entry is ``label=path.onnx`` (files written by ``python -m stgcn_reid.export``,
or by an earlier version of it); all must share one input shape (``seq_len``, ``height``,
``width`` in their ``metadata_props``). One batch of random normalised clips is run through
every model, interleaved round after round; the figure is clips per second.

Usage: ``python -m benchmarks.onnx_runtime --models loop=a.onnx,batched=b.onnx [--batch 8]
[--threads 1] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from benchmarks.cli import base_parser, command_line
from benchmarks.device import machine
from benchmarks.report import Report, Table, fmt
from benchmarks.timing import interleaved, paired_ratio
from stgcn_reid.exporting import read_onnx_metadata
from stgcn_reid.exporting.contract import INPUT_NAME
from stgcn_reid.exporting.optional import require


def parse_models(text: str) -> dict[str, Path]:
    """``"a=x.onnx,b=y.onnx"`` -> ``{"a": Path("x.onnx"), ...}``; every file must exist."""
    models = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        label, sep, path = item.partition("=")
        if not sep or not label or not Path(path).is_file():
            raise SystemExit(f"--models: expected label=existing.onnx, got {item!r}")
        models[label] = Path(path)
    if not models:
        raise SystemExit("--models: give at least one label=path.onnx")
    return models


def input_shape(models: dict[str, Path]) -> tuple[int, int, int, int]:
    """``(T, 3, H, W)`` read from the models' contracts; they must agree."""
    shapes = {}
    for label, path in models.items():
        meta = read_onnx_metadata(path)
        shapes[label] = (int(meta["seq_len"]), 3, int(meta["height"]), int(meta["width"]))
    if len(set(shapes.values())) != 1:
        raise SystemExit(f"--models: the models take different clips: {shapes}")
    return next(iter(shapes.values()))


def session_call(path: Path, clips: np.ndarray, threads: int) -> Callable[[], object]:
    """One ``session.run`` of ``clips`` on a CPU session with ``threads`` intra-op threads."""
    ort = require("onnxruntime", "benchmarking ONNX files")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {INPUT_NAME: clips})


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = base_parser(__doc__.split("\n")[0], repeats=5)
    parser.add_argument("--models", required=True, help="comma list of label=path.onnx")
    parser.add_argument("--batch", type=int, default=8, help="clips per run")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    args = parser.parse_args(argv)
    if args.device != "auto" and args.device != "cpu":
        raise SystemExit("--device: ONNX Runtime is benchmarked on the CPU only")
    args.models = parse_models(args.models)
    return args


def main(argv: Sequence[str] | None = None) -> Report:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    cpu = torch.device("cpu")
    shape = input_shape(args.models)
    clips = torch.randn(args.batch, *shape, generator=torch.Generator().manual_seed(0)).numpy()
    calls = {label: session_call(path, clips, args.threads) for label, path in args.models.items()}
    samples = interleaved(calls, cpu, args.repeats, args.warmup)
    first = next(iter(args.models))
    table = Table(
        f"ONNX Runtime CPU, batch {args.batch} clips [T, 3, H, W] = {list(shape)}, "
        f"{args.threads} intra-op thread(s)",
        ["model", "file", "median s / batch", "clips/s", f"speed vs {first}"],
    )
    report = Report(
        "ONNX Runtime throughput", command_line("benchmarks.onnx_runtime", argv), machine(cpu)
    )
    for label, path in args.models.items():
        speed = paired_ratio(samples, first, label)
        report.figures[f"{label}.clips_per_s"] = args.batch / samples[label].median
        table.rows.append(
            [
                label,
                path.name,
                fmt(samples[label].median, 3),
                fmt(args.batch / samples[label].median, 1),
                fmt(speed, 2),
            ]
        )
    report.tables.append(table)
    report.notes.append(
        f"speed vs {first}: median over rounds of time({first}) / time(model), adjacent runs."
    )
    report.print()
    return report


if __name__ == "__main__":
    main()

"""The ceiling: backbone-only forward+backward throughput, against the full training step.

The backbone (ResNet, last stride 1) is most of STGCN's compute, so its forward+backward
images/s bounds what any training step of the model can reach; the full step (graph branches,
losses, Adam; see ``benchmarks/train_step.py``) is reported as a fraction of it, both measured
interleaved on the same module and batch.

Usage: ``python -m benchmarks.backbone [--device cuda] [--shapes paper,cpu] [--quick]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from benchmarks.cli import base_parser, command_line, parse_batch, parse_list
from benchmarks.device import PRECISIONS, autocast, machine, resolve_device
from benchmarks.memory import memory_note
from benchmarks.report import Report, Table, fmt, mib
from benchmarks.shapes import SHAPES
from benchmarks.timing import interleaved, paired_ratio
from benchmarks.train_step import Built, Variant, build, train_step


def backbone_step(built: Built) -> None:
    """Backbone forward (autocast) and backward of all ``B * T`` frames; no optimizer."""
    frames = built.batch["clips"].flatten(0, 1)
    with autocast(frames.device, built.variant.precision):
        fmaps = built.module.net.backbone(frames)
    # A mean as the loss: its backward is one broadcast, so the backbone's own backward is what
    # gets timed.
    fmaps.float().mean().backward()
    built.module.zero_grad(set_to_none=True)


def measure_shape(shape: str, args: argparse.Namespace) -> tuple[Table, dict[str, float]]:
    """Interleave backbone-only and full steps at every precision on one shape."""
    built = {p: build(shape, Variant("stgcn", p), args.device, args.batch) for p in args.precisions}
    calls: dict[str, Callable[[], None]] = {}
    for precision, b in built.items():
        calls[f"backbone {precision}"] = lambda b=b: backbone_step(b)
        calls[f"stgcn step {precision}"] = lambda b=b: train_step(b)
    samples = interleaved(calls, args.device, args.repeats, args.warmup)
    s = next(iter(built.values())).setup
    table = Table(
        f"Backbone ceiling, {s.describe()}",
        [
            "precision",
            "backbone fwd+bwd images/s",
            "full step images/s",
            "step / ceiling",
            "backbone peak MiB",
        ],
    )
    figures: dict[str, float] = {}
    for precision in built:
        ceiling = samples[f"backbone {precision}"]
        step = samples[f"stgcn step {precision}"]
        # Throughput fraction = time(backbone) / time(step), paired per round.
        fraction = 1.0 / paired_ratio(samples, f"stgcn step {precision}", f"backbone {precision}")
        figures[f"{shape}.{precision}.backbone_images_per_s"] = s.images / ceiling.median
        figures[f"{shape}.{precision}.step_fraction_of_ceiling"] = fraction
        table.rows.append(
            [
                precision,
                fmt(s.images / ceiling.median, 1),
                fmt(s.images / step.median, 1),
                fmt(fraction, 3),
                mib(ceiling.peak_bytes),
            ]
        )
    return table, figures


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = base_parser(__doc__.split("\n")[0], repeats=3)
    parser.add_argument("--shapes", default=None, help=f"comma list of {list(SHAPES)}")
    parser.add_argument("--batch", default=None, help="PxK clips per step (all shapes)")
    parser.add_argument("--precisions", default=None, help="comma list of fp32,bf16")
    args = parser.parse_args(argv)
    args.device = resolve_device(args.device)
    quick_cpu = args.quick and args.device.type == "cpu"
    args.shapes = parse_list(
        args.shapes or ("cpu" if quick_cpu else "paper,cpu"), SHAPES, "--shapes"
    )
    args.batch = parse_batch(args.batch)
    args.precisions = parse_list(
        args.precisions or ("fp32" if args.quick else "fp32,bf16"), PRECISIONS, "--precisions"
    )
    return args


def main(argv: Sequence[str] | None = None) -> Report:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    report = Report(
        "Backbone ceiling", command_line("benchmarks.backbone", argv), machine(args.device)
    )
    for shape in args.shapes:
        table, figures = measure_shape(shape, args)
        report.tables.append(table)
        report.figures.update(figures)
    report.notes += [
        "step / ceiling: full training-step throughput over backbone-only forward+backward "
        "throughput, the median over rounds of adjacent runs.",
        memory_note(args.device),
    ]
    report.print()
    return report


if __name__ == "__main__":
    main()

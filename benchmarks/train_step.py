"""Training-step throughput: the global-branch baseline against the full STGCN.

One step is what Lightning's automatic optimisation runs for ``ReIDLitModule.training_step``:
forward and the eq. 8-9 loss (under bfloat16 autocast for ``bf16``, as ``bf16-mixed``),
backward, Adam step, zero_grad. The module is built by ``stgcn_reid.train.build_module`` from
the composed Hydra config, so ``channels_last`` and ``compile`` take the training code paths.
Input: random clips (data loading is ``benchmarks/data_loading.py``).

Also reported: the FLOP ratio STGCN / baseline (``torch.utils.flop_counter`` on fake tensors:
exact counts, nothing computed), and an audit of the calls in one step that read a tensor's
value on the host, i.e. that synchronise with a CUDA device.

Usage: ``python -m benchmarks.train_step [--device cuda] [--shapes paper,cpu] [--quick]``
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import hydra
import torch
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

import stgcn_reid
from benchmarks.cli import base_parser, command_line, parse_batch, parse_list
from benchmarks.device import PRECISIONS, autocast, machine, resolve_device
from benchmarks.memory import memory_note
from benchmarks.report import Report, Table, fmt, mib
from benchmarks.shapes import SHAPES, Setup, random_batch, setup
from benchmarks.timing import Samples, interleaved, paired_ratio
from stgcn_reid.lit_module import ReIDLitModule
from stgcn_reid.train import build_module

BRANCHES = {"baseline": "[global]", "stgcn": "[global,temporal,spatial]"}


@dataclass(frozen=True)
class Variant:
    """One way to run the step: which branches, which precision, which speed options."""

    branches: str  # "baseline" (global branch only) or "stgcn" (all three)
    precision: str  # "fp32" or "bf16"
    channels_last: bool = False
    compile: bool = False

    @property
    def name(self) -> str:
        extras = " +channels-last" * self.channels_last + " +compile" * self.compile
        return f"{self.branches} {self.precision}{extras}"

    @property
    def plain(self) -> bool:
        return not (self.channels_last or self.compile)

    def overrides(self) -> list[str]:
        return [
            f"model.branches={BRANCHES[self.branches]}",
            f"channels_last={str(self.channels_last).lower()}",
            f"compile={str(self.compile).lower()}",
        ]


@dataclass
class Built:
    """A variant ready to step: its setup (config, batch), module, optimizer and input."""

    variant: Variant
    setup: Setup
    module: ReIDLitModule
    optimizer: torch.optim.Optimizer
    batch: dict[str, torch.Tensor]


def build(
    shape: str,
    variant: Variant,
    device: torch.device,
    batch: tuple[int, int] | None,
    min_classes: int = 0,
) -> Built:
    """The LightningModule of ``shape`` + ``variant`` as training builds it, on ``device``,
    with the shape's identity classes (at least ``min_classes``)."""
    s = setup(shape, device, batch, extra=variant.overrides())
    module = build_module(s.cfg, max(s.shape.num_classes, min_classes)).to(device)
    module.setup("fit")  # compiles the backbone when cfg.compile is true
    optimizer = module.configure_optimizers()["optimizer"]
    return Built(variant, s, module, optimizer, random_batch(s, device))


def train_step(built: Built) -> None:
    """Forward + eq. 8-9 loss (autocast), backward, optimizer step: one training step."""
    device = built.batch["clips"].device
    with autocast(device, built.variant.precision):
        terms = built.module.loss(built.module.net(built.batch["clips"]), built.batch["pid"])
    terms["total"].backward()
    built.optimizer.step()
    built.optimizer.zero_grad(set_to_none=True)


def step_fn(built: Built) -> Callable[[], None]:
    return lambda: train_step(built)


# --------------------------------------------------------------------------- FLOPs


def flops(shape: str, variant: Variant, device: torch.device) -> dict[str, float]:
    """Model forward+backward FLOPs of one step: total and the backbone's part.

    Runs on fake tensors (shapes only, no arithmetic), so the paper shape costs nothing. The
    loss is left out (its input check reads values, which fake tensors do not have); it and the
    optimizer are a negligible share.
    """
    # FakeTensorMode is torch's own shape-propagation mode (torch.compile uses it); there is no
    # public way to count a model's FLOPs without running it.
    from torch._subclasses.fake_tensor import FakeTensorMode

    s = setup(shape, device, None, extra=variant.overrides())
    counter = FlopCounterMode(display=False)
    with FakeTensorMode():
        net = hydra.utils.instantiate(s.cfg.model, num_classes=s.shape.num_classes)
        clips = torch.empty(s.clips, s.seq_len, 3, s.height, s.width)
        with counter:
            out = net(clips)
            surrogate = out.logits.sum() + sum(f.sum() for f in out.features.values())
            surrogate.backward()
    per_module = counter.get_flop_counts()
    backbone = sum(per_module.get(f"{type(net).__name__}.backbone", {}).values())
    return {"total": counter.get_total_flops() / s.images, "backbone": backbone / s.images}


# --------------------------------------------------------------------------- host syncs


class HostSyncAudit(TorchFunctionMode):
    """Count the project's calls that make the host wait for the device, by ``file:line``.

    A tensor's value read on the host (``bool``, ``item``, ``tolist``, ``int``, ``float``,
    ``numpy``, ``cpu``) and ops whose output size depends on values (``nonzero``, ``unique``,
    ``masked_select``) block until every queued CUDA kernel has finished. Only calls made from
    stgcn_reid code count (torch's own, e.g. Adam reading its CPU step counter, do not sync).
    The code path does not depend on the device, so a CPU run finds the CUDA syncs too.
    """

    CALLS = frozenset(
        {"__bool__", "item", "tolist", "numpy", "__int__", "__float__", "__index__", "cpu"}
        | {"nonzero", "argwhere", "unique", "unique_consecutive", "masked_select"}
    )
    PACKAGE = Path(stgcn_reid.__file__).resolve().parent

    def __init__(self) -> None:
        super().__init__()
        self.sites: Counter[tuple[str, str]] = Counter()

    def __torch_function__(
        self,
        func: Callable[..., object],
        types: Sequence[type],
        args: Sequence[object] = (),
        kwargs: Mapping[str, object] | None = None,
    ) -> object:
        name = getattr(func, "__name__", "")
        if name in self.CALLS:
            site = self._project_caller()
            if site is not None:
                self.sites[(name, site)] += 1
        return func(*args, **(kwargs or {}))

    def _project_caller(self) -> str | None:
        """``file:line`` of the caller if it is stgcn_reid code (not torch), else ``None``."""
        for frame in reversed(traceback.extract_stack()[:-2]):
            path = Path(frame.filename)
            if path.is_relative_to(self.PACKAGE):
                return f"{path.relative_to(self.PACKAGE.parent).as_posix()}:{frame.lineno}"
            if "torch" not in path.parts:
                return None
        return None


def sync_table(built: Built) -> Table:
    """The project's host reads in one (warmed-up) training step."""
    with HostSyncAudit() as audit:
        train_step(built)
    table = Table(
        f"Host reads (CUDA syncs) from stgcn_reid code in one {built.variant.name} training "
        "step, Lightning aside",
        ["call", "site", "per step"],
        [[name, site, str(count)] for (name, site), count in sorted(audit.sites.items())],
    )
    if not audit.sites:
        table.rows.append(["none", "-", "0"])
    return table


# --------------------------------------------------------------------------- the benchmark


def plan(
    precisions: Sequence[str], channels_last: bool, compile_precisions: Sequence[str]
) -> list[Variant]:
    variants = [Variant(b, p) for p in precisions for b in ("baseline", "stgcn")]
    if channels_last:
        variants += [Variant("stgcn", p, channels_last=True) for p in precisions]
    variants += [Variant("stgcn", p, compile=True) for p in compile_precisions]
    return variants


def measure_shape(
    shape: str, variants: Sequence[Variant], device: torch.device, args: argparse.Namespace
) -> tuple[list[Table], dict[str, float], Built]:
    """Interleave the variants of one shape.

    Returns the speed and FLOP tables, the figures, and the full STGCN step (first precision)
    for the host-sync audit.
    """
    built = {v: build(shape, v, device, args.batch) for v in variants}
    samples = interleaved(
        {v.name: step_fn(b) for v, b in built.items()}, device, args.repeats, args.warmup
    )
    first = next(iter(built.values()))
    speed = Table(
        f"Training step, {first.setup.describe()}",
        [
            "variant",
            "step s (median)",
            "images/s",
            "time / baseline",
            "speed-up vs stgcn fp32",
            "first call s",
            "peak MiB",
        ],
    )
    figures: dict[str, float] = {}
    for v in variants:
        rec = samples[v.name]
        images_per_s = first.setup.images / rec.median
        figures[f"{shape}.{v.name}.images_per_s"] = images_per_s
        overhead = _overhead(samples, v, variants)
        if overhead is not None:
            figures[f"{shape}.gcn_overhead.{v.precision}"] = overhead
        speed_up = _speed_up(samples, v, variants)
        speed.rows.append(
            [
                v.name,
                fmt(rec.median),
                fmt(images_per_s, 1),
                fmt(overhead),
                fmt(speed_up),
                fmt(rec.warmup[0] if rec.warmup else None, 1),
                mib(rec.peak_bytes),
            ]
        )
    flop_table, flop_figures = _flop_table(shape, device, first.setup)
    figures.update(flop_figures)
    full = next(v for v in variants if v.branches == "stgcn" and v.plain)
    return [speed, flop_table], figures, built[full]


def _overhead(samples: dict[str, Samples], v: Variant, variants: Sequence[Variant]) -> float | None:
    """GCN overhead: stgcn / baseline step time at the same precision (paired per round)."""
    baseline = Variant("baseline", v.precision)
    if v.branches != "stgcn" or not v.plain or baseline not in variants:
        return None
    return paired_ratio(samples, v.name, baseline.name)


def _speed_up(samples: dict[str, Samples], v: Variant, variants: Sequence[Variant]) -> float | None:
    reference = Variant("stgcn", "fp32")
    if v.branches != "stgcn" or v == reference or reference not in variants:
        return None
    return paired_ratio(samples, reference.name, v.name)


def _flop_table(shape: str, device: torch.device, s: Setup) -> tuple[Table, dict[str, float]]:
    base = flops(shape, Variant("baseline", "fp32"), device)
    full = flops(shape, Variant("stgcn", "fp32"), device)
    ratio = full["total"] / base["total"]
    table = Table(
        f"FLOPs per image, forward+backward of the model ({s.label})",
        ["model", "GFLOP/image", "backbone share", "ratio to baseline"],
        [
            ["baseline", fmt(base["total"] / 1e9), fmt(base["backbone"] / base["total"], 3), "1"],
            [
                "stgcn",
                fmt(full["total"] / 1e9),
                fmt(full["backbone"] / full["total"], 3),
                fmt(ratio, 3),
            ],
        ],
    )
    return table, {f"{shape}.flop_ratio": ratio, f"{shape}.gflop_per_image": full["total"] / 1e9}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.split("\n")[0], repeats=3)
    parser.add_argument("--shapes", default=None, help=f"comma list of {list(SHAPES)}")
    parser.add_argument("--batch", default=None, help="PxK clips per step (all shapes)")
    parser.add_argument("--precisions", default="fp32,bf16", help="comma list of fp32,bf16")
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add channels-last variants (default: on, off with --quick)",
    )
    parser.add_argument(
        "--compile",
        default=None,
        help="precisions to add torch.compile variants for, or 'none' (default: fp32 on CPU, "
        "fp32,bf16 on CUDA; none with --quick)",
    )
    args = parser.parse_args(argv)
    args.device = resolve_device(args.device)
    cuda = args.device.type == "cuda"
    args.shapes = parse_list(
        args.shapes or ("cpu" if args.quick and not cuda else "paper,cpu"), list(SHAPES), "--shapes"
    )
    args.batch = parse_batch(args.batch)
    args.precisions = parse_list(args.precisions, PRECISIONS, "--precisions")
    if args.channels_last is None:
        args.channels_last = not args.quick
    if args.compile is None:
        args.compile = "none" if args.quick else ("fp32,bf16" if cuda else "fp32")
    args.compile = (
        [] if args.compile == "none" else parse_list(args.compile, PRECISIONS, "--compile")
    )
    return args


def main(argv: Sequence[str] | None = None) -> Report:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    report = Report(
        "Training step", command_line("benchmarks.train_step", argv), machine(args.device)
    )
    variants = plan(args.precisions, args.channels_last, args.compile)
    audited: Built | None = None
    for shape in args.shapes:
        tables, figures, full_step = measure_shape(shape, variants, args.device, args)
        report.tables += tables
        report.figures.update(figures)
        # Audit the cheapest shape: the host reads do not depend on the shape.
        if audited is None or full_step.setup.images < audited.setup.images:
            audited = full_step
    if audited is not None:
        report.tables.append(sync_table(audited))
    report.notes += [
        "time / baseline: step time of the full STGCN over the global-branch baseline at the "
        "same precision, the median of the ratios of adjacent runs (the GCN overhead).",
        "first call: the warm-up step (oneDNN/cuDNN set-up; for +compile the compilation).",
        memory_note(args.device),
    ]
    report.print()
    return report


if __name__ == "__main__":
    main()

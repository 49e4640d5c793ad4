"""Where a training step's time goes: from the backbone ceiling to Lightning's loop.

On the global-branch baseline (its step has no graph branch to account for), measured side by
side in rounds on one module and one batch, each as a fraction of the backbone ceiling:

1. ``backbone``: the backbone's forward and backward alone (the ceiling, as
   ``benchmarks/backbone.py``);
2. ``+ head and loss``: the model's forward, the eq. 8-9 loss and the backward, no optimizer;
3. ``+ Adam, unfused``: the step with torch's default Adam (a few ops per tensor), for
   comparison;
4. ``+ Adam``: the step of ``benchmarks/train_step.py`` with the configured Adam (fused: one
   kernel per tensor) and zero_grad;
5. ``Lightning loop alone``: ``Trainer.fit`` on the same batch with the training config's
   trainer but no callback, logger, progress bar or checkpointing: Lightning's own loop;
6. ``Lightning fit``: the same fit with the training config's callbacks (checkpoints, progress
   bar, non-finite guard, learning-rate monitor) and logger, as training runs it;
7. ``Lightning fit + loader, decoding``: the same fit fed by the real P x K loader of a
   synthetic benchmark, decoding every frame it samples (``data.cache_frames=false``, as for
   MARS), in the configured workers, on the same cores;
8. ``Lightning fit + loader, frames in memory``: the same loader with its training frames
   decoded once, in memory (``data.cache_frames=true``, as the synthetic benchmarks set).

Every stage runs ``--steps`` steps per call and reports seconds per step; the fits time their
steady state (from the second step's start to the last one's), so Trainer construction and the
first step's optimizer-state allocation are left out, as the ceiling leaves them out. A stage's
time minus the previous one's is what that part of the loop costs.

Usage: ``python -m benchmarks.loop [--device cuda] [--steps 8] [--repeats 3] [--quick]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import open_dict
from torch.utils.data import DataLoader

from benchmarks.backbone import backbone_step
from benchmarks.cli import base_parser, command_line, parse_batch
from benchmarks.data_loading import DEFAULT_ROOT, train_loader
from benchmarks.device import machine, resolve_device, synchronize
from benchmarks.report import Report, Table, fmt
from benchmarks.shapes import SHAPES, setup
from benchmarks.timing import interleaved, median_interval, median_rank, paired_ratios
from benchmarks.train_step import Built, Variant, build, train_step
from stgcn_reid.utils.instantiate import instantiate_callbacks, instantiate_loggers

STAGES = (
    "backbone",
    "+ head and loss",
    "+ Adam, unfused",
    "+ Adam",
    "Lightning loop alone",
    "Lightning fit",
    "Lightning fit + loader, decoding",
    "Lightning fit + loader, frames in memory",
)


#: Figure names of the stages: ``<shape>.loop.<key>.fraction_of_ceiling``.
FIGURE_KEYS = dict(
    zip(
        STAGES,
        (
            "backbone",
            "loss",
            "adam_unfused",
            "step",
            "fit_bare",
            "fit",
            "fit_decoding",
            "fit_cached",
        ),
        strict=True,
    )
)


def head_and_loss(built: Built) -> None:
    """Forward, eq. 8-9 loss and backward of the whole model; no optimizer step."""
    module = built.module
    terms = module.loss(module.net(built.batch["clips"]), built.batch["pid"])
    terms["total"].backward()
    module.zero_grad(set_to_none=True)


def repeated(step: Callable[[Built], None], built: Built, steps: int) -> Callable[[], float]:
    """``steps`` calls of ``step``; the call returns seconds per step."""

    def run() -> float:
        synchronize(built.batch["clips"].device)
        start = time.perf_counter()
        for _ in range(steps):
            step(built)
        synchronize(built.batch["clips"].device)
        return (time.perf_counter() - start) / steps

    return run


class SteadyClock(pl.Callback):
    """Seconds per step of a fit from the second step's start to the last step's start: the
    loop's steady state, whole steps (fetch, hooks, logging, progress bar) between them."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        synchronize(trainer.lightning_module.device)
        self.starts.append(time.perf_counter())

    @property
    def per_step(self) -> float:
        if len(self.starts) < 3:
            raise RuntimeError(f"need >= 3 steps to time a fit, got {len(self.starts)}")
        return (self.starts[-1] - self.starts[1]) / (len(self.starts) - 2)


def fit(
    built: Built, batches: Callable[[], DataLoader], steps: int, configured: bool = True
) -> Callable[[], float]:
    """A ``Trainer.fit`` of ``steps + 1`` steps as training configures it (trainer,
    callbacks, logger; no validation), in a scratch run directory; seconds per step. Not
    ``configured``: the trainer alone, without callbacks, logger, progress bar or checkpoints."""

    def run() -> float:
        clock = SteadyClock()
        with tempfile.TemporaryDirectory() as out:
            cfg = built.setup.cfg.copy()
            with open_dict(cfg):
                cfg.paths.output_dir = out
            loggers = instantiate_loggers(cfg.get("logger")) if configured else []
            callbacks = (
                instantiate_callbacks(cfg.get("callbacks"), bool(loggers)) if configured else []
            )
            trainer = hydra.utils.instantiate(
                cfg.trainer,
                callbacks=[*callbacks, clock],
                logger=loggers or False,
                **({} if configured else BARE_TRAINER),
                max_steps=steps + 1,
                max_epochs=1,
                limit_val_batches=0,
                accelerator=built.batch["clips"].device.type,
                enable_model_summary=False,
            )
            trainer.fit(built.module, train_dataloaders=batches())
        return clock.per_step

    return run


#: What a fit that is not ``configured`` turns off besides the callbacks and logger: Lightning
#: would otherwise add its default progress bar and checkpoint callback.
BARE_TRAINER = {"enable_progress_bar": False, "enable_checkpointing": False}


def in_memory(built: Built, steps: int) -> Callable[[], DataLoader]:
    """The benchmark batch ``steps + 1`` times, already collated, in the main process."""
    return lambda: DataLoader([built.batch] * (steps + 1), batch_size=None)


def real_loader(
    built: Built, steps: int, root: Path, cache_frames: bool
) -> Callable[[], DataLoader]:
    """The configured training loader (P x K sampler, configured workers), frames decoded when
    sampled or ``cache_frames``, on a synthetic benchmark with enough batches for one fit, its
    pids within the model's classes."""
    workers = int(built.setup.cfg.data.num_workers)
    loader = train_loader(built.setup, root, steps + 1, workers, cache_frames)
    return lambda: loader


def unfused(built: Built) -> Built:
    """``built`` with torch's default Adam (same hyperparameters, not fused) in its place."""
    group = built.optimizer.param_groups[0]
    options = {k: group[k] for k in ("lr", "betas", "eps", "weight_decay", "amsgrad")}
    return replace(built, optimizer=torch.optim.Adam(built.module.parameters(), **options))


def measure(args: argparse.Namespace) -> tuple[Table, dict[str, float]]:
    # The loader's benchmark has P identities per batch: the classifier must cover them all.
    identities = setup(args.shape, args.device, args.batch).identities * (args.steps + 1)
    built = build(args.shape, Variant("baseline", "fp32"), args.device, args.batch, identities)
    calls = {
        STAGES[0]: repeated(backbone_step, built, args.steps),
        STAGES[1]: repeated(head_and_loss, built, args.steps),
        STAGES[2]: repeated(train_step, unfused(built), args.steps),
        STAGES[3]: repeated(train_step, built, args.steps),
        STAGES[4]: fit(built, in_memory(built, args.steps), args.steps, configured=False),
        STAGES[5]: fit(built, in_memory(built, args.steps), args.steps),
        STAGES[6]: fit(built, real_loader(built, args.steps, args.root, False), args.steps),
        STAGES[7]: fit(built, real_loader(built, args.steps, args.root, True), args.steps),
    }
    samples = interleaved(calls, args.device, args.repeats, args.warmup)
    s = built.setup
    table = Table(
        f"Training loop against the ceiling, {s.describe()}, global-branch baseline",
        [
            "stage",
            "images/s",
            "s per step",
            "stage / ceiling",
            "interval over rounds",
            "cost of this stage (ms/step)",
        ],
    )
    figures: dict[str, float] = {}
    previous = None
    for stage in STAGES:
        per_step = samples[stage].median
        ratios = paired_ratios(samples, stage, STAGES[0])
        fraction = 1.0 / statistics.median(ratios)
        rounds = [1.0 / r for r in ratios]
        interval = median_interval(rounds) if len(rounds) > 1 else None
        added = "-" if previous is None else fmt(1000 * (per_step - previous), 1)
        table.rows.append(
            [
                stage,
                fmt(s.images / per_step, 1),
                fmt(per_step, 3),
                fmt(fraction, 3),
                "-" if interval is None else f"[{fmt(interval[0], 3)}, {fmt(interval[1], 3)}]",
                added,
            ]
        )
        key = f"{args.shape}.loop.{FIGURE_KEYS[stage]}"
        figures[f"{key}.fraction_of_ceiling"] = fraction
        if interval is not None:
            figures[f"{key}.fraction_low"], figures[f"{key}.fraction_high"] = interval
            figures[f"{key}.interval_coverage"] = median_rank(len(rounds))[1]
        # the unfused Adam and the decoding loader are comparisons, not stages the configured
        # loop goes through
        previous = previous if stage in (STAGES[2], STAGES[6]) else per_step
    return table, figures


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = base_parser(__doc__.split("\n")[0], repeats=3)
    parser.add_argument("--shape", default="cpu", choices=list(SHAPES), help="input/model size")
    parser.add_argument("--steps", type=int, default=8, help="steps per call (>= 2)")
    parser.add_argument("--batch", default=None, help="PxK clips per step")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="synthetic data root")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be >= 2: a fit's steady state starts at its second step")
    args.device = resolve_device(args.device)
    args.batch = parse_batch(args.batch)
    if args.quick:
        args.steps = min(args.steps, 4)
    return args


def main(argv: Sequence[str] | None = None) -> Report:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    report = Report("Training loop", command_line("benchmarks.loop", argv), machine(args.device))
    table, figures = measure(args)
    report.tables.append(table)
    report.figures.update(figures)
    report.notes.append(
        "stage / ceiling: the backbone-only time over the stage's time, the median over rounds "
        "of adjacent runs; s per step: the median over rounds."
    )
    if args.repeats > 1:
        report.notes.append(
            "interval over rounds: a distribution-free interval for the median of the "
            f"{args.repeats} per-round fractions, with {100 * median_rank(args.repeats)[1]:.0f} % "
            "coverage (order statistics: timing.median_interval)."
        )
    report.notes += [
        "cost of this stage: its median seconds per step minus the previous stage's (the "
        "unfused Adam's against the head and loss, the configured step's too; both loaders' "
        "against the fit on a batch in memory).",
    ]
    report.print()
    return report


if __name__ == "__main__":
    main()

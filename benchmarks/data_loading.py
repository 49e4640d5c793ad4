"""Data: decoded clips/s of the real training loader, and how much of a step waits for data.

The loader is ``ReIDDataModule.train_dataloader()`` as training builds it (JPEG decode with
PIL, restricted random sampling, the v2 transforms, the P x K batch sampler), configured from
the composed Hydra config, on a small synthetic benchmark generated once (cached by config
hash) with frames at the shape's input size. Every frame is decoded when sampled
(``data.cache_frames=false``, as for MARS), so clips/s per worker is what sizes the workers of
a real benchmark; ``benchmarks/loop.py`` also times the loader with the frames in memory.

* clips/s with 0, 1, 2, ... workers: the loader alone, a fresh pass for every call; with 0
  workers also on one torch thread (workers are single-threaded, the main process is not).
* wait share, with the fewest and the most workers: a training loop ``next(batch) -> step``
  against the same steps on a batch already in memory; the share of the loop spent in
  ``next`` is the time the device would sit idle waiting for data.

Usage: ``python -m benchmarks.data_loading [--device cuda] [--shapes cpu] [--workers 0,1,2]``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import hydra
import torch
from torch.utils.data import DataLoader

from benchmarks import REPO_ROOT
from benchmarks.cli import base_parser, command_line, parse_batch, parse_list
from benchmarks.device import machine, resolve_device
from benchmarks.report import Report, Table, fmt
from benchmarks.shapes import SHAPES, Setup, setup
from benchmarks.timing import Samples, interleaved, one_thread, paired_ratio
from benchmarks.train_step import Built, Variant, build, train_step

DEFAULT_ROOT = REPO_ROOT / "data" / "benchmarks"
ONE_THREAD = "loader, 0 workers, 1 torch thread"

REPO_ROOT = Path(__file__).resolve().parents[1]


def dataset_options(s: Setup, root: Path, batches: int) -> dict[str, object]:
    """A synthetic benchmark with ``batches`` P x K batches per epoch, frames at H x W.

    Tracklets of T to 3T frames: a clip decodes T frames whatever the tracklet length, so
    longer tracklets would only cost generation time.
    """
    return {
        "name": "synthetic",
        "root": str(root),
        "preset": "default",
        "workers": 1,  # generation: in-process (a process pool costs more than a small set)
        "num_train_ids": s.identities * batches,
        "num_test_ids": 2,
        "num_distractors": 0,
        "min_frames": max(4, s.seq_len),
        "max_frames": 3 * max(4, s.seq_len),
        "height": s.height,
        "width": s.width,
    }


def train_loader(
    s: Setup, root: Path, batches: int, workers: int, cache_frames: bool
) -> DataLoader:
    """``ReIDDataModule.train_dataloader()`` of the shape's data config, P x K and workers,
    its frames decoded when sampled or, with ``cache_frames``, once, in memory."""
    # Every data setting from the config except the dataset, which is replaced (not merged:
    # instantiate's keyword overrides merge into the config's dataset node).
    options = {key: s.cfg.data[key] for key in s.cfg.data if key != "dataset"}
    datamodule = hydra.utils.instantiate(
        {
            **options,
            "dataset": dataset_options(s, root, batches),
            "num_identities": s.identities,
            "num_instances": s.instances,
            "num_workers": workers,
            "cache_frames": cache_frames,
        }
    )
    datamodule.setup("fit")
    return datamodule.train_dataloader()


def fetch(loader: DataLoader, batches: int) -> None:
    """A fresh pass over the loader, stopped after ``batches`` batches."""
    iterator = iter(loader)
    for _ in range(batches):
        next(iterator)


def loop_with_step(
    loader: DataLoader, built: Built, batches: int, waits: list[float]
) -> Callable[[], None]:
    """A training loop over a fresh pass; appends the seconds spent in ``next`` to ``waits``."""
    device = built.batch["clips"].device

    def run() -> None:
        waited = 0.0
        iterator = iter(loader)
        for _ in range(batches):
            start = time.perf_counter()
            batch = next(iterator)
            waited += time.perf_counter() - start
            on_device = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            train_step(dataclasses.replace(built, batch=on_device))
        waits.append(waited)

    return run


def steps_alone(built: Built, batches: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(batches):
            train_step(built)

    return run


def precision_of(s: Setup) -> str:
    """The step precision training uses with this config (``trainer.precision``)."""
    return "bf16" if str(s.cfg.trainer.precision).startswith("bf16") else "fp32"


def measure_shape(shape: str, args: argparse.Namespace) -> tuple[list[Table], dict[str, float]]:
    s = setup(shape, args.device, args.batch)
    loaders = {w: train_loader(s, args.data_root, args.batches, w, False) for w in args.workers}
    calls: dict[str, Callable[[], None]] = {
        f"loader, {w} workers": lambda loader=loader: fetch(loader, args.batches)
        for w, loader in loaders.items()
    }
    if 0 in loaders:
        # Workers run single-threaded; the main process uses torch's intra-op threads.
        calls[ONE_THREAD] = one_thread(lambda: fetch(loaders[0], args.batches))
    # The loop with the model step is long: only the fewest and the most workers.
    loop_workers = sorted({args.workers[0], args.workers[-1]})
    waits: dict[int, list[float]] = {w: [] for w in loop_workers}
    step_variant = Variant("stgcn", precision_of(s))
    if args.step:
        built = build(shape, step_variant, args.device, args.batch)
        sample = next(iter(loaders[args.workers[0]]))
        built.batch = {k: v.to(args.device) for k, v in sample.items()}
        calls["steps alone"] = steps_alone(built, args.batches)
        for w in loop_workers:
            calls[f"loop, {w} workers"] = loop_with_step(loaders[w], built, args.batches, waits[w])
    samples = interleaved(calls, args.device, args.repeats, args.warmup)
    clips_table, figures = _clips_table(s, samples, args)
    tables = [clips_table]
    if args.step:
        step_table, step_figures = _wait_table(s, samples, waits, step_variant, args)
        tables.append(step_table)
        figures.update(step_figures)
    return tables, {f"{shape}.{k}": v for k, v in figures.items()}


def _clips_table(
    s: Setup, samples: dict[str, Samples], args: argparse.Namespace
) -> tuple[Table, dict[str, float]]:
    table = Table(
        f"Training loader alone, {s.describe()}; frames {s.height}x{s.width} JPEG",
        ["workers", "clips/s", "frames/s", "first pass s (worker start)"],
    )
    figures: dict[str, float] = {}
    clips = s.clips * args.batches
    rows = {f"loader, {w} workers": (str(w), f"loader.{w}_workers") for w in args.workers}
    if ONE_THREAD in samples:
        rows[ONE_THREAD] = ("0, main process on 1 torch thread", "loader.0_workers_1_thread")
    for name, (label, key) in rows.items():
        rec = samples[name]
        clips_per_s = clips / rec.median
        figures[f"{key}.clips_per_s"] = clips_per_s
        table.rows.append(
            [
                label,
                fmt(clips_per_s, 1),
                fmt(clips_per_s * s.seq_len, 0),
                fmt(rec.warmup[0] if rec.warmup else None),
            ]
        )
    return table, figures


def _wait_table(
    s: Setup,
    samples: dict[str, Samples],
    waits: dict[int, list[float]],
    variant: Variant,
    args: argparse.Namespace,
) -> tuple[Table, dict[str, float]]:
    alone = samples["steps alone"]
    table = Table(
        f"Training loop = loader + {variant.name} step, {args.batches} batches per pass",
        ["workers", "s per batch", "waiting for data", "loop / steps alone"],
        [["(steps alone)", fmt(alone.median / args.batches), "-", "1"]],
    )
    figures: dict[str, float] = {"step_alone_s": alone.median / args.batches}
    for w, timed in waits.items():
        loop = samples[f"loop, {w} workers"]
        timed_waits = timed[-len(loop.times) :]  # the warm-up passes appended theirs first
        share = sum(timed_waits) / sum(loop.times)
        slowdown = paired_ratio(samples, f"loop, {w} workers", "steps alone")
        figures[f"loop.{w}_workers.slowdown"] = slowdown
        figures[f"loop.{w}_workers.wait_share"] = share
        table.rows.append([str(w), fmt(loop.median / args.batches), f"{share:.1%}", fmt(slowdown)])
    return table, figures


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = base_parser(__doc__.split("\n")[0], repeats=3)
    parser.add_argument("--shapes", default="cpu", help=f"comma list of {list(SHAPES)}")
    parser.add_argument("--batch", default=None, help="PxK clips per batch (all shapes)")
    parser.add_argument("--workers", default="0,1,2", help="comma list of worker counts")
    parser.add_argument("--batches", type=int, default=None, help="batches per pass")
    parser.add_argument(
        "--step",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the loop with the model step (the wait share)",
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_ROOT,
        help="cache folder of the generated synthetic benchmark",
    )
    args = parser.parse_args(argv)
    args.device = resolve_device(args.device)
    args.shapes = parse_list(args.shapes, SHAPES, "--shapes")
    args.batch = parse_batch(args.batch)
    try:
        args.workers = sorted({int(w) for w in args.workers.split(",")})
    except ValueError as err:
        raise SystemExit(f"--workers: expected a comma list of integers ({err})") from err
    if args.workers[0] < 0:
        raise SystemExit(f"--workers: counts must be >= 0, got {args.workers}")
    if args.batches is None:
        args.batches = 2 if args.quick else 3
    if args.batches < 1:
        raise SystemExit(f"--batches must be >= 1, got {args.batches}")
    return args


def main(argv: Sequence[str] | None = None) -> Report:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    report = Report(
        "Data loading", command_line("benchmarks.data_loading", argv), machine(args.device)
    )
    for shape in args.shapes:
        tables, figures = measure_shape(shape, args)
        report.tables += tables
        report.figures.update(figures)
    report.notes += [
        "Each call is a fresh pass over the loader (persistent workers are reused, their "
        "prefetched batches are not), so a pass starts with empty queues as an epoch does.",
        "waiting for data: time in next(loader) over the loop's time; loop / steps alone: the "
        "loop's time over the same steps on a batch in memory (median of adjacent runs). On a "
        "machine without spare cores, workers and the step compete for the same cores.",
        f"torch threads per process: {torch.get_num_threads()}.",
    ]
    report.print()
    return report


if __name__ == "__main__":
    main()

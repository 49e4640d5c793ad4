"""Evaluation speed: ``evaluate_rank`` at MARS scale, the sorts behind it, feature extraction.

* Ranking: the real MARS query/gallery labels and cameras (official kit files, ``--mars-info``)
  with random float32 distances, ``evaluate_rank`` against a plain per-query NumPy loop written
  like torchreid's Python fallback ``eval_market1501`` (argsort, then per query: drop same
  identity + camera, CMC from the matches, AP from a list-comprehension precision sum). The
  loop runs on every ``--loop-every``-th query and its time is scaled to all queries (it is
  linear in them). Galleries: torchreid's 9,330 (test minus query minus junk) and the official
  11,310 (test minus junk; queries included), the latter with ``protocol="mars_official"``.
* Sorts: ``stable_argsort`` (what evaluate_rank uses) against the alternatives.
* Feature extraction: test-time forward (no grad) clips/s of the model.

Usage: ``python -m benchmarks.evaluation [--device cuda] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import scipy.io
import torch

from benchmarks import REPO_ROOT
from benchmarks.cli import base_parser, command_line, parse_list
from benchmarks.device import PRECISIONS, autocast, machine, resolve_device
from benchmarks.report import Report, Table, fmt
from benchmarks.shapes import SHAPES, setup
from benchmarks.timing import interleaved, one_thread, paired_ratio
from stgcn_reid.evaluation import rank
from stgcn_reid.evaluation.rank import evaluate_rank, stable_argsort
from stgcn_reid.train import build_module

DEFAULT_MARS_INFO = (
    Path(os.environ.get("STGCN_SHARED", REPO_ROOT.parent / "shared")) / "data" / "mars-info"
)
JUNK = -1
RANK = "evaluate_rank"
LOOP = "per-query loop"
PREVIOUS = "evaluate_rank, previous torch.sort"
RANK_1T = "evaluate_rank, 1 thread"
PREVIOUS_1T = "evaluate_rank, previous torch.sort, 1 thread"
ON_DEVICE = "evaluate_rank, distances on the device"
KEYS = {
    RANK: "evaluate_rank",
    LOOP: "loop",
    PREVIOUS: "previous_sort",
    RANK_1T: "evaluate_rank_1_thread",
    PREVIOUS_1T: "previous_sort_1_thread",
    ON_DEVICE: "on_device",
}

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Split:
    """Query and gallery labels of one MARS evaluation split."""

    name: str
    protocol: str
    q_pids: np.ndarray
    q_cams: np.ndarray
    g_pids: np.ndarray
    g_cams: np.ndarray


def mars_splits(info_dir: Path) -> list[Split]:
    """torchreid's split (gallery 9,330) and the official one (11,310) from the kit files."""
    tracks_file, query_file = info_dir / "tracks_test_info.mat", info_dir / "query_IDX.mat"
    for path in (tracks_file, query_file):
        if not path.is_file():
            raise SystemExit(
                f"{path} not found: --mars-info must be the folder of the official MARS kit "
                "files tracks_test_info.mat and query_IDX.mat"
            )
    tracks = scipy.io.loadmat(tracks_file)["track_test_info"]  # columns: start, end, pid, cam
    query = scipy.io.loadmat(query_file)["query_IDX"].ravel() - 1  # 1-based rows
    pids, cams = tracks[:, 2].astype(np.int64), tracks[:, 3].astype(np.int64)
    is_query = np.zeros(len(pids), dtype=bool)
    is_query[query] = True
    galleries = {
        "standard": ("gallery 9,330: test - query - junk", ~is_query & (pids != JUNK)),
        "mars_official": ("gallery 11,310: test - junk (official)", pids != JUNK),
    }
    return [
        Split(name, protocol, pids[query], cams[query], pids[keep], cams[keep])
        for protocol, (name, keep) in galleries.items()
    ]


def per_query_loop(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_cams: np.ndarray,
    g_cams: np.ndarray,
    max_rank: int = 50,
) -> tuple[np.ndarray, float]:
    """CMC and mAP one query at a time: the reference speed evaluate_rank is compared with.

    The algorithm of torchreid's Python fallback (written here from its description, kept
    deliberately plain): a full argsort, then for every query the same identity under the same
    camera is dropped, CMC comes from the first match, and AP from a Python-level precision sum.
    """
    order = np.argsort(distmat, axis=1)
    matches = g_pids[order] == q_pids[:, None]
    cmcs, aps = [], []
    for i in range(len(q_pids)):
        ranked = order[i]
        keep = ~((g_pids[ranked] == q_pids[i]) & (g_cams[ranked] == q_cams[i]))
        hits = matches[i][keep].astype(np.int32)
        if not hits.any():
            continue
        cmc = np.minimum(hits.cumsum(), 1)
        cmcs.append(cmc[:max_rank])
        found = hits.cumsum()
        precision = np.asarray([count / (k + 1.0) for k, count in enumerate(found)]) * hits
        aps.append(precision.sum() / hits.sum())
    return np.mean(cmcs, axis=0), float(np.mean(aps))


def previous_sort(dist: torch.Tensor) -> torch.Tensor:
    """The CPU sort evaluate_rank used before: ``torch.sort`` of the packed int64 keys."""
    if dist.dtype == torch.float64:
        return torch.sort(dist, dim=1, stable=True).indices
    return torch.sort(rank._packed_keys(dist), dim=1).indices


def _quiet(fn: Callable[[], object]) -> Callable[[], object]:
    """Run without the 'queries without a match' warning (expected on the 9,330 gallery)."""

    def run() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return fn()

    return run


def ranking_calls(
    split: Split, dist: np.ndarray, every: int, device: torch.device
) -> dict[str, Callable[[], object]]:
    """The variants timed on one split, by name (see :data:`KEYS`)."""
    labels = (split.q_pids, split.g_pids, split.q_cams, split.g_cams)
    sub = slice(None, None, every)
    calls = {
        RANK: _quiet(lambda: evaluate_rank(dist, *labels, protocol=split.protocol)),
        LOOP: lambda: per_query_loop(
            dist[sub], split.q_pids[sub], split.g_pids, split.q_cams[sub], split.g_cams
        ),
    }
    calls[RANK_1T] = one_thread(calls[RANK])
    if split.protocol == "standard":

        def before() -> object:
            with mock.patch.object(rank, "stable_argsort", previous_sort):
                return evaluate_rank(dist, *labels, protocol=split.protocol)

        calls[PREVIOUS] = _quiet(before)
        calls[PREVIOUS_1T] = one_thread(calls[PREVIOUS])
    if device.type == "cuda":
        # Validation ranks where the features are: the distances on the GPU. The result comes
        # back as numpy arrays, so the call ends synchronised.
        on_device = torch.from_numpy(dist).to(device)
        calls[ON_DEVICE] = _quiet(
            lambda: evaluate_rank(on_device, *labels, protocol=split.protocol)
        )
    return calls


def check_agreement(split: Split, dist: np.ndarray) -> float:
    """|mAP(evaluate_rank) - mAP(loop)| on the first 200 queries (must be ~1e-16)."""
    q = slice(0, 200)
    result = _quiet(
        lambda: evaluate_rank(dist[q], split.q_pids[q], split.g_pids, split.q_cams[q], split.g_cams)
    )()
    _, loop_map = per_query_loop(
        dist[q], split.q_pids[q], split.g_pids, split.q_cams[q], split.g_cams
    )
    return abs(result["mAP"] - loop_map)


def ranking_table(
    splits: Sequence[Split], args: argparse.Namespace
) -> tuple[Table, dict[str, float]]:
    table = Table(
        f"evaluate_rank at MARS scale ({len(splits[0].q_pids):,} queries, random float32 "
        "distances)",
        ["gallery", "variant", "wall s", "CPU s", "loop / variant (wall)", "mAP vs loop"],
    )
    figures: dict[str, float] = {}
    rng = np.random.default_rng(0)
    for split in splits:
        dist = rng.random((len(split.q_pids), len(split.g_pids)), dtype=np.float32)
        # No warm-up calls: nothing is initialised lazily, and the loop is long.
        samples = interleaved(
            ranking_calls(split, dist, args.loop_every, args.device),
            torch.device("cpu"),
            args.repeats,
            0,
        )
        # The loop ran on every n-th query; it is linear in the queries.
        scale = len(split.q_pids) / len(split.q_pids[:: args.loop_every])
        loop = samples[LOOP]
        agreement = f"|diff| {check_agreement(split, dist):.0e}"
        table.rows.append(
            [
                split.name,
                f"{LOOP} (1/{args.loop_every} of the queries, scaled)",
                fmt(loop.median * scale),
                fmt(loop.cpu_median * scale),
                "1",
                "",
            ]
        )
        figures[f"{split.protocol}.loop.seconds"] = loop.median * scale
        for name, rec in samples.items():
            if name == LOOP:
                continue
            key = f"{split.protocol}.{KEYS[name]}"
            speed_up = paired_ratio(samples, LOOP, name) * scale
            row = [fmt(rec.median), fmt(rec.cpu_median), fmt(speed_up, 1), agreement]
            table.rows.append([split.name, name, *row])
            figures[f"{key}.seconds"] = rec.median
            figures[f"{key}.cpu_seconds"] = rec.cpu_median
            figures[f"{key}.speedup_vs_loop"] = speed_up
        # On one thread both are single-core CPU work: a ratio the load does not move.
        figures[f"{split.protocol}.cpu_speedup_vs_loop"] = (
            loop.cpu_median * scale / samples[RANK_1T].cpu_median
        )
    return table, figures


def sort_table(split: Split, args: argparse.Namespace) -> tuple[Table, dict[str, float]]:
    """The row sorts on the 9,330 gallery matrix, all giving the stable order."""
    dist = torch.from_numpy(
        np.random.default_rng(1).random((len(split.q_pids), len(split.g_pids)), dtype=np.float32)
    )
    calls = {
        "stable_argsort (numpy sort of packed keys)": lambda: stable_argsort(dist),
        "torch.sort of packed keys (previous)": lambda: previous_sort(dist),
        "torch.sort(stable=True)": lambda: torch.sort(dist, dim=1, stable=True),
        "numpy argsort(kind='stable')": lambda: np.argsort(dist.numpy(), axis=1, kind="stable"),
    }
    samples = interleaved(calls, torch.device("cpu"), args.repeats, args.warmup)
    first = next(iter(calls))
    table = Table(
        f"Stable row sort of the {dist.shape[0]:,} x {dist.shape[1]:,} matrix (CPU)",
        ["sort", "seconds (median)", "time / stable_argsort"],
    )
    for name, rec in samples.items():
        table.rows.append([name, fmt(rec.median, 3), fmt(paired_ratio(samples, name, first))])
    return table, {"sort.stable_argsort.seconds": samples[first].median}


def _forward(module: torch.nn.Module, clips: torch.Tensor, precision: str) -> Callable[[], None]:
    def run() -> None:
        with torch.inference_mode(), autocast(clips.device, precision):
            module(clips)

    return run


def extraction_table(args: argparse.Namespace) -> tuple[Table, dict[str, float]]:
    """Test-time forward clips/s: eval mode, no autograd, a test batch of random clips."""
    table = Table(
        "Feature extraction (model forward, no grad)",
        ["shape", "precision", "batch (clips)", "clips/s", "images/s"],
    )
    figures: dict[str, float] = {}
    for shape in args.extract_shapes:
        s = setup(shape, args.device)
        module = build_module(s.cfg, s.shape.num_classes).to(args.device).eval()
        batch = args.extract_batch or int(s.cfg.data.test_batch_size)
        clips = torch.randn(batch, s.seq_len, 3, s.height, s.width, device=args.device)

        samples = interleaved(
            {p: _forward(module, clips, p) for p in args.precisions},
            args.device,
            args.repeats,
            args.warmup,
        )
        for precision, rec in samples.items():
            clips_per_s = batch / rec.median
            figures[f"extract.{shape}.{precision}.clips_per_s"] = clips_per_s
            table.rows.append(
                [
                    s.label,
                    precision,
                    str(batch),
                    fmt(clips_per_s, 1),
                    fmt(clips_per_s * s.seq_len, 0),
                ]
            )
    return table, figures


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = base_parser(__doc__.split("\n")[0], repeats=3)
    parser.add_argument("--mars-info", type=Path, default=DEFAULT_MARS_INFO)
    parser.add_argument(
        "--loop-every",
        type=int,
        default=None,
        help="time the per-query loop on every n-th query and scale (default 4; 16 with --quick)",
    )
    parser.add_argument(
        "--max-queries",
        type=int,
        default=None,
        help="rank only the first n MARS queries (smoke tests); default all 1,980",
    )
    parser.add_argument("--extract-shapes", default=None, help=f"comma list of {list(SHAPES)}")
    parser.add_argument("--extract-batch", type=int, default=None, help="default: test batch")
    parser.add_argument("--precisions", default="fp32,bf16", help="feature extraction")
    args = parser.parse_args(argv)
    args.device = resolve_device(args.device)
    if args.loop_every is None:
        args.loop_every = 16 if args.quick else 4
    if args.loop_every < 1:
        raise SystemExit(f"--loop-every must be >= 1, got {args.loop_every}")
    default_shapes = "paper,cpu" if args.device.type == "cuda" else "cpu"
    args.extract_shapes = parse_list(args.extract_shapes or default_shapes, SHAPES, "--extract")
    args.precisions = parse_list(args.precisions, PRECISIONS, "--precisions")
    return args


def main(argv: Sequence[str] | None = None) -> Report:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    report = Report("Evaluation", command_line("benchmarks.evaluation", argv), machine(args.device))
    splits = mars_splits(args.mars_info)
    if args.max_queries is not None:
        q = slice(0, args.max_queries)
        splits = [
            Split(s.name, s.protocol, s.q_pids[q], s.q_cams[q], s.g_pids, s.g_cams) for s in splits
        ]
    for table, figures in (
        ranking_table(splits, args),
        sort_table(splits[0], args),
        extraction_table(args),
    ):
        report.tables.append(table)
        report.figures.update(figures)
    report.notes += [
        "Ranking runs on the CPU (evaluate_rank runs on the device of the distance matrix; "
        "training evaluates where the features are).",
        "CPU s: this process's CPU time (all threads). On 1 thread it is the cost on one idle "
        "core whatever the load; with 2 threads waiting threads spin and inflate it.",
        "loop / variant: the per-query loop's time (scaled to all queries) over the variant's, "
        "median of adjacent runs. mAP vs loop: |difference| on the first 200 queries; up to "
        "~1e-8 from ties (random float32 distances tie a few times per row, and the loop's "
        "argsort, like torchreid's, is not stable).",
        "evaluate_rank, previous torch.sort: the same code with the row sort it used before the "
        "numpy sort of packed keys (results identical).",
    ]
    report.print()
    return report


if __name__ == "__main__":
    main()

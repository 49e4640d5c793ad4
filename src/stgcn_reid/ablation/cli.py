"""``python -m stgcn_reid.ablation``: run the study (or only rebuild its report)."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stgcn_reid.ablation.branches import collect_branch_scores
from stgcn_reid.ablation.occlusion import collect_occlusion_scores
from stgcn_reid.ablation.pictures import draw_pictures
from stgcn_reid.ablation.report import render_report, write_report
from stgcn_reid.ablation.results import collect_results
from stgcn_reid.ablation.runner import (
    execute,
    plan_runs,
    report_runs,
    study_dir,
    subprocess_launcher,
)
from stgcn_reid.ablation.study import BUDGETS, STUDIES, SWEEP_KEYS, VARIANT_KEYS
from stgcn_reid.utils.config import CONFIG_DIR
from stgcn_reid.utils.io import write_json
from stgcn_reid.utils.machine import machine_description

log = logging.getLogger("stgcn_reid.ablation")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stgcn_reid.ablation",
        description="Train and test the ablations of the STGCN paper (Tables 3-4, Figures "
        "5-8) on a synthetic benchmark and write a markdown report. Finished runs are skipped.",
    )
    parser.add_argument(
        "--budget", choices=sorted(BUDGETS), default="quick", help="training length (default quick)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--study",
        choices=STUDIES,
        default="all",
        help="Tables 3-4 (variants), Figures 7-8 (sweeps, first seed only) or both",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANT_KEYS,
        default=list(VARIANT_KEYS),
        metavar="VARIANT",
        help=f"Table 3-4 variants to run (default: all of {', '.join(VARIANT_KEYS)})",
    )
    parser.add_argument(
        "--sweeps",
        nargs="+",
        choices=SWEEP_KEYS,
        default=list(SWEEP_KEYS),
        metavar="SWEEP",
        help=f"Figure 7-8 panels to run (default: all of {', '.join(SWEEP_KEYS)})",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs side by side, each with cores / jobs threads (default 1; 2 gives about 1.2x "
        "the throughput of 1 on a 2-core CPU)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("docs/results.md"),
        help="the report; a hand-written OUT-findings.md beside it (docs/results-findings.md) "
        "is included near its top",
    )
    parser.add_argument("--log-dir", type=Path, default=Path("logs/ablation"))
    parser.add_argument(
        "--dataset", default="synthetic_hard", help="a conf/dataset option (default synthetic_hard)"
    )
    parser.add_argument("--data-dir", type=Path, help="paths.data_dir of the runs")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: rebuild the report and its pictures from the run directories",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="training overrides added to every run after the budget's, e.g. "
        "backbone.weights_path=<pretrained.pt>; the runs go to a folder of their own",
    )
    args = parser.parse_args(argv)
    malformed = [o for o in args.overrides if "=" not in o]
    if malformed:
        parser.error(f"overrides must be KEY=VALUE, got {malformed}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if not (CONFIG_DIR / "dataset" / f"{args.dataset}.yaml").is_file():
        options = sorted(p.stem for p in (CONFIG_DIR / "dataset").glob("*.yaml"))
        parser.error(f"--dataset {args.dataset}: not a conf/dataset option; valid: {options}")
    return args


def findings_path(out: Path) -> Path:
    """The hand-written findings the report includes: ``results-findings.md`` beside
    ``results.md``."""
    return out.with_name(f"{out.stem}-findings.md")


def _read_sessions(path: Path) -> list[dict[str, Any]]:
    try:
        return list(json.loads(path.read_text())["sessions"])
    except (OSError, ValueError, KeyError):
        return []


def main(argv: Sequence[str] | None = None) -> int:
    """Run what is missing, then write the report and pictures; 1 if a run failed."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    runs = plan_runs(
        args.study,
        args.budget,
        args.seeds,
        args.log_dir,
        args.dataset,
        args.variants,
        args.data_dir,
        sweeps=args.sweeps,
        extra=args.overrides,
    )
    # Every invocation that ran something is kept: command, machine, start and wall time.
    sessions_file = study_dir(args.log_dir, args.budget, args.dataset, args.overrides)
    sessions_file = sessions_file / "study.json"
    failures: list[str] = []
    if not args.report_only:
        started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        start = time.perf_counter()
        threads = max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else 0
        failures = execute(
            runs,
            functools.partial(subprocess_launcher, threads=threads),
            eval_overrides=BUDGETS[args.budget].eval,
            jobs=args.jobs,
        )
        given = list(argv) if argv is not None else sys.argv[1:]
        session = {
            "command": shlex.join(["python", "-m", "stgcn_reid.ablation", *given]),
            "machine": machine_description(),
            "started": started,
            "wall_s": time.perf_counter() - start,
        }
        # Read just before writing: an invocation that ran meanwhile (another --study, say)
        # has added its own session, which must not be lost.
        write_json(sessions_file, {"sessions": [*_read_sessions(sessions_file), session]})
    sessions = _read_sessions(sessions_file)
    reported = report_runs(
        runs, args.log_dir, args.budget, args.dataset, args.data_dir, args.overrides
    )
    results = collect_results(reported)
    try:
        pictures = draw_pictures(reported, results.scores, args.out.parent / "img" / "ablation")
    except (OSError, ValueError, RuntimeError) as err:
        # The tables are worth writing without the pictures; --report-only retries them.
        log.error("pictures failed, the report goes without them: %s", err)
        failures.append(f"pictures: {err}")
        pictures = {}
    text = render_report(
        reported,
        results,
        pictures,
        sessions,
        args.budget,
        args.dataset,
        args.out,
        branches=collect_branch_scores(reported),
        occlusion=collect_occlusion_scores(reported),
        findings=findings_path(args.out),
    )
    write_report(text, args.out)
    log.info("wrote %s", args.out)
    for failure in failures:
        log.error("failed: %s", failure)
    return 1 if failures else 0

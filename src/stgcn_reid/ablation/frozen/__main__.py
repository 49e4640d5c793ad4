"""``python -m stgcn_reid.ablation.frozen``: run the frozen-feature study (resumable) and write
its report."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

from stgcn_reid.ablation.frozen.heads import HeadRecipe
from stgcn_reid.ablation.frozen.probe import read_probes, run_probes
from stgcn_reid.ablation.frozen.report import num_queries, read_records, render
from stgcn_reid.ablation.frozen.study import (
    TRAINABLE,
    StudySetup,
    occluded_queries,
    pretrained_weights,
    run_study,
    variants_by_key,
)
from stgcn_reid.ablation.report import write_report
from stgcn_reid.ablation.study import DIAGNOSTICS, VARIANT_KEYS
from stgcn_reid.callbacks.backbone_export import pretraining_record
from stgcn_reid.errors import StudyRecordsError
from stgcn_reid.utils.machine import machine_description

log = logging.getLogger("stgcn_reid.ablation.frozen")

#: Each --train's study name: its default records, report and findings files.
STUDY_NAMES: dict[str, str] = {"heads": "frozen", "layer4": "layer4"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stgcn_reid.ablation.frozen",
        description="Train every Table 3-4 variant's heads on cached features of a frozen, "
        "pretrained backbone (--train layer4: with the backbone's last stage), over many "
        "seeds, and write the paired comparisons. Rerunning resumes: finished runs are read "
        "from --records, and a killed run goes on from its last saved epoch.",
    )
    parser.add_argument(
        "--train",
        choices=list(TRAINABLE),
        default="heads",
        help="what trains: the branch heads on the frozen backbone (the frozen-feature study), "
        "or layer4 with them, on cached layer3 maps (the last-stage study)",
    )
    parser.add_argument("--weights", help="backbone weights (default: experiment=pretrain's)")
    parser.add_argument("--dataset", default="synthetic_hard")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=[*VARIANT_KEYS, *(d.key for d in DIAGNOSTICS)],
        default=list(VARIANT_KEYS),
        metavar="VARIANT",
        help="Table 3-4 variants (default: all), or diagnostics: "
        + ", ".join(d.key for d in DIAGNOSTICS),
    )
    parser.add_argument("--epochs", type=int, default=HeadRecipe.epochs)
    parser.add_argument(
        "--lr-step",
        type=int,
        default=HeadRecipe.lr_step,
        help="epochs between the learning-rate steps (÷10 each)",
    )
    parser.add_argument("--val-every", type=int, default=HeadRecipe.val_every, metavar="EPOCHS")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (1 thread each)")
    parser.add_argument("--records", type=Path, help="run records (default: docs/results/<study>)")
    parser.add_argument("--out", type=Path, help="the report (default: docs/results-<study>.md)")
    parser.add_argument(
        "--findings",
        type=Path,
        help="hand-written findings put at the top of the report, if the file exists "
        "(default: docs/results-<study>-findings.md)",
    )
    parser.add_argument(
        "--probe",
        type=int,
        nargs="*",
        default=[],
        metavar="SEED",
        help="also run the graph probe (what Â learns, on validation clips) for these seeds",
    )
    parser.add_argument(
        "--probe-records", type=Path, help="where the probe's records go (default: RECORDS-probe)"
    )
    parser.add_argument(
        "--probe-only",
        action="store_true",
        help="run only the probe (a diagnostic: no study run, no report, the test split unread)",
    )
    parser.add_argument("--report-only", action="store_true", help="only rebuild the report")
    parser.add_argument(
        "overrides", nargs="*", help="extra training-config overrides (key=value), e.g. paths"
    )
    args = parser.parse_args(argv)
    study = STUDY_NAMES[args.train]
    args.records = args.records or Path(f"docs/results/{study}")
    args.out = args.out or Path(f"docs/results-{study}.md")
    args.findings = args.findings or Path(f"docs/results-{study}-findings.md")
    if args.train != "heads" and (args.probe or args.probe_only):
        parser.error("the graph probe reads heads on frozen features: it needs --train heads")
    if args.probe_records is None:  # beside the study's records: each study its own probes
        args.probe_records = args.records.with_name(f"{args.records.name}-probe")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    args = parse_args(argv)
    weights = Path(args.weights) if args.weights else pretrained_weights(args.overrides)
    if not weights.is_file():
        log.error(
            "no backbone weights at %s: make them with `python -m stgcn_reid.train "
            "experiment=pretrain` (make pretrain), or pass --weights",
            weights,
        )
        return 2
    recipe = replace(
        HeadRecipe(),
        epochs=args.epochs,
        lr_step=min(args.lr_step, args.epochs),
        val_every=args.val_every,
    )
    setup = StudySetup(
        dataset=args.dataset,
        weights=str(weights),
        recipe=recipe,
        overrides=tuple(args.overrides),
        trainable=args.train,
    )
    started, clock = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    failed: list[str] = []
    if args.probe_only:
        written = run_probes(setup, args.probe, args.probe_records, args.jobs)
        log.info("wrote %d probe records in %s", len(written), args.probe_records)
        return 0
    if not args.report_only:
        try:
            _, failed = run_study(
                setup, variants_by_key(args.variants), args.seeds, args.records, args.jobs
            )
        except StudyRecordsError as err:
            log.error("%s", err)
            return 2
        run_probes(setup, args.probe, args.probe_records, args.jobs)
    records = read_records(args.records)
    if not records:
        log.error("no run records in %s", args.records)
        return 2
    command = shlex.join(sys.argv[1:] if argv is None else argv)
    every = [r for runs in records.values() for r in runs.values()]
    invocation = (
        ["  - this page rebuilt from the records (`--report-only`)"]
        if args.report_only
        else [
            f"  - machine: {machine_description()}",
            f"  - started {started.isoformat(timespec='seconds')}, wall time "
            f"{(time.perf_counter() - clock) / 60:.1f} min (this invocation)",
        ]
    )
    how = [
        f"- `python -m stgcn_reid.ablation.frozen {command}`",
        *invocation,
        f"- sum of the run wall times: {sum(r['wall_s'] for r in every) / 60:.1f} min "
        f"over {len(every)} runs; run records: `{args.records}`",
        *[f"- runs made on: {m}" for m in sorted({r["machine"] for r in every if "machine" in r})],
        "- frozen features (weights, data and input size, by content hash): "
        + ", ".join(sorted({f"`{r['features']}`" for r in every})),
        "- rebuild this page from the records: the same command with `--report-only`; finish "
        "missing runs: the same command again",
    ]
    findings = args.findings.read_text().strip() if args.findings.is_file() else ""
    text = render(
        records,
        occluded_queries(setup, num_queries(records)),
        pretraining_record(weights),
        how,
        asdict(setup),
        findings,
        read_probes(args.probe_records),
    )
    log.info("wrote %s", write_report(text, args.out))
    for failure in failed:
        log.error("failed (rerun the command to retry): %s", failure)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

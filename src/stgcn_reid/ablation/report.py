"""The study's markdown report (docs/results.md): the hand-written findings, Tables 3-4 beside
the paper, the sweeps, each branch alone, occluded vs clean queries, the pictures, how and where
it was made, and every run with its wall time."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from stgcn_reid.ablation.branches import BranchScores
from stgcn_reid.ablation.occlusion import OcclusionScores
from stgcn_reid.ablation.results import Scores, StudyResults
from stgcn_reid.ablation.runner import Run
from stgcn_reid.ablation.statistics import (
    PairedDifference,
    format_difference,
    mean_std,
    paired_difference,
)
from stgcn_reid.ablation.study import (
    BUDGETS,
    ENSEMBLE_LABEL,
    ENSEMBLE_MEMBERS,
    PAPER_ENSEMBLE,
    SWEEPS,
    SYMBOLS,
    TABLE3_KEYS,
    VARIANTS,
    Variant,
    point_name,
    sweep_setting,
    sweep_values,
)
from stgcn_reid.utils.io import atomic_write
from stgcn_reid.utils.markdown import markdown_table

T = TypeVar("T")
DASH = "—"
#: The variant every row of Tables 3-4 is compared with.
BASELINE = "baseline"
VARIANT_COLUMNS: tuple[str, ...] = (
    "Method",
    "mAP",
    "rank-1",
    "rank-5",
    "Δ mAP vs baseline (95 % CI)",
    "Δ rank-1 vs baseline (95 % CI)",
    "verdict",
    "seeds",
    "wall / run",
    "paper MARS mAP",
    "paper MARS rank-1",
    "paper Duke mAP",
    "paper Duke rank-1",
)
#: Table 4's GCN variants, each beside its twin with fully connected layers in place of the
#: graph convolutions (the FCN side of the other branch, if any, is shared).
TWINS: tuple[tuple[str, str], ...] = (
    ("tgcn_global", "tfcn_global"),
    ("sgcn_global", "sfcn_global"),
    ("stgcn", "tfcn_sfcn_global"),
    ("tgcn_sfcn_global", "tfcn_sfcn_global"),
    ("tfcn_sgcn_global", "tfcn_sfcn_global"),
)
TWIN_COLUMNS: tuple[str, ...] = (
    "Comparison",
    "seeds",
    "Δ mAP (95 % CI)",
    "Δ rank-1 (95 % CI)",
    "verdict",
)
PAIRED_NOTE = (
    "Δ: the row's score minus the baseline's, in percentage points, paired by seed (the same "
    "seed gives the same data order and the same initialisation of the shared parts): the mean "
    "of the per-seed differences over the seeds both have, with a two-sided 95 % Student-t "
    "interval over those seeds (mean ± t(0.975, n − 1) · sd / √n). The verdict, from the mAP "
    'interval, says "better" or "worse" only when the interval excludes 0 ("too few '
    'seeds" under 2 common seeds); the same holds in Table 4 and its twin table.'
)
CAPTIONS: dict[str, str] = {
    "cmc": "CMC curves of Table 3's models (mean over seeds)",
    "validation": "Validation mAP during training of Table 3's trained models (mean over "
    "seeds; the validation split is small, so the curves are noisy): a curve still rising at "
    "the last epoch means the budget stopped it before it converged",
    "ranked_baseline": "Figure 6 (a): top-5 of the baseline for evenly spread queries "
    "(green: same identity, red: another)",
    "ranked_stgcn": "Figure 6 (b): top-5 of STGCN for the same queries",
    "gradcam": "Figure 5: class activation maps (HiResCAM, the Grad-CAM variant that works "
    "through STGCN's normalised graph branches; identical to Grad-CAM for the baseline) of "
    "the baseline and of STGCN on a partly occluded test clip (occluded frames captioned in red)",
    "adjacency": "The temporal graph Â of STGCN on that clip: row i says how much node i "
    "(frame, patch) draws from each node; occluded frames framed in red",
}


def percent(values: Sequence[float]) -> str:
    """``mean ± sample std`` in percent; one value alone; a dash for none."""
    if not values:
        return DASH
    mean, std = mean_std(values)
    if len(values) == 1:
        return f"{100 * mean:.2f}"
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def duration(seconds: float) -> str:
    """Seconds as ``42 s``, ``12.5 min`` or ``3.20 h``; a dash for zero (not recorded)."""
    if seconds <= 0:
        return DASH
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def by_seed(results: StudyResults, key: str, score: str) -> dict[int, float]:
    """``{seed: score}`` of one variant (or ``"ensemble"``); ``score`` names a field of
    :class:`~stgcn_reid.ablation.results.Scores`."""
    return {seed: getattr(s, score) for (k, seed), s in results.scores.items() if k == key}


def paired_cells(key: str, reference: str, results: StudyResults) -> list[str]:
    """Δ mAP and Δ rank-1 of ``key`` minus ``reference`` (paired by seed, 95 % interval, in
    percentage points) and the verdict of the mAP interval; dashes where either has no
    results."""
    if not by_seed(results, key, "mean_ap") or not by_seed(results, reference, "mean_ap"):
        return [DASH] * 3
    mean_ap, rank1 = (
        paired_difference(by_seed(results, key, score), by_seed(results, reference, score))
        for score in ("mean_ap", "rank1")
    )
    return [format_difference(mean_ap), format_difference(rank1), mean_ap.verdict]


def variant_rows(keys: Sequence[str], results: StudyResults) -> list[list[str]]:
    """Table cells of the variants (or ``"ensemble"``) ``keys``: scores over seeds, the
    paired difference to the baseline (a dash on the baseline's row), paper numbers beside."""
    by_key = {v.key: (v.label, v.paper) for v in VARIANTS}
    by_key["ensemble"] = (ENSEMBLE_LABEL, PAPER_ENSEMBLE)
    rows = []
    for key in keys:
        label, paper = by_key[key]
        found = [s for (k, _), s in sorted(results.scores.items()) if k == key]
        walls = [w for (k, _), w in results.walls.items() if k == key and w > 0]
        rows.append(
            [
                label,
                percent([s.mean_ap for s in found]),
                percent([s.rank1 for s in found]),
                percent([s.rank5 for s in found]),
                *([DASH] * 3 if key == BASELINE else paired_cells(key, BASELINE, results)),
                str(len(found)),
                duration(float(np.mean(walls))) if walls else DASH,
                *(
                    f"{x:.2f}"
                    for x in (paper.mars_map, paper.mars_rank1, paper.duke_map, paper.duke_rank1)
                ),
            ]
        )
    return rows


def twin_rows(results: StudyResults) -> list[list[str]]:
    """Each GCN variant minus its FCN twin (:data:`TWINS`), paired by seed, where both have
    results."""
    labels = {v.key: v.label for v in VARIANTS}
    rows = []
    for gcn, fcn in TWINS:
        gcn_seeds, fcn_seeds = (set(by_seed(results, key, "mean_ap")) for key in (gcn, fcn))
        if gcn_seeds and fcn_seeds:
            rows.append(
                [
                    f"{labels[gcn]} vs {labels[fcn]}",
                    str(len(gcn_seeds & fcn_seeds)),
                    *paired_cells(gcn, fcn, results),
                ]
            )
    return rows


def query_error_note(results: StudyResults) -> list[str]:
    """One sentence: how much the choice of test queries alone moves a run's mAP."""
    errors = [e for e in results.query_errors.values() if np.isfinite(e)]
    if not errors:
        return []
    return [
        "The choice of test queries alone moves a run's mAP by ±"
        f"{100 * float(np.mean(errors)):.2f} points (standard error of the mean per-query AP, "
        f"mean over the {len(errors)} runs with saved features); the seed-to-seed spread above "
        "adds the training noise to it.",
        "",
    ]


def variant_section(runs: Sequence[Run], results: StudyResults) -> list[str]:
    """Tables 3 and 4 (only the variants of ``runs``), the GCN / FCN twins, and each variant's
    overrides."""
    present = {r.key for r in runs if r.group == "variants"}
    if all(k in present for k in ENSEMBLE_MEMBERS):
        present.add("ensemble")
    table3 = [k for k in TABLE3_KEYS if k in present]
    twins = twin_rows(results)
    twin_table = (
        [
            "### GCN vs its FCN twin (paired, 95 % CI)",
            "",
            "Δ: the GCN variant's score minus its FCN twin's, paired by seed as above.",
            "",
            *markdown_table(TWIN_COLUMNS, twins),
            "",
        ]
        if twins
        else []
    )
    return [
        "## Table 3: the two GCN modules",
        "",
        PAIRED_NOTE,
        "",
        "Ensemble: the SGCN+global and TGCN+global models of the same seed, the gallery ranked "
        "by the score sum of the two models' distances, each divided by its mean query–gallery "
        "distance (so that neither model's distance scale dominates).",
        "",
        *markdown_table(VARIANT_COLUMNS, variant_rows(table3, results)),
        "",
        *query_error_note(results),
        "## Table 4: graph convolution vs fully connected layers",
        "",
        "xFCN: the GCN layers of that branch without the adjacency matrix (`Y = XW`).",
        "",
        *markdown_table(
            VARIANT_COLUMNS, variant_rows([v.key for v in VARIANTS if v.key in present], results)
        ),
        "",
        *twin_table,
        "Overrides of each variant (on top of the budget's):",
        "",
        *markdown_table(
            ("Method", "overrides"),
            ([v.label, f"`{' '.join(v.overrides)}`"] for v in VARIANTS if v.key in present),
        ),
        "",
    ]


PROTOCOL_COLUMNS: tuple[str, ...] = (
    "Method",
    "val mAP, strided",
    "val mAP, consecutive",
    "Δ val (consecutive − strided)",
    "test mAP, strided",
    "test mAP, consecutive",
    "Δ test (consecutive − strided)",
)


def protocol_difference(
    results: StudyResults, split: str, keys: Sequence[str]
) -> PairedDifference | None:
    """mAP with consecutive minus strided clips on ``split``, paired over every (variant, seed)
    of ``keys`` scored both ways; ``None`` if there is none."""
    strided = results.protocols.get((split, "strided"), {})
    consecutive = results.protocols.get((split, "consecutive"), {})
    common = sorted(k for k in strided.keys() & consecutive.keys() if k[0] in keys)
    if not common:
        return None
    return paired_difference(
        {i: consecutive[k].mean_ap for i, k in enumerate(common)},
        {i: strided[k].mean_ap for i, k in enumerate(common)},
    )


def protocol_rows(results: StudyResults, keys: Sequence[str]) -> list[list[str]]:
    """One row per variant (scores over seeds, paired differences), then all runs pooled."""
    labels = {v.key: v.label for v in VARIANTS}

    def scores(split: str, sampling: str, key: str) -> str:
        table = results.protocols.get((split, sampling), {})
        return percent([s.mean_ap for (k, _), s in sorted(table.items()) if k == key])

    def difference(split: str, group: Sequence[str]) -> str:
        found = protocol_difference(results, split, group)
        return format_difference(found) if found else DASH

    rows = [
        [
            labels[key],
            scores("val", "strided", key),
            scores("val", "consecutive", key),
            difference("val", [key]),
            scores("test", "strided", key),
            scores("test", "consecutive", key),
            difference("test", [key]),
        ]
        for key in keys
    ]
    pooled = protocol_difference(results, "val", keys)
    n = pooled.n if pooled else 0
    rows.append(
        [f"all {n} runs", DASH, DASH, difference("val", keys), DASH, DASH, difference("test", keys)]
    )
    return rows


def protocol_decision(results: StudyResults, keys: Sequence[str]) -> str:
    """The rule of docs/results-plan.md applied to the validation numbers alone."""
    pooled = protocol_difference(results, "val", keys)
    if pooled is None:
        return "No run has been scored under both protocols on the validation split yet."
    if pooled.verdict == "better":
        return (
            "On the validation split, consecutive clips beat strided ones over all runs "
            f"({format_difference(pooled)} mAP points): by the rule fixed in advance, the "
            "default test protocol should be `consecutive`."
        )
    return (
        "On the validation split, consecutive clips do not beat strided ones over all runs "
        f"({format_difference(pooled)} mAP points, {pooled.verdict}): by the rule fixed in "
        "advance, `strided` (which matches the training clips) stays the default. The test "
        "columns are reported, not used for the choice."
    )


def protocol_section(runs: Sequence[Run], results: StudyResults) -> list[str]:
    """Strided vs consecutive test clips, on the validation and the test split."""
    keys = [v.key for v in VARIANTS if any(r.key == v.key and r.trained for r in runs)]
    if not results.protocols or not keys:
        return []
    return [
        "## Test protocol: strided vs consecutive clips",
        "",
        "The checkpoint each run tested, scored with every frame in **strided** clips (clip j "
        "takes frame j of each of the T chunks, so it spans the tracklet as a training clip "
        "does) and in **consecutive** clips (runs of T frames); the tracklet feature is the "
        "mean of its clip features weighted by the frames each clip adds. mAP in %; Δ paired "
        "by seed (the pooled row: over every run) with its 95 % interval.",
        "",
        *markdown_table(PROTOCOL_COLUMNS, protocol_rows(results, keys)),
        "",
        protocol_decision(results, keys),
        "",
    ]


def sweep_section(seed: int, results: StudyResults, budget: str) -> list[str]:
    """One table per sweep of Figures 7-8 (one seed), with the values ``budget`` runs."""
    lines = [f"## Figures 7-8: GCN layers and patches (seed {seed}, sweep budget)", ""]
    for sweep in SWEEPS:
        fixed = ", ".join(f"{SYMBOLS[o]} = {v}" for o, v in sweep.fixed.items())
        rows = []
        for value in sweep_values(sweep, budget):
            key = (point_name(sweep_setting(sweep, value)), seed)
            found = results.scores.get(key)
            cells = (
                [f"{100 * x:.2f}" for x in (found.mean_ap, found.rank1, found.rank5)]
                if found
                else [DASH] * 3
            )
            rows.append([str(value), *cells, duration(results.walls.get(key, 0))])
        lines += [
            f"### {sweep.key} ({fixed})",
            "",
            *markdown_table((sweep.key, "mAP", "rank-1", "rank-5", "wall"), rows),
            "",
            sweep.paper_note + ".",
            "",
        ]
    if BUDGETS[budget].sweep_note:
        lines += [f"Budget `{budget}`: {BUDGETS[budget].sweep_note}.", ""]
    return lines


def per_variant(
    table: Mapping[tuple[str, int], T],
) -> Iterator[tuple[Variant, list[int], list[T]]]:
    """``(variant, seeds, values)`` of every variant in a ``{(variant key, seed): value}``
    table, in the paper's row order."""
    for variant in VARIANTS:
        seeds = sorted(seed for key, seed in table if key == variant.key)
        if seeds:
            yield variant, seeds, [table[(variant.key, seed)] for seed in seeds]


def branch_section(
    branches: Mapping[tuple[str, int], BranchScores], results: StudyResults
) -> list[str]:
    """Each branch's part of ``f_all`` ranked alone, beside ``f_all``, per variant."""
    if not branches:
        return []
    lines = [
        "## Each branch on its own",
        "",
        "A model's test feature `f_all` is the concatenation of its branches' features (eq. 9). "
        "Here each branch's part of it ranks the gallery alone, and `balanced` ranks with every "
        "part L2-normalised first (equal weights); `norm` is the mean L2 norm of each part, "
        "which sets its weight in the Euclidean distance of `f_all`. mAP %, mean ± std over "
        "the seeds with saved test features.",
        "",
    ]
    rows = []
    for variant, seeds, found in per_variant(branches):
        cells = [
            percent([results.scores[(variant.key, seed)].mean_ap for seed in seeds]),
            percent([b.balanced.mean_ap for b in found]),
        ]
        norms = []
        for branch in ("global", "temporal", "spatial"):
            alone = [b.alone[branch].mean_ap for b in found if branch in b.alone]
            cells.append(percent(alone) if alone else DASH)
            sizes = [b.norms[branch] for b in found if branch in b.norms]
            norms.append(f"{np.mean(sizes):.1f}" if sizes else DASH)
        rows.append([variant.label, str(len(seeds)), *cells, " / ".join(norms)])
    header = ("Method", "seeds", "f_all", "balanced", "global", "temporal", "spatial")
    return [*lines, *markdown_table((*header, "norm g / t / s"), rows), ""]


def occlusion_section(
    occlusion: Mapping[tuple[str, int], OcclusionScores], results: StudyResults
) -> list[str]:
    """mAP on the occluded and on the clean test queries, per variant with test features."""
    if not occlusion:
        return []
    sizes = next(iter(occlusion.values()))
    lines = [
        "## Occluded and clean queries",
        "",
        f"The test queries split into {sizes.num_occluded} whose tracklet an occluder partly "
        f"covers and {sizes.num_clean} clean ones (queries with a match). The temporal graph "
        "is meant to help the occluded ones (paper, sec. 3.2 and Figure 5). mAP %, mean ± std "
        "over the seeds with saved test features.",
        "",
    ]
    rows = []
    for variant, seeds, found in per_variant(occlusion):
        cells = [
            percent([results.scores[(variant.key, seed)].mean_ap for seed in seeds]),
            percent([o.occluded_map for o in found]),
            percent([o.clean_map for o in found]),
            percent([o.occluded_map - o.clean_map for o in found]),
        ]
        rows.append([variant.label, str(len(seeds)), *cells])
    header = ("Method", "seeds", "all queries", "occluded", "clean", "occluded − clean")
    return [*lines, *markdown_table(header, rows), ""]


def picture_section(pictures: Mapping[str, Path], out: Path) -> list[str]:
    """The pictures, linked relative to the report."""
    if not pictures:
        return []
    lines = ["## Pictures", ""]
    for key, caption in CAPTIONS.items():
        if key in pictures:
            link = Path(os.path.relpath(pictures[key], Path(out).parent)).as_posix()
            lines += [f"**{caption}.**", "", f"![{key}]({link})", ""]
    return lines


def runs_section(runs: Sequence[Run], results: StudyResults) -> list[str]:
    """Every planned run: status, scores, wall time, directory."""
    rows = []
    for run in runs:
        found: Scores | None = results.scores.get((run.key, run.seed))
        status = "done" if run.done else ("features missing" if run.trained else "not run")
        rows.append(
            [
                f"{run.group}/{run.name}",
                status,
                f"{100 * found.mean_ap:.2f}" if found else DASH,
                f"{100 * found.rank1:.2f}" if found else DASH,
                duration(results.walls.get((run.key, run.seed), 0)),
                f"`{run.directory}`",
            ]
        )
    header = ("run", "status", "mAP", "rank-1", "wall", "directory")
    return ["## Runs", "", *markdown_table(header, rows)]


def render_report(
    runs: Sequence[Run],
    results: StudyResults,
    pictures: Mapping[str, Path],
    sessions: Sequence[Mapping[str, Any]],
    budget: str,
    dataset: str,
    out: Path,
    branches: Mapping[tuple[str, int], BranchScores] | None = None,
    occlusion: Mapping[tuple[str, int], OcclusionScores] | None = None,
    findings: Path | None = None,
) -> str:
    """The whole markdown page; ``findings``, a hand-written markdown file, goes near the top."""
    variant_runs = [r for r in runs if r.group == "variants"]
    sweep_runs = [r for r in runs if r.group == "sweeps"]
    seeds = sorted({r.seed for r in variant_runs})
    lines = [f"# Ablation study on the synthetic benchmark (`{dataset}`, budget `{budget}`)", ""]
    if budget == "smoke":
        lines += [
            "> **Smoke scale.** These numbers come from the tiny `experiment=smoke` set trained "
            "for one epoch. They only show that the pipeline runs end to end and say nothing "
            "about the methods; the real study is `--budget quick` or `--budget full`.",
            "",
        ]
    lines += [
        "Synthetic scores do not compare in absolute terms with the paper's (ResNet-50 "
        "pretrained on ImageNet, 256 x 128 input, MARS and DukeMTMC-VideoReID): compare the "
        "order of the rows. Scores in %, on the test split (standard protocol, strided test "
        "clips), of the checkpoint each run chose on its validation identities; mean ± sample "
        f"std over seeds {', '.join(map(str, seeds)) or DASH}. Wall time of a run: training, "
        "testing and the evaluations under the other protocols.",
        "",
    ]
    if findings is not None and findings.is_file():
        lines += [
            "## Findings",
            "",
            f"*Written by hand in `{findings.name}` after reading the tables below; the rest of "
            "this page is generated from the run directories.*",
            "",
            findings.read_text().strip(),
            "",
        ]
    lines += ["## How it was made", ""]
    for session in sessions:
        lines += [
            f"- `{session['command']}`",
            f"  - machine: {session['machine']}",
            f"  - started {session['started']}, wall time {duration(session['wall_s'])}",
        ]
    lines += [
        f"- sum of the run wall times: {duration(sum(results.walls.values()))} over "
        f"{len(results.walls)} runs",
        f"- budget `{budget}`: variants `{' '.join(BUDGETS[budget].variants)}`; "
        f"sweeps `{' '.join(BUDGETS[budget].sweeps)}`",
        "- rebuild this page and its pictures from the run directories: the same command "
        "with `--report-only`; finish missing runs: the same command again",
        "",
    ]
    if variant_runs:
        lines += variant_section(runs, results) + protocol_section(runs, results)
    if sweep_runs:
        lines += sweep_section(sweep_runs[0].seed, results, budget)
    lines += branch_section(branches or {}, results)
    lines += occlusion_section(occlusion or {}, results)
    lines += picture_section(pictures, out) + runs_section(runs, results)
    return "\n".join(lines) + "\n"


def write_report(text: str, out: Path) -> Path:
    """Write the markdown atomically: a crash leaves the previous version in place."""
    return atomic_write(out, lambda handle: handle.write(text.encode()))

"""``docs/results-frozen.md``: the frozen-feature study's tables, rebuilt from its run records."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stgcn_reid.ablation.report import BASELINE, DASH, TWINS, duration, percent
from stgcn_reid.ablation.statistics import format_difference, paired_difference
from stgcn_reid.ablation.study import VARIANTS
from stgcn_reid.utils.markdown import markdown_table

Records = dict[str, dict[int, dict[str, Any]]]  # variant -> seed -> record
LABELS = {v.key: v.label for v in VARIANTS}


def read_records(folder: Path) -> Records:
    """Every ``<variant>/seed<k>.json`` under ``folder``."""
    records: Records = {}
    for path in sorted(folder.glob("*/seed*.json")):
        record = json.loads(path.read_text())
        records.setdefault(record["variant"], {})[int(record["seed"])] = record
    return records


def num_queries(records: Records) -> int:
    """Test queries per run (the length of every record's per-query AP)."""
    return len(next(iter(next(iter(records.values())).values()))["test"]["all_AP"])


def scores(records: Records, key: str, score: str = "mAP") -> dict[int, float]:
    """``{seed: test score}`` of a variant."""
    return {seed: float(r["test"][score]) for seed, r in records.get(key, {}).items()}


def group_map(records: Records, key: str, mask: np.ndarray) -> dict[int, float]:
    """``{seed: mAP over the queries in mask}`` (queries with a match only)."""
    out = {}
    for seed, record in records.get(key, {}).items():
        ap = np.asarray(record["test"]["all_AP"], dtype=float)
        keep = mask & ~np.isnan(ap)
        out[seed] = float(ap[keep].mean())
    return out


def _difference_cells(records: Records, key: str, reference: str) -> tuple[list[str], str]:
    cells, verdict = [], DASH
    for score in ("mAP", "rank1"):
        difference = paired_difference(
            scores(records, key, score), scores(records, reference, score)
        )
        cells.append(format_difference(difference))
        if score == "mAP":
            verdict = difference.verdict
    return cells, verdict


def variant_rows(records: Records, keys: Sequence[str]) -> list[list[str]]:
    rows = []
    for key in keys:
        runs = records[key]
        difference, verdict = (
            ([DASH, DASH], DASH) if key == BASELINE else _difference_cells(records, key, BASELINE)
        )
        epochs = [r["chosen_epoch"] for r in runs.values()]
        rows.append(
            [
                LABELS[key],
                percent(list(scores(records, key).values())),
                percent(list(scores(records, key, "rank1").values())),
                *difference,
                verdict,
                str(len(runs)),
                f"{int(np.median(epochs))}",
                duration(float(np.mean([r["wall_s"] for r in runs.values()]))),
            ]
        )
    return rows


def twin_rows(records: Records) -> list[list[str]]:
    rows = []
    for gcn, fcn in TWINS:
        if gcn in records and fcn in records:
            cells, verdict = _difference_cells(records, gcn, fcn)
            rows.append([f"{LABELS[gcn]} − {LABELS[fcn]}", *cells, verdict])
    return rows


def occlusion_rows(records: Records, occluded: np.ndarray) -> list[list[str]]:
    """Each variant's gain over the baseline on occluded and on clean queries, and the
    difference of the two gains, paired by seed."""
    rows = []
    base_occ, base_clean = (group_map(records, BASELINE, m) for m in (occluded, ~occluded))
    for key in records:
        if key == BASELINE:
            continue
        occ, clean = group_map(records, key, occluded), group_map(records, key, ~occluded)
        gain_occ = {s: occ[s] - base_occ[s] for s in occ if s in base_occ}
        gain_clean = {s: clean[s] - base_clean[s] for s in clean if s in base_clean}
        extra = paired_difference(gain_occ, gain_clean)
        rows.append(
            [
                LABELS[key],
                format_difference(paired_difference(occ, base_occ)),
                format_difference(paired_difference(clean, base_clean)),
                format_difference(extra),
                extra.verdict,
            ]
        )
    return rows


def curve_rows(records: Records, keys: Sequence[str]) -> list[list[str]]:
    """Mean validation mAP at the last three validations: flat means converged."""
    rows = []
    for key in keys:
        curves = [r["val_curve"] for r in records[key].values()]
        epochs = [p["epoch"] for p in curves[0]][-3:]
        means = [
            np.mean([next(p["mAP"] for p in c if p["epoch"] == e) for c in curves]) for e in epochs
        ]
        rows.append(
            [LABELS[key], *(f"{100 * m:.2f} (ep. {e})" for e, m in zip(epochs, means, strict=True))]
        )
    return rows


def pretraining_note(pretraining: Mapping[str, Any], weights: str) -> str:
    """Where the frozen backbone comes from, and how it differs from ImageNet weights."""
    if not pretraining:
        return f"Backbone weights: `{weights}` (made elsewhere: no pretraining record)."
    curve = ", ".join(f"{p['epoch']}: {100 * p['value']:.1f}" for p in pretraining["curve"])
    return (
        f"Backbone weights `{weights}`: this project's stand-in for ImageNet pretraining "
        "(`python -m stgcn_reid.train experiment=pretrain`, see README), trained for re-id "
        "(ID + triplet losses) on a synthetic population of its own (another seed, 600 "
        "identities, 8 other cameras), never on the benchmark. Unlike ImageNet weights it has "
        "seen only people, drawn in the benchmark's own style, in far fewer images. Its "
        f"validation mAP on its own held-out identities, by epoch: {curve} (exported: epoch "
        f"{pretraining['chosen_epoch']})."
    )


def render(
    records: Records,
    occluded: np.ndarray,
    pretraining: Mapping[str, Any],
    how: Sequence[str],
    setup: Mapping[str, Any],
    findings: str = "",
) -> str:
    """The whole page; ``findings`` (written by hand after reading the tables) goes first."""
    keys = [v.key for v in VARIANTS if v.key in records]
    recipe = setup["recipe"]
    lines = [
        "# Frozen-feature study: STGCN's heads on a pretrained, frozen backbone",
        "",
        f"Every variant of Tables 3-4 trains only its heads (the branches and the classifier) on "
        f"the same cached feature maps of a frozen ResNet-18 at {setup['height']} x "
        f"{setup['width']} (a {setup['height'] // 16} x {setup['width'] // 16} map), on "
        f"`{setup['dataset']}`. With the backbone fixed, a GCN variant differs from its FCN "
        "twin only by the adjacency Â, so their paired difference answers Table 4's question "
        "on equal features. The baseline's feature is the frozen backbone's own "
        "(its training moves only the classifier).",
        "",
        pretraining_note(pretraining, Path(setup["weights"]).name),
        "",
        f"Heads' recipe: T = {recipe['seq_len']}, P x K = {recipe['num_identities']} x "
        f"{recipe['num_instances']}, Adam {recipe['lr']:g} (÷10 after epoch "
        f"{recipe['lr_step']}), {recipe['epochs']} epochs, validation every "
        f"{recipe['val_every']}; the weights of the best validation mAP are tested once "
        "(strided test clips, every frame). mAP and rank-1 in %; mean ± sample std over seeds; "
        "Δ: paired by seed (a seed fixes the batches and clips), mean with its two-sided 95 % "
        'Student-t interval; "better" / "worse" only when the interval excludes 0.',
        "",
        *(
            [
                "## Findings",
                "",
                "*Written by hand after reading the tables below.*",
                "",
                findings,
                "",
            ]
            if findings
            else []
        ),
        "## Every variant against the baseline",
        "",
        "Here the baseline's feature is the frozen backbone's global average, untouched by the "
        "benchmark, while every other row trains layers on the benchmark: Δ vs baseline "
        "measures what trained heads add, not what the graphs add (the twin table does that).",
        "",
        *markdown_table(
            (
                "Method",
                "mAP",
                "rank-1",
                "Δ mAP vs baseline",
                "Δ rank-1 vs baseline",
                "verdict",
                "seeds",
                "chosen epoch (median)",
                "wall / run",
            ),
            variant_rows(records, keys),
        ),
        "",
        "## Each GCN against its FCN twin (Table 4)",
        "",
        *markdown_table(("GCN − FCN", "Δ mAP", "Δ rank-1", "verdict"), twin_rows(records)),
        "",
        "## Occluded and clean queries",
        "",
        f"{int(occluded.sum())} of the {len(occluded)} test queries are partly occluded. The "
        "paper's case for the temporal graph is that occluded queries gain most; the last "
        "column tests exactly that.",
        "",
        *markdown_table(
            (
                "Method",
                "Δ mAP vs baseline, occluded",
                "Δ mAP vs baseline, clean",
                "occluded gain − clean gain",
                "verdict",
            ),
            occlusion_rows(records, occluded),
        ),
        "",
        "## Convergence",
        "",
        "Validation mAP (mean over seeds) at the last three validations.",
        "",
        *markdown_table(("Method", "third-last", "second-last", "last"), curve_rows(records, keys)),
        "",
        "## How it was made",
        "",
        *how,
        "",
    ]
    return "\n".join(lines)

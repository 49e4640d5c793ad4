"""``docs/results-frozen.md`` and ``docs/results-layer4.md``: the frozen-feature and last-stage
studies' tables, rebuilt from their run records."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stgcn_reid.ablation.report import BASELINE, DASH, TWINS, duration, percent
from stgcn_reid.ablation.statistics import (
    BETTER,
    WORSE,
    PairedDifference,
    format_difference,
    mean_std,
    paired_difference,
    signed,
)
from stgcn_reid.ablation.study import DIAGNOSTICS, VARIANTS
from stgcn_reid.errors import StudyRecordsError
from stgcn_reid.utils.markdown import markdown_table

Records = dict[str, dict[int, dict[str, Any]]]  # variant -> seed -> record
MODELS = (*VARIANTS, *DIAGNOSTICS)
LABELS = {v.key: v.label for v in MODELS}
#: The paper's MARS and Duke scores of its Table 3-4 rows (diagnostics have none).
PAPER = {v.key: v.paper for v in MODELS if v.paper is not None}


def read_records(folder: Path) -> Records:
    """Every ``<variant>/seed<k>.json`` under ``folder``. A record must sit at its own
    variant's and seed's path, so that a copied or misplaced file can never replace a run."""
    records: Records = {}
    for path in sorted(folder.glob("*/seed*.json")):
        record = json.loads(path.read_text())
        if not {"variant", "seed"} <= record.keys():
            raise StudyRecordsError(f"{path}: not a study record (no variant or seed)")
        own = Path(record["variant"]) / f"seed{int(record['seed'])}.json"
        if path.relative_to(folder) != own:
            raise StudyRecordsError(
                f"{path}: the record of {record['variant']} seed {record['seed']}, whose place "
                f"is {folder / own}; move or remove the copy"
            )
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


def _difference_cells(
    records: Records, key: str, reference: str
) -> tuple[list[str], PairedDifference]:
    """Δ mAP and Δ rank-1 of ``key`` against ``reference``, and the mAP difference."""
    differences = [
        paired_difference(scores(records, key, score), scores(records, reference, score))
        for score in ("mAP", "rank1")
    ]
    return [format_difference(d) for d in differences], differences[0]


def paper_gain_cell(key: str, difference: PairedDifference) -> str:
    """The paper's MARS mAP gain of ``key`` over its baseline (Tables 3-4), and where it lies
    against this study's interval: ``+2.94: inside the interval`` (a dash without a paper row).
    """
    paper = PAPER.get(key)
    if paper is None:
        return DASH
    gain = paper.mars_map - PAPER[BASELINE].mars_map
    return f"{signed(gain)}: {difference.locate(gain / 100)}"


def variant_rows(
    records: Records, keys: Sequence[str], beside_paper: bool = False
) -> list[list[str]]:
    """Each variant's scores and its paired Δ to the baseline; with ``beside_paper``, also the
    paper's gain against that Δ's interval (where Δ asks Table 3's question: layer4 trains)."""
    rows = []
    for key in keys:
        runs = records[key]
        if key == BASELINE:
            cells, verdict, paper = [DASH, DASH], DASH, DASH
        else:
            cells, difference = _difference_cells(records, key, BASELINE)
            verdict, paper = difference.verdict, paper_gain_cell(key, difference)
        epochs = [r["chosen_epoch"] for r in runs.values()]
        rows.append(
            [
                LABELS[key],
                percent(list(scores(records, key).values())),
                percent(list(scores(records, key, "rank1").values())),
                *cells,
                verdict,
                *([paper] if beside_paper else []),
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
            cells, difference = _difference_cells(records, gcn, fcn)
            rows.append(
                [f"{LABELS[gcn]} − {LABELS[fcn]}", *cells, difference.verdict, str(difference.n)]
            )
    return rows


def twin_section(records: Records) -> list[str]:
    """Table 4's question, each GCN against its FCN twin; none where no twin pair was run."""
    rows = twin_rows(records)
    if not rows:
        return []
    return [
        "## Each GCN against its FCN twin (Table 4)",
        "",
        *markdown_table(("GCN − FCN", "Δ mAP", "Δ rank-1", "verdict", "paired seeds"), rows),
        "",
    ]


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
                str(extra.n),
            ]
        )
    return rows


def part_scores(records: Records, key: str, split: str, branch: str) -> dict[int, float]:
    """``{seed: mAP}`` of one branch's part of ``f_all`` alone (the whole ``f_all`` for a
    one-branch model), on ``val`` (the chosen epoch) or ``test``; seeds without it left out."""
    out = {}
    for seed, record in records.get(key, {}).items():
        scores_ = record.get(split, {})
        if "branches" in scores_:
            out[seed] = float(scores_["branches"][branch]["mAP"])
        elif branch == "global" and "mAP" in scores_ and key == BASELINE:
            out[seed] = float(scores_["mAP"])
    return out


def shared_feature_rows(records: Records, keys: Sequence[str]) -> list[list[str]]:
    """Each model's global part of ``f_all`` against the baseline's global feature, paired by
    seed, on validation and test: whether training with the other branches changed it."""
    rows = []
    for key in keys:
        if key == BASELINE or not part_scores(records, key, "val", "global"):
            continue
        cells = []
        for split in ("val", "test"):
            difference = paired_difference(
                part_scores(records, key, split, "global"),
                part_scores(records, BASELINE, split, "global"),
            )
            cells += [format_difference(difference), difference.verdict]
        own = {
            branch: percent(list(part_scores(records, key, "test", branch).values()))
            for branch in next(iter(records[key].values()))["test"]["branches"]
        }
        rows.append([LABELS[key], *cells, ", ".join(f"{b} {v}" for b, v in own.items())])
    return rows


def curve_rows(records: Records, keys: Sequence[str]) -> list[list[str]]:
    """Mean validation mAP at the last three validations, and whether the curve is flat: its
    mean changes by less than one seed standard deviation between the last two."""
    rows = []
    for key in keys:
        curves = [r["val_curve"] for r in records[key].values()]
        epochs = [p["epoch"] for p in curves[0]][-3:]
        at = np.array(
            [[next(p["mAP"] for p in c if p["epoch"] == e) for e in epochs] for c in curves]
        )
        means = at.mean(axis=0)
        row = [f"{100 * m:.2f} (ep. {e})" for e, m in zip(epochs, means, strict=True)]
        if len(epochs) < 2 or len(curves) < 2:
            row += ["-", "-", "too few validations or seeds"]
        else:
            change, spread = 100 * (means[-1] - means[-2]), 100 * at[:, -1].std(ddof=1)
            flat = "flat" if abs(change) < spread else "still moving"
            row += [f"{change:+.2f}", f"{spread:.2f}", flat]
        rows.append([LABELS[key], *[""] * (3 - len(epochs)), *row])
    return rows


#: The probe's measures (:class:`stgcn_reid.ablation.frozen.probe.GraphProbe`) and how each is
#: shown: the per-node weights times ``2N``, so that 1 is what uniform rows of ``A`` give
#: (``Â = (A + I) / 2``, eq. 4: an off-diagonal entry of ``1 / 2N``).
PROBE_MEASURES: tuple[tuple[str, str], ...] = (
    ("visible_weight", "2N × weight of a visible-frame node (occluded row)"),
    ("occluded_weight", "2N × weight of another occluded-frame node (occluded row)"),
    ("spread", "effective neighbours of a row of A / N (1 = uniform)"),
    ("node_similarity_in", "mean cosine of a clip's nodes, before the layers"),
    ("node_similarity_out", "mean cosine of a clip's nodes, after the layers"),
)


def _probe_values(probes: Mapping[int, Mapping[str, Any]], model: str, measure: str) -> dict:
    scale = 2 * probes[next(iter(probes))]["nodes"] if measure.endswith("_weight") else 1
    values = {s: r[model][measure] for s, r in probes.items()}
    return {s: scale * v for s, v in values.items() if v is not None}


def probe_rows(probes: Mapping[int, Mapping[str, Any]]) -> list[list[str]]:
    """Each measure: mean ± std over seeds for the untrained and trained TGCN heads and the
    trained TFCN heads (``—`` where a measure needs a graph)."""
    rows = []
    for measure, label in PROBE_MEASURES:
        cells = []
        for model in ("untrained", "tgcn_global", "tfcn_global"):
            values = list(_probe_values(probes, model, measure).values())
            cells.append("{:.3f} ± {:.3f}".format(*mean_std(values)) if values else DASH)
        rows.append([label, *cells])
    return rows


def probe_difference_rows(probes: Mapping[int, Mapping[str, Any]]) -> list[list[str]]:
    """The paired differences that answer the probe's three questions."""
    values = {
        (model, measure): _probe_values(probes, model, measure)
        for model in ("untrained", "tgcn_global", "tfcn_global")
        for measure, _ in PROBE_MEASURES
    }
    comparisons = (
        (
            "trained TGCN: visible − occluded node weight (2N ×)",
            values["tgcn_global", "visible_weight"],
            values["tgcn_global", "occluded_weight"],
        ),
        (
            "visible − occluded node weight: trained − untrained (2N ×)",
            {
                s: values["tgcn_global", "visible_weight"][s]
                - values["tgcn_global", "occluded_weight"][s]
                for s in values["tgcn_global", "visible_weight"]
            },
            {
                s: values["untrained", "visible_weight"][s]
                - values["untrained", "occluded_weight"][s]
                for s in values["untrained", "visible_weight"]
            },
        ),
        (
            "row spread: trained − untrained TGCN",
            values["tgcn_global", "spread"],
            values["untrained", "spread"],
        ),
        (
            "node cosine after the layers: TGCN − TFCN",
            values["tgcn_global", "node_similarity_out"],
            values["tfcn_global", "node_similarity_out"],
        ),
    )
    # A measure is neither better nor worse: say only on which side of 0 the interval lies.
    sides = {BETTER: "above 0", WORSE: "below 0"}
    rows = []
    for label, left, right in comparisons:
        difference = paired_difference(left, right)
        verdict = sides.get(difference.verdict, difference.verdict)
        rows.append([label, format_difference(difference, scale=1.0, digits=3), verdict])
    return rows


def probe_section(probes: Mapping[int, Mapping[str, Any]]) -> list[str]:
    """The probe's part of the page (nothing without probe records)."""
    if not probes:
        return []
    first = probes[next(iter(probes))]
    return [
        "## What Â learns (validation clips, graph probe)",
        "",
        f"`python -m stgcn_reid.ablation.frozen --probe {' '.join(map(str, sorted(probes)))}` "
        "retrains TGCN+global and TFCN+global heads per seed with the recipe above and reads, "
        f"on the {first['tgcn_global']['clips']} strided validation clips that mix occluded "
        f"and visible frames (N = {first['nodes']} nodes a clip), the adjacency and the "
        "temporal nodes through forward hooks (module `stgcn_reid.ablation.frozen.probe`). "
        "The test split is not read. Mean ± std over seeds; Δ paired by seed, 95 % interval.",
        "",
        *markdown_table(
            ("measure", "TGCN, untrained", "TGCN+global, trained", "TFCN+global, trained"),
            probe_rows(probes),
        ),
        "",
        *markdown_table(
            ("comparison", "Δ [95 % interval]", "verdict"), probe_difference_rows(probes)
        ),
        "",
    ]


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


def shared_feature_section(records: Records, keys: Sequence[str]) -> list[str]:
    """The global part of every model's ``f_all`` scored alone, against the baseline."""
    rows = shared_feature_rows(records, keys)
    if not rows:
        return []
    return [
        "## The global feature inside each model",
        "",
        "Each model's `f_global` part of `f_all`, scored on its own, minus the baseline's "
        "`f_global` (paired by seed; validation at the chosen epoch, and test). Where the "
        "backbone trains, a negative Δ means the other branches' losses made the shared "
        "feature worse; on a frozen backbone it can only differ through the classifier. "
        "Last column: each branch's part of `f_all` alone (test mAP, mean ± std).",
        "",
        *markdown_table(
            (
                "Method",
                "Δ f_global mAP, validation",
                "verdict",
                "Δ f_global mAP, test",
                "verdict",
                "each branch alone (test mAP)",
            ),
            rows,
        ),
        "",
    ]


def trains_layer4(setup: Mapping[str, Any]) -> bool:
    """Whether the study trains `layer4` with its heads (else the heads alone)."""
    return setup.get("trainable", "heads") == "layer4"


def intro(setup: Mapping[str, Any]) -> list[str]:
    """The page's title and what its runs train, on what."""
    height, width = setup["height"], setup["width"]
    size = f"{height} x {width} (a {height // 16} x {width // 16} map)"
    if trains_layer4(setup):
        return [
            "# Last-stage study: STGCN's heads trained with the backbone's layer4",
            "",
            "Every variant of Tables 3-4 trains its heads (the branches and the classifier) "
            "together with the backbone's last stage, `layer4`, from the pretrained weights, on "
            f"the same cached `layer3` maps of the frozen early stages of a ResNet-18 at {size}, "
            f"on `{setup['dataset']}`. Every branch's loss reaches the shared `layer4`, as in the "
            "paper's joint training; unlike it, `conv1`-`layer3` stay as pretrained and the "
            "frames are augmented by flips only (no random erasing: they are cached as maps). "
            "The baseline trains `layer4` with the global branch alone.",
        ]
    return [
        "# Frozen-feature study: STGCN's heads on a pretrained, frozen backbone",
        "",
        f"Every variant of Tables 3-4 trains only its heads (the branches and the classifier) on "
        f"the same cached feature maps of a frozen ResNet-18 at {size}, on "
        f"`{setup['dataset']}`. With the backbone fixed, a GCN variant differs from its FCN "
        "twin only by the adjacency Â, so their paired difference answers Table 4's question "
        "on equal features. The baseline's feature is the frozen backbone's own "
        "(its training moves only the classifier).",
    ]


def stage_lr(setup: Mapping[str, Any]) -> str:
    """`` (layer4: 0.0003)`` where the last stage trains, else nothing."""
    if not trains_layer4(setup):
        return ""
    return f" (layer4: {setup['recipe']['stage_lr']:g})"


def baseline_note(setup: Mapping[str, Any]) -> str:
    """What Δ vs baseline measures in this study."""
    if trains_layer4(setup):
        return (
            "Every row, the baseline included, trains `layer4` and its heads from the same "
            "start: Δ vs baseline is Table 3's question on this footing."
        )
    return (
        "Here the baseline's feature is the frozen backbone's global average, untouched by the "
        "benchmark, while every other row trains layers on the benchmark: Δ vs baseline "
        "measures what trained heads add, not what the graphs add (the twin table does that)."
    )


def render(
    records: Records,
    occluded: np.ndarray,
    pretraining: Mapping[str, Any],
    how: Sequence[str],
    setup: Mapping[str, Any],
    findings: str = "",
    probes: Mapping[int, Mapping[str, Any]] | None = None,
) -> str:
    """The whole page; ``findings`` (written by hand after reading the tables) goes first."""
    keys = [v.key for v in MODELS if v.key in records]
    recipe, beside_paper = setup["recipe"], trains_layer4(setup)
    lines = [
        *intro(setup),
        "",
        pretraining_note(pretraining, Path(setup["weights"]).name),
        "",
        f"Heads' recipe: T = {recipe['seq_len']}, P x K = {recipe['num_identities']} x "
        f"{recipe['num_instances']}, Adam {recipe['lr']:g}{stage_lr(setup)} (÷10 after epoch "
        f"{recipe['lr_step']}), {recipe['epochs']} epochs, validation every "
        f"{recipe['val_every']}; the weights of the best validation mAP are tested once "
        "(strided test clips, every frame). mAP and rank-1 in %; mean ± sample std over seeds; "
        "Δ: paired by seed (a seed fixes the batches and clips) over the seeds both rows have, "
        "mean with its two-sided 95 % "
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
        baseline_note(setup),
        "",
        *markdown_table(
            (
                "Method",
                "mAP",
                "rank-1",
                "Δ mAP vs baseline",
                "Δ rank-1 vs baseline",
                "verdict",
                *(["paper's Δ mAP (MARS) vs this interval"] if beside_paper else []),
                "seeds",
                "chosen epoch (median)",
                "wall / run",
            ),
            variant_rows(records, keys, beside_paper=beside_paper),
        ),
        "",
        *twin_section(records),
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
                "paired seeds",
            ),
            occlusion_rows(records, occluded),
        ),
        "",
        *shared_feature_section(records, keys),
        *probe_section(probes or {}),
        "## Convergence",
        "",
        "Validation mAP (mean over seeds) at the last three validations. Converged means flat: "
        "the mean changes between the last two validations by less than one seed standard "
        "deviation of the last; where it does not, the answers hold at this budget only.",
        "",
        *markdown_table(
            ("Method", "third-last", "second-last", "last", "last change", "seed std", "curve"),
            curve_rows(records, keys),
        ),
        "",
        "## How it was made",
        "",
        *how,
        "",
    ]
    return "\n".join(lines)

"""The study's pictures: CMC curves and validation curves (Table 3's models), ranked results
(Figure 6), Grad-CAM (Figure 5) and the temporal adjacency Â, from the baseline and STGCN runs
of the first seed."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stgcn_reid.ablation.example import ExampleClip, occluded_example, tracklet_feature
from stgcn_reid.ablation.results import (
    Scores,
    load_features,
    read_validation_curve,
    run_metric_options,
)
from stgcn_reid.ablation.runner import Run
from stgcn_reid.ablation.study import PICTURE_MODELS, TABLE3_KEYS, VARIANTS
from stgcn_reid.checkpoints.policy import tested_checkpoint
from stgcn_reid.checkpoints.rebuild import load_net
from stgcn_reid.data.datamodule import EvalTracklets
from stgcn_reid.data.datasets import build_dataset
from stgcn_reid.evaluation import compute_distance
from stgcn_reid.viz import plot_cmc, plot_metric_curves, plot_ranked_results
from stgcn_reid.viz.adjacency import (
    occluded_node_weights,
    plot_adjacency,
    temporal_adjacency,
)
from stgcn_reid.viz.gradcam import clip_grad_cam, plot_gradcam
from stgcn_reid.viz.ranking import spread_queries

log = logging.getLogger(__name__)


def explain_clip(
    nets: Mapping[str, nn.Module],
    example: ExampleClip,
    out_dir: Path,
    references: Mapping[str, torch.Tensor | None] | None = None,
) -> dict[str, Path]:
    """``gradcam.png`` (the frames, then a row of CAMs per model, as Figure 5) and
    ``adjacency.png`` (Â of the temporal graph of the last model that has one).

    ``references`` (per label) is the direction of each model's Grad-CAM target, normally the
    tracklet's test feature; without one, the clip's own embedding.
    """
    references = references or {}
    cams = {
        label: clip_grad_cam(net, example.clip, references.get(label))
        for label, net in nets.items()
    }
    pictures = {
        "gradcam": plot_gradcam(
            example.frames,
            cams,
            Path(out_dir) / "gradcam.png",
            occluded=example.occluded,
            title="HiResCAM (Grad-CAM, gradients not averaged) of backbone.layer4\n"
            "target: the clip embedding along the tracklet's test feature",
        )
    }
    with_graph = [
        (label, net)
        for label, net in nets.items()
        if getattr(getattr(net, "temporal_gcn", None), "graph", None) is not None
    ]
    if with_graph:
        label, net = with_graph[-1]
        adjacency = temporal_adjacency(net, example.clip)
        title = f"{label}: temporal graph Â of one clip"
        if 0 < sum(example.occluded) < len(example.occluded):
            visible, hidden = occluded_node_weights(adjacency, example.occluded)
            title += (
                ", mean weight an occluded frame's node gives\n"
                f"a visible frame's node: {visible:.3f}, another occluded one: {hidden:.3f}"
            )
        pictures["adjacency"] = plot_adjacency(
            adjacency,
            example.frames,
            Path(out_dir) / "adjacency.png",
            occluded=example.occluded,
            title=title,
        )
    return pictures


def cmc_picture(
    scores: Mapping[tuple[str, int], Scores], out_dir: Path, max_rank: int = 20
) -> dict[str, Path]:
    """``cmc.png``: the CMC curves (ranks 1-20, mean over seeds) of Table 3's rows.

    Table 4's FCN variants are left out: nine curves on one axis cannot be told apart.
    """
    labels = {v.key: v.label for v in VARIANTS} | {"ensemble": "Ensemble"}
    curves = {}
    for key in TABLE3_KEYS:
        cmcs = [s.cmc for (k, _), s in scores.items() if k == key]
        if cmcs:
            length = min(max_rank, *(len(c) for c in cmcs))
            curves[labels[key]] = np.mean([c[:length] for c in cmcs], axis=0)
    if not curves:
        return {}
    path = Path(out_dir) / "cmc.png"
    return {"cmc": plot_cmc(curves, path, title="CMC of Table 3's models, mean over seeds")}


def validation_picture(runs: Sequence[Run], out_dir: Path) -> dict[str, Path]:
    """``validation.png``: val mAP over the epochs of Table 3's trained models, mean over seeds
    at the epochs every seed validated (a curve still rising at the end: the budget is short)."""
    curves = {}
    for variant in (v for v in VARIANTS if v.key in TABLE3_KEYS):
        logged = [
            read_validation_curve(r.directory)
            for r in runs
            if r.group == "variants" and r.key == variant.key and r.trained
        ]
        logged = [c for c in logged if c]
        epochs = sorted(set.intersection(*(set(c) for c in logged))) if logged else []
        if epochs:
            mean = [100 * float(np.mean([c[e] for c in logged])) for e in epochs]
            seeds = f"{len(logged)} seed{'s' if len(logged) > 1 else ''}"
            curves[f"{variant.label} ({seeds})"] = (epochs, mean)
    if not curves:
        return {}
    path = Path(out_dir) / "validation.png"
    title = "Validation mAP during training, mean over seeds"
    return {"validation": plot_metric_curves(curves, path, title)}


def ranked_pictures(
    members: Mapping[str, Run], evaluated: EvalTracklets, out_dir: Path, num_queries: int = 4
) -> dict[str, Path]:
    """``ranked_<key>.png``: the top-5 gallery tracklets of the same queries for each model."""
    pictures = {}
    frames = [t.frames for t in evaluated.tracklets]
    queries: list[int] = []
    for key, run in members.items():
        features = load_features(run.features_path)
        options = run_metric_options(run.directory)
        distmat = compute_distance(
            torch.from_numpy(features.query),
            torch.from_numpy(features.gallery),
            options["metric"],
            options["normalize"],
        )
        if not queries:  # the first model's queries, shown for every model
            queries = spread_queries(
                features.q_pids, features.g_pids, features.q_camids, features.g_camids, num_queries
            )
        if not queries:
            raise ValueError("no query has a cross-camera match in the gallery")
        pictures[f"ranked_{key}"] = plot_ranked_results(
            [frames[i] for i in features.q_tracks],
            [frames[i] for i in features.g_tracks],
            distmat,
            features.q_pids,
            features.g_pids,
            features.q_camids,
            features.g_camids,
            Path(out_dir) / f"ranked_{key}.png",
            topk=min(5, distmat.shape[1]),
            query_indices=queries,
        )
    return pictures


def draw_pictures(
    runs: Sequence[Run], scores: Mapping[tuple[str, int], Scores], out_dir: Path
) -> dict[str, Path]:
    """Every picture whose runs are finished (the others are left out, with a log line)."""
    pictures = cmc_picture(scores, out_dir) | validation_picture(runs, out_dir)
    first_seed = next((r.seed for r in runs if r.group == "variants"), None)
    members = {
        r.key: r
        for r in runs
        if r.key in PICTURE_MODELS and r.seed == first_seed and r.features_path.is_file()
    }
    if len(members) < len(PICTURE_MODELS):
        log.info(
            "no ranked, Grad-CAM or adjacency pictures: %s of seed %s not finished",
            " and ".join(PICTURE_MODELS),
            first_seed,
        )
        return pictures
    members = {key: members[key] for key in PICTURE_MODELS}
    loaded = {key: load_net(tested_checkpoint(run.directory)) for key, run in members.items()}
    # Both models were trained on the same data; the last one's config describes it.
    run_config = loaded[list(PICTURE_MODELS)[-1]].run_config
    dataset = build_dataset(**dict(run_config["dataset"]))
    pictures |= ranked_pictures(
        members, EvalTracklets.merge(dataset.query, dataset.gallery), out_dir
    )
    example = occluded_example(run_config)
    references = {
        PICTURE_MODELS[key]: tracklet_feature(load_features(run.features_path), example)
        for key, run in members.items()
    }
    nets = {PICTURE_MODELS[key]: loaded[key].net for key in members}
    return pictures | explain_clip(nets, example, out_dir, references)

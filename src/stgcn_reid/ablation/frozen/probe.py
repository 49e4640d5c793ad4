"""What the temporal graph Â learns on frozen features, measured on validation clips.

The frozen-feature study finds TGCN+global below its FCN twin. This probe measures why, on the
validation split only (the test split is read once, by the study). For each seed it trains the
heads of TGCN+global and TFCN+global with the study's recipe (the same runs as the study's,
checked against its records) and, on every strided validation clip that shows a partly
occluded tracklet (some frames occluded, some not), reads:

- how an occluded frame's node weighs a node of a visible frame against another node of an
  occluded frame (paper §3.2: a hidden patch should draw from the frames where the part is
  visible), after training and at initialisation;
- how close the rows of ``A`` (eq. 3) are to uniform: their effective number of neighbours
  (``exp`` of the row entropy) over ``N`` (1 = uniform, ``1 / N`` = one neighbour);
- how alike a clip's nodes are before and after the ``M`` layers (mean pairwise cosine): a
  graph that averages every node with every other makes them alike (over-smoothing), which
  max pooling over the nodes (eq. 6) then cannot undo; TFCN mixes no nodes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import hydra
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import Tensor, nn
from tqdm import tqdm

from stgcn_reid.ablation.example import synthetic_occlusions
from stgcn_reid.ablation.frozen.cache import FrameFeatures
from stgcn_reid.ablation.frozen.heads import as_maps, fit_heads
from stgcn_reid.ablation.frozen.study import (
    CachedSplits,
    StudySetup,
    base_overrides,
    build_heads,
    compose_train,
    variants_by_key,
    worker_pool,
    worker_splits,
)
from stgcn_reid.data.datasets import Tracklet
from stgcn_reid.data.temporal import eval_clips
from stgcn_reid.models import STGCN
from stgcn_reid.utils.io import write_json
from stgcn_reid.viz.adjacency import occluded_node_weights

#: The graph variant probed and its FCN twin (the pair the study finds apart).
PROBED: tuple[str, str] = ("tgcn_global", "tfcn_global")


@dataclass(frozen=True)
class PartlyOccludedClips:
    """Strided validation clips with some occluded and some visible frames.

    Attributes:
        frames: ``[n, T]`` row indices into the split's :class:`FrameFeatures`.
        occluded: ``[n, T]`` whether an occluder covers each clip frame.
    """

    frames: np.ndarray
    occluded: np.ndarray


@dataclass(frozen=True)
class GraphProbe:
    """The probe's averages over the partly occluded clips (see the module docstring)."""

    visible_weight: float | None
    occluded_weight: float | None
    spread: float | None
    node_similarity_in: float
    node_similarity_out: float
    clips: int


def frame_masks(tracklets: Sequence[Tracklet], covered: dict[Path, range]) -> list[np.ndarray]:
    """Per tracklet, whether an occluder covers each of its frames (in frame order)."""
    masks = []
    for tracklet in tracklets:
        hidden = covered.get(Path(tracklet.frames[0]).resolve().parent, range(0))
        masks.append(np.isin(np.arange(len(tracklet.frames)), np.asarray(hidden)))
    return masks


def partly_occluded_clips(
    features: FrameFeatures, masks: Sequence[np.ndarray], seq_len: int
) -> PartlyOccludedClips:
    """Every strided clip (the test rule) of ``features`` that mixes occluded and visible frames."""
    frames, occluded = [], []
    for i, mask in enumerate(masks):
        clips, _ = eval_clips(int(features.lengths[i]), seq_len, "strided")
        hidden = mask[clips]
        mixed = hidden.any(axis=1) & ~hidden.all(axis=1)
        frames.append(int(features.offsets[i]) + clips[mixed])
        occluded.append(hidden[mixed])
    return PartlyOccludedClips(
        np.concatenate(frames).reshape(-1, seq_len), np.concatenate(occluded).reshape(-1, seq_len)
    )


def mean_node_similarity(nodes: Tensor) -> float:
    """Mean cosine similarity of every pair of distinct nodes of a clip, ``nodes`` ``[B, N, d]``."""
    unit = F.normalize(nodes.double(), dim=-1)
    similarity = unit @ unit.transpose(-1, -2)
    n = nodes.shape[1]
    off_diagonal = similarity.sum(dim=(-1, -2)) - similarity.diagonal(dim1=-2, dim2=-1).sum(-1)
    return float((off_diagonal / (n * (n - 1))).mean())


def row_spread(adjacency: Tensor) -> float:
    """Mean effective number of neighbours of a row of ``A`` over ``N`` (1 = uniform rows).

    ``Â = (A + I) / 2`` when the rows of ``A`` sum to 1 (eq. 3-4), so ``A = 2Â - I``.
    """
    a = (2 * adjacency.double() - torch.eye(adjacency.shape[-1], dtype=torch.float64)).clamp_min(0)
    entropy = -(a * a.clamp_min(1e-300).log()).sum(dim=-1)
    return float((entropy.exp() / adjacency.shape[-1]).mean())


@torch.inference_mode()
def probe(model: STGCN, features: FrameFeatures, clips: PartlyOccludedClips) -> GraphProbe:
    """Read Â (when the model has a temporal graph) and the temporal nodes before and after the
    ``M`` layers with forward hooks, on every clip of ``clips``."""
    model.eval()
    temporal = model.temporal_gcn
    if temporal is None:
        raise ValueError("the model has no temporal branch to probe")
    if len(clips.frames) == 0:
        raise ValueError("no clip mixes occluded and visible frames: nothing to probe")
    captured: dict[str, list[Tensor]] = {"adjacency": [], "in": [], "out": []}

    def keep_nodes(_module: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
        captured["in"].append(args[0])
        captured["out"].append(out)

    def keep_adjacency(_module: nn.Module, _args: tuple[Tensor, ...], out: Tensor) -> None:
        captured["adjacency"].append(out)

    hooks = [temporal.gcn.register_forward_hook(keep_nodes)]
    if temporal.graph is not None:
        hooks.append(temporal.graph.register_forward_hook(keep_adjacency))
    try:
        for start in range(0, len(clips.frames), 256):
            model.forward_maps(as_maps(features.rows[clips.frames[start : start + 256]]))
    finally:
        for hook in hooks:
            hook.remove()
    nodes_in, nodes_out = torch.cat(captured["in"]), torch.cat(captured["out"])
    visible = occluded = spread = None
    if captured["adjacency"]:
        adjacency = torch.cat(captured["adjacency"])
        weights = np.array(
            [occluded_node_weights(a, o) for a, o in zip(adjacency, clips.occluded, strict=True)]
        )
        visible, occluded = (float(x) for x in weights.mean(axis=0))
        spread = row_spread(adjacency)
    return GraphProbe(
        visible_weight=visible,
        occluded_weight=occluded,
        spread=spread,
        node_similarity_in=mean_node_similarity(nodes_in),
        node_similarity_out=mean_node_similarity(nodes_out),
        clips=len(clips.frames),
    )


def validation_clips(setup: StudySetup, cached: CachedSplits) -> PartlyOccludedClips:
    """The partly occluded clips of the validation query and gallery (one frame index space:
    the gallery's indices are shifted past the query's frames, see :func:`merged_validation`)."""
    cfg = compose_train(base_overrides(setup))
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    dataset = datamodule.dataset
    covered = synthetic_occlusions(OmegaConf.to_container(cfg.dataset, resolve=True))
    tracklets = [*dataset.val_query, *dataset.val_gallery]
    return partly_occluded_clips(
        merged_validation(cached), frame_masks(tracklets, covered), setup.recipe.seq_len
    )


def merged_validation(cached: CachedSplits) -> FrameFeatures:
    """The validation query and gallery features as one :class:`FrameFeatures`."""
    query, gallery = cached.splits["val_query"], cached.splits["val_gallery"]
    return FrameFeatures(
        rows=np.concatenate([query.rows, gallery.rows]),
        flipped=None,
        offsets=np.concatenate([query.offsets[:-1], len(query.rows) + gallery.offsets]),
        pids=np.concatenate([query.pids, gallery.pids]),
        camids=np.concatenate([query.camids, gallery.camids]),
    )


def probe_seed(setup: StudySetup, cached: CachedSplits, seed: int) -> dict[str, object]:
    """One seed's record: the probe of the untrained TGCN heads, of the trained TGCN and TFCN
    heads, and the trained heads' validation curves (to compare with the study's records)."""
    splits = cached.splits
    clips = validation_clips(setup, cached)
    validation = merged_validation(cached)
    channels, num_classes = splits["train"].rows.shape[-1], int(splits["train"].pids.max()) + 1
    record: dict[str, object] = {
        "seed": seed,
        "features": cached.key,
        "nodes": clips.frames.shape[1] * setup_patches(setup),
        "overrides": list(setup.overrides),
        "epochs": setup.recipe.epochs,
    }
    for key in PROBED:
        (variant,) = variants_by_key([key])
        torch.manual_seed(seed)
        model = build_heads(setup, variant, channels, num_classes)
        if key == PROBED[0]:
            record["untrained"] = asdict(probe(model, validation, clips))
        run = fit_heads(
            model,
            splits["train"],
            (splits["val_query"], splits["val_gallery"]),
            None,  # the probe reads validation only
            setup.recipe,
            seed,
        )
        record[key] = {
            **asdict(probe(model, validation, clips)),
            "val_curve": [{"epoch": e, "mAP": v} for e, v in run.curve],
        }
    return record


def setup_patches(setup: StudySetup) -> int:
    """``P_t`` of the study's model config."""
    return int(compose_train(base_overrides(setup)).model.tgcn_patches)


def _probe_in_worker(setup: StudySetup, seed: int) -> dict[str, object]:
    return probe_seed(setup, worker_splits(), seed)


def run_probes(setup: StudySetup, seeds: Sequence[int], folder: Path, jobs: int = 1) -> list[Path]:
    """Every missing ``seed<k>.json`` probe record in ``folder``, ``jobs`` seeds at a time."""
    todo = [s for s in seeds if not (folder / f"seed{s}.json").exists()]
    if not todo:
        return []
    written = []
    with worker_pool(setup, jobs) as pool:
        futures = [pool.submit(_probe_in_worker, setup, seed) for seed in todo]
        for future in tqdm(as_completed(futures), total=len(todo), desc="graph probe", unit="seed"):
            record = future.result()
            written.append(write_json(folder / f"seed{record['seed']}.json", record))
    return written


def read_probes(folder: Path) -> dict[int, dict[str, object]]:
    """Every probe record in ``folder`` by seed."""
    return {
        int(record["seed"]): record
        for record in (json.loads(p.read_text()) for p in sorted(folder.glob("seed*.json")))
    }

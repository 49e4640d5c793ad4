"""Train STGCN's branch heads on cached frozen-backbone features, and score them; or, on cached
``layer3`` maps, the backbone's last stage (``layer4``) with the heads.

The loop is written here rather than with Lightning: a run is a few thousand steps of a few
milliseconds on in-memory arrays, where the Trainer's per-step hooks, logging and checkpointing
would cost more than the step. A run that trains ``layer4`` takes an hour on a CPU, so it saves
its state now and then (:func:`fit_heads`'s ``partial``) and a killed run resumes to the same
bits. Clip sampling, P x K batching, the losses, test clips and ranking are the package's own.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from stgcn_reid.ablation.frozen.cache import FrameFeatures
from stgcn_reid.data.samplers import PKBatchSampler
from stgcn_reid.data.temporal import eval_clips, restricted_random
from stgcn_reid.errors import CheckpointError
from stgcn_reid.evaluation.rank import cmc_at, evaluate_rank
from stgcn_reid.losses import ReIDLoss
from stgcn_reid.models import STGCN, STGCNOutput
from stgcn_reid.utils.io import atomic_write


class CachedMaps(nn.Module):
    """Stands in for the backbone of an :class:`STGCN` fed through ``forward_maps``: it only
    tells the branches the channel count ``C``."""

    def __init__(self, out_channels: int, stride: int = 16) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, images: Tensor) -> Tensor:
        raise RuntimeError("CachedMaps has no weights: feed cached maps to STGCN.forward_maps")


class LastStage(nn.Module):
    """The backbone's last stage trained jointly with the branch heads, on cached maps of the
    frozen stages before it: ``forward_maps`` takes ``[B, T, C', h, w]`` ``layer3`` maps.

    This is the study's affordable form of joint training: every branch's loss reaches the
    shared ``layer4`` (the stage whose maps the branches read), while the early stages stay
    as pretrained.
    """

    def __init__(self, stage: nn.Module, heads: STGCN) -> None:
        super().__init__()
        self.stage = stage
        self.heads = heads

    def forward_maps(self, maps: Tensor) -> STGCNOutput:
        fmaps = self.stage(maps.flatten(0, 1))
        return self.heads.forward_maps(fmaps.unflatten(0, maps.shape[:2]))


@dataclass(frozen=True)
class HeadRecipe:
    """The heads' training budget (the study's own; the backbone is frozen, or all but its last
    stage, which then trains at ``stage_lr``)."""

    seq_len: int = 4
    num_identities: int = 8
    num_instances: int = 4
    flip_prob: float = 0.5
    epochs: int = 30
    val_every: int = 5
    lr: float = 1e-3
    stage_lr: float = 3e-4
    weight_decay: float = 5e-4
    lr_step: int = 20
    margin: float = 0.3


@dataclass
class HeadRun:
    """One trained head: its validation curve, the epoch chosen on it, the validation scores of
    that epoch (per-query APs left out), and its test scores. A run resumed from a partial
    state also says from which epoch, and how long its earlier attempts trained up to it."""

    curve: list[tuple[int, float]] = field(default_factory=list)
    chosen_epoch: int = 0
    val: dict[str, object] = field(default_factory=dict)
    test: dict[str, object] = field(default_factory=dict)
    resumed_from_epoch: int = 0
    earlier_s: float = 0.0


def as_maps(values: np.ndarray, cut: str = "rows") -> Tensor:
    """Cached float16 features -> float32 maps: ``[..., T, h, C]`` row means (cut ``rows``)
    -> ``[..., T, C, h, 1]``; ``[..., T, C, h, w]`` maps (cut ``layer3``) as they are."""
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
    return tensor if cut == "layer3" else tensor.transpose(-1, -2)[..., None]


def train_batches(
    train: FrameFeatures, recipe: HeadRecipe, seed: int, epoch: int
) -> list[tuple[Tensor, Tensor]]:
    """One epoch of ``(maps [B, T, C, h, 1], labels [B])`` batches: P x K tracklets, T frames
    each by restricted random sampling, each clip flipped with ``flip_prob`` (as training
    clips are)."""
    sampler = PKBatchSampler(train.pids, recipe.num_identities, recipe.num_instances, seed=seed)
    sampler.set_epoch(epoch)
    rng = np.random.default_rng([seed, epoch])
    batches = []
    for indices in sampler:
        clips = []
        for i in indices:
            start, n = int(train.offsets[i]), int(train.lengths[i])
            frames = start + restricted_random(n, recipe.seq_len, rng)
            source = train.flipped if train.flipped is not None else train.rows
            clips.append((source if rng.random() < recipe.flip_prob else train.rows)[frames])
        batches.append((as_maps(np.stack(clips), train.cut), torch.as_tensor(train.pids[indices])))
    return batches


@torch.inference_mode()
def embed_tracklets(
    model: STGCN | LastStage,
    features: FrameFeatures,
    seq_len: int,
    rule: str = "strided",
    chunk: int = 512,
) -> Tensor:
    """``[num_tracklets, D]`` test features: ``f_all`` of every clip of ``rule`` (every frame),
    averaged with the clip weights of :func:`~stgcn_reid.data.temporal.eval_clips`. Clips of
    many tracklets run in one forward pass (``chunk`` clips at a time)."""
    model.eval()
    clips, weights, owner = [], [], []
    for i in range(len(features)):
        frames, w = eval_clips(int(features.lengths[i]), seq_len, rule)
        clips.append(int(features.offsets[i]) + frames)
        weights.append(w)
        owner.append(np.full(len(w), i))
    frames, w, owner = np.concatenate(clips), np.concatenate(weights), np.concatenate(owner)
    embedding = torch.cat(
        [
            model.forward_maps(
                as_maps(features.rows[frames[start : start + chunk]], features.cut)
            ).embedding
            for start in range(0, len(frames), chunk)
        ]
    )
    weight = torch.as_tensor(w, dtype=embedding.dtype)[:, None]
    index = torch.as_tensor(owner)
    total = torch.zeros(len(features), embedding.shape[1]).index_add_(0, index, weight * embedding)
    norm = torch.zeros(len(features), 1).index_add_(0, index, weight)
    return total / norm


def retrieval(
    model: STGCN | LastStage, query: FrameFeatures, gallery: FrameFeatures, seq_len: int
) -> dict:
    """CMC, mAP and per-query AP of ``query`` against ``gallery`` (Euclidean ``f_all``, the
    default metric of ``conf/metric/default.yaml``); for a model of several branches also
    ``branches``: each branch's part of ``f_all`` scored on its own."""
    qf, gf = embed_tracklets(model, query, seq_len), embed_tracklets(model, gallery, seq_len)
    result = _scores(qf, gf, query, gallery)
    heads = model.heads if isinstance(model, LastStage) else model
    if len(heads.branches) > 1:
        parts = list(heads.branch_widths.items())
        bounds = np.cumsum([0, *(width for _, width in parts)])
        result["branches"] = {
            name: {
                k: v
                for k, v in _scores(qf[:, a:b], gf[:, a:b], query, gallery).items()
                if k != "all_AP"
            }
            for (name, _), a, b in zip(parts, bounds[:-1], bounds[1:], strict=True)
        }
    return result


def _scores(qf: Tensor, gf: Tensor, query: FrameFeatures, gallery: FrameFeatures) -> dict:
    result = evaluate_rank(
        torch.cdist(qf, gf),
        query.pids,
        gallery.pids,
        query.camids,
        gallery.camids,
        max_rank=min(50, len(gallery)),
    )
    return {
        "mAP": float(result["mAP"]),
        "rank1": cmc_at(result["cmc"], 1),
        "rank5": cmc_at(result["cmc"], 5),
        "all_AP": [float(x) for x in result["all_AP"]],
    }


def parameter_groups(model: STGCN | LastStage, recipe: HeadRecipe) -> list[dict]:
    """Adam's parameter groups: the heads at ``lr``, a trained last stage at ``stage_lr``."""
    if isinstance(model, LastStage):
        return [
            {"params": list(model.heads.parameters())},
            {"params": list(model.stage.parameters()), "lr": recipe.stage_lr},
        ]
    return [{"params": list(model.parameters())}]


def fit_heads(
    model: STGCN | LastStage,
    train: FrameFeatures,
    val: tuple[FrameFeatures, FrameFeatures],
    test: tuple[FrameFeatures, FrameFeatures] | None,
    recipe: HeadRecipe,
    seed: int,
    partial: Path | None = None,
    save_every_s: float = 60.0,
) -> HeadRun:
    """Train ``model``'s heads (eq. 8-9), keep the weights of the best validation mAP, then
    test those once (``test=None``: leave the test split unread, ``HeadRun.test`` empty).

    With ``partial``, the training state is saved there at the end of an epoch once
    ``save_every_s`` have passed since the last save, a run finds it there and goes on from
    it, and it is removed when the run ends. A killed run so loses at most that long plus an
    epoch, and resumes to the bits of a run that was never killed: batches depend on (seed,
    epoch) only, and the state holds everything else that changes.
    """
    loss = ReIDLoss(margin=recipe.margin)
    optimizer = torch.optim.Adam(
        parameter_groups(model, recipe), recipe.lr, weight_decay=recipe.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, recipe.lr_step, gamma=0.1)
    run, best, best_state = HeadRun(), -1.0, copy.deepcopy(model.state_dict())
    if partial is not None and partial.is_file():
        run, best, best_state = _resume(partial, model, optimizer, scheduler)
    started = saved = time.monotonic()
    for epoch in range(run.resumed_from_epoch, recipe.epochs):
        model.train()
        for maps, labels in train_batches(train, recipe, seed, epoch):
            optimizer.zero_grad(set_to_none=True)
            loss(model.forward_maps(maps), labels)["total"].backward()
            optimizer.step()
        scheduler.step()
        if (epoch + 1) % recipe.val_every == 0 or epoch + 1 == recipe.epochs:
            scores = retrieval(model, *val, recipe.seq_len)
            value = scores["mAP"]
            run.curve.append((epoch + 1, value))
            if value > best:
                best, run.chosen_epoch = value, epoch + 1
                run.val = {k: v for k, v in scores.items() if k != "all_AP"}
                best_state = copy.deepcopy(model.state_dict())
        if partial is not None and time.monotonic() - saved >= save_every_s:
            trained_s = run.earlier_s + time.monotonic() - started
            state = _training_state(
                epoch + 1, trained_s, run, best, best_state, model, optimizer, scheduler
            )
            atomic_write(partial, lambda handle, state=state: torch.save(state, handle))
            saved = time.monotonic()
    model.load_state_dict(best_state)
    if test is not None:
        run.test = retrieval(model, *test, recipe.seq_len)
    if partial is not None:
        partial.unlink(missing_ok=True)
    return run


def _training_state(
    epochs_done: int,
    trained_s: float,
    run: HeadRun,
    best: float,
    best_state: dict[str, Tensor],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> dict[str, Any]:
    """Everything of a run in progress after ``epochs_done`` epochs (``trained_s`` seconds of
    training) that its next epochs depend on: tensors and plain containers, so that it loads
    with ``weights_only=True``."""
    return {
        "run": {**asdict(run), "resumed_from_epoch": epochs_done, "earlier_s": trained_s},
        "best": best,
        "best_state": best_state,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),  # for any module that draws (none does today)
    }


def _resume(
    partial: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> tuple[HeadRun, float, dict[str, Tensor]]:
    """Load the :func:`_training_state` saved at ``partial`` into the run's objects; the run as
    it stood, its best validation mAP and the weights of that epoch."""
    try:
        state = torch.load(partial, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        run = HeadRun(**state["run"])
    except Exception as err:  # unreadable, or saved by other code: the run cannot go on
        raise CheckpointError(
            f"cannot resume the run saved in {partial} ({err!r}); delete it to start the run over"
        ) from err
    return run, state["best"], state["best_state"]

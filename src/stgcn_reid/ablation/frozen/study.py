"""The frozen-feature study: every Table 3-4 variant's heads on the same cached features of a
pretrained, frozen backbone, over many seeds, each GCN paired with its FCN twin. With
``trainable="layer4"`` the backbone's last stage trains with the heads (on cached ``layer3``
maps): the last-stage study, this machine's affordable form of joint training.

With the backbone fixed, a variant differs from its twin only by Â (eq. 2-4), so the paired
difference isolates Table 4's question: does the graph do more than ``Y = XW`` on the same
features? Each finished run is a small JSON record (scores, per-query AP, validation curve),
committed beside the report, so the study resumes by run on any machine and the report is
rebuilt from the records alone.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from stgcn_reid.ablation.frozen.cache import FrameFeatures, cache_key, extract_split, frozen_part
from stgcn_reid.ablation.frozen.heads import CachedMaps, HeadRecipe, LastStage, fit_heads
from stgcn_reid.ablation.frozen.report import read_records
from stgcn_reid.ablation.occlusion import occluded_tracklets
from stgcn_reid.ablation.study import DIAGNOSTICS, VARIANTS, Variant
from stgcn_reid.errors import StudyRecordsError
from stgcn_reid.models import STGCN
from stgcn_reid.utils.config import CONFIG_DIR
from stgcn_reid.utils.io import json_digest, write_json
from stgcn_reid.utils.machine import machine_description
from stgcn_reid.utils.processes import exit_with_parent

log = logging.getLogger(__name__)

#: The cached splits: training frames (with their flips), validation and test query / gallery.
SPLITS: tuple[str, ...] = ("train", "val_query", "val_gallery", "query", "gallery")


@dataclass(frozen=True)
class StudySetup:
    """What every run of one study shares: the data, the frozen backbone, the heads' recipe,
    what trains (``heads``: the branch heads on a frozen backbone; ``layer4``: the backbone's
    last stage too)."""

    dataset: str = "synthetic_hard"
    height: int = 128
    width: int = 64
    weights: str = ""
    recipe: HeadRecipe = field(default_factory=HeadRecipe)
    overrides: tuple[str, ...] = ()
    trainable: str = "heads"

    def __post_init__(self) -> None:
        if self.trainable not in TRAINABLE:
            raise ValueError(f"trainable={self.trainable!r}; expected one of {list(TRAINABLE)}")

    @property
    def cut(self) -> str:
        """The cut of the backbone that the study caches (:data:`~.cache.CUTS`)."""
        return TRAINABLE[self.trainable]


#: What a study trains -> the cut of the backbone it caches.
TRAINABLE: dict[str, str] = {"heads": "rows", "layer4": "layer3"}


def compose_train(overrides: Sequence[str]) -> DictConfig:
    """``conf/train.yaml`` with ``overrides`` (the study builds its data and models from it)."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        return compose("train", overrides=list(overrides))


def pretrained_weights(overrides: Sequence[str] = ()) -> Path:
    """Where ``python -m stgcn_reid.train experiment=pretrain <overrides>`` writes its weights."""
    cfg = compose_train(["experiment=pretrain", *overrides])
    return Path(cfg.callbacks.backbone_export.path)


def base_overrides(setup: StudySetup) -> list[str]:
    """The training config of the study's data and backbone (variants add their own)."""
    return [
        f"dataset={setup.dataset}",
        f"data.height={setup.height}",
        f"data.width={setup.width}",
        f"data.seq_len={setup.recipe.seq_len}",
        f"backbone.weights_path={setup.weights}",
        *setup.overrides,
    ]


@dataclass(frozen=True)
class CachedSplits:
    """Every split's features, the cache key that names them (weights, data, input), and the
    folder where runs on them keep their partial state (beside the cache, not in it: the
    cache holds only what the backbone made)."""

    key: str
    splits: Mapping[str, FrameFeatures]
    partial_dir: Path


def load_splits(setup: StudySetup, records: Path | None = None) -> CachedSplits:
    """Every split's cached features, extracted first where missing (resumable by split);
    with ``records``, first :func:`check_records` against them."""
    cfg = compose_train(base_overrides(setup))
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_once()
    datamodule.setup("fit")
    dataset = datamodule.dataset
    backbone = frozen_part(hydra.utils.instantiate(cfg.backbone), setup.cut)
    key = cache_key(
        Path(setup.weights), dataset.name, setup.height, setup.width, cfg.backbone.arch, setup.cut
    )
    if records is not None:
        check_records(records, setup, key)
    folder = Path(cfg.paths.data_dir) / "frozen-features" / key
    tracklets = {
        "train": dataset.train,
        "val_query": dataset.val_query,
        "val_gallery": dataset.val_gallery,
        "query": dataset.query,
        "gallery": dataset.gallery,
    }
    splits = {
        name: extract_split(
            backbone,
            tracklets[name],
            folder / name,
            setup.height,
            setup.width,
            flips=name == "train",
            desc=f"frozen features ({setup.cut}): {name}",
            cut=setup.cut,
        )
        for name in SPLITS
    }
    return CachedSplits(key, splits, Path(cfg.paths.data_dir) / "frozen-partial" / key)


def build_heads(setup: StudySetup, variant: Variant, channels: int, num_classes: int) -> STGCN:
    """The variant's STGCN on :class:`CachedMaps` (the heads; the backbone stays frozen)."""
    cfg = compose_train([*base_overrides(setup), *variant.overrides])
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    model_cfg.pop("backbone")
    return hydra.utils.instantiate(
        model_cfg, backbone=CachedMaps(channels), num_classes=num_classes
    )


def build_model(setup: StudySetup, variant: Variant, num_classes: int) -> STGCN | LastStage:
    """What a run trains: the variant's heads, behind the pretrained ``layer4`` where that
    trains too."""
    cfg = compose_train([*base_overrides(setup), *variant.overrides])
    backbone = hydra.utils.instantiate(cfg.backbone)
    heads = build_heads(setup, variant, backbone.out_channels, num_classes)
    return LastStage(backbone.layer4, heads) if setup.trainable == "layer4" else heads


def record_path(records: Path, variant: str, seed: int) -> Path:
    return records / variant / f"seed{seed}.json"


def setup_record(setup: StudySetup) -> dict[str, Any]:
    """The setup as a record holds it (JSON types; the weights by file name)."""
    return json.loads(json.dumps({**asdict(setup), "weights": Path(setup.weights).name}))


def _differences(
    recorded: Mapping[str, Any], current: Mapping[str, Any], at: str = ""
) -> list[str]:
    # A key the record lacks predates its option, whose only value was then today's default.
    found = []
    for key, value in recorded.items():
        now = current.get(key)
        if isinstance(value, dict) and isinstance(now, dict):
            found += _differences(value, now, f"{at}{key}.")
        elif value != now:
            found.append(f"{at}{key}: {value!r} there, {now!r} now")
    return found


def check_records(records: Path, setup: StudySetup, key: str) -> None:
    """Refuse to resume a study whose finished runs were made by another setup or on other
    features (weights, data or input): one records folder holds one study, so its runs pair."""
    current = {"setup": setup_record(setup), "features": key}
    for variant, runs in read_records(records).items():
        for seed, recorded in runs.items():
            found = _differences({k: recorded.get(k) for k in current}, current)
            if found:
                raise StudyRecordsError(
                    f"{record_path(records, variant, seed)} belongs to another study "
                    f"({'; '.join(found)}): finish it with its own setup, or give this one "
                    "other --records and --out"
                )


def partial_path(setup: StudySetup, cached: CachedSplits, variant: str, seed: int) -> Path:
    """Where a run in progress keeps its training state: machine-local, like the features it
    trains on, and named by the setup's digest, so that a run resumes only a run of its own
    setup."""
    return cached.partial_dir / variant / f"seed{seed}-{json_digest(setup_record(setup))}.pt"


def run_one(setup: StudySetup, cached: CachedSplits, variant: Variant, seed: int) -> dict[str, Any]:
    """Train and test one variant's heads at one seed; the record that the report reads. A
    killed run goes on from its partial state (:func:`partial_path`) when it runs again."""
    splits = cached.splits
    torch.manual_seed(seed)
    started = time.perf_counter()
    num_classes = int(splits["train"].pids.max()) + 1
    model = build_model(setup, variant, num_classes)
    run = fit_heads(
        model,
        splits["train"],
        (splits["val_query"], splits["val_gallery"]),
        (splits["query"], splits["gallery"]),
        setup.recipe,
        seed,
        partial_path(setup, cached, variant.key, seed),
    )
    return {
        "variant": variant.key,
        "seed": seed,
        "val_curve": [{"epoch": e, "mAP": v} for e, v in run.curve],
        "chosen_epoch": run.chosen_epoch,
        "val": run.val,
        "test": run.test,
        "trained_parameters": sum(p.numel() for p in model.parameters()),
        "wall_s": run.earlier_s + time.perf_counter() - started,
        "resumed_from_epoch": run.resumed_from_epoch,
        "machine": machine_description(),
        "setup": setup_record(setup),
        "features": cached.key,
    }


#: The cached splits of a worker process (loaded once per worker by :func:`_init_worker`).
_WORKER: dict[str, CachedSplits] = {}


def _init_worker(setup: StudySetup) -> None:
    exit_with_parent()  # a killed study must not leave its runs training on
    # One thread per worker: the heads' small matrix products scale badly over threads, and
    # two single-threaded runs side by side use both cores fully.
    torch.set_num_threads(1)
    _WORKER["cached"] = load_splits(setup)


def worker_splits() -> CachedSplits:
    """The cached splits of this worker process of :func:`worker_pool`."""
    return _WORKER["cached"]


def worker_pool(setup: StudySetup, jobs: int, records: Path | None = None) -> ProcessPoolExecutor:
    """``jobs`` spawned worker processes, each with the study's cached splits loaded once
    (extract what is missing first, in this process, so that workers only read). With
    ``records``, the study's finished runs must share this setup and features (checked before
    anything is extracted)."""
    load_splits(setup, records)
    return ProcessPoolExecutor(
        jobs, mp_context=mp.get_context("spawn"), initializer=_init_worker, initargs=(setup,)
    )


def _run_in_worker(setup: StudySetup, variant: Variant, seed: int) -> dict[str, Any]:
    return run_one(setup, worker_splits(), variant, seed)


def run_study(
    setup: StudySetup,
    variants: Sequence[Variant],
    seeds: Sequence[int],
    records: Path,
    jobs: int = 1,
) -> tuple[list[Path], list[str]]:
    """Every missing (variant, seed) record, ``jobs`` runs at a time in worker processes;
    finished ones are kept (the study resumes). A run that fails is logged and the others go
    on. Returns the records written and the runs that failed (``variant/seed<k>: error``)."""
    todo = [(v, s) for s in seeds for v in variants if not record_path(records, v.key, s).exists()]
    if not todo:
        return [], []
    written, failed = [], []
    with worker_pool(setup, jobs, records) as pool:
        futures = {pool.submit(_run_in_worker, setup, v, s): f"{v.key}/seed{s}" for v, s in todo}
        progress = tqdm(as_completed(futures), total=len(todo), desc="frozen heads", unit="run")
        for future in progress:
            try:
                record = future.result()
            except Exception as err:  # one run's failure must not lose the others
                log.error("%s failed: %r", futures[future], err)
                failed.append(f"{futures[future]}: {err!r}")
                continue
            written.append(
                write_json(record_path(records, record["variant"], record["seed"]), record)
            )
            # validation, not test: a study's test numbers are read once it is complete
            chosen = record["val"].get("mAP", float("nan"))
            progress.set_postfix_str(
                f"{record['variant']} seed {record['seed']}: validation mAP {100 * chosen:.2f}"
            )
    return written, failed


def variants_by_key(keys: Sequence[str]) -> list[Variant]:
    known = {v.key: v for v in (*VARIANTS, *DIAGNOSTICS)}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; expected some of {list(known)}")
    return [known[k] for k in keys]


def occluded_queries(setup: StudySetup, num_queries: int) -> np.ndarray:
    """Per test query (in the dataset's query order), whether an occluder covers it."""
    cfg = compose_train(base_overrides(setup))
    # Queries come first in the evaluation order that occluded_tracklets follows.
    return occluded_tracklets(OmegaConf.to_container(cfg.dataset, resolve=True))[:num_queries]

"""The Lightning DataModule: a dataset by name, P x K training batches, sharded evaluation clips.

Validation runs on a split of its own (``val_split``), never on the test split: the test
query / gallery is read only by :meth:`ReIDDataModule.test_dataloader`.

Run the Trainer with ``use_distributed_sampler=False``: the samplers here are already
DDP-aware, and Lightning's DistributedSampler would both break the P x K structure and pad the
test set with repeated tracklets.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.rank_zero import rank_zero_only
from torch import Tensor
from torch.utils.data import DataLoader

from stgcn_reid.data.clips import Sampling, TestClips, TrainClips
from stgcn_reid.data.datasets import Tracklet, VideoReIDDataset, build_dataset
from stgcn_reid.data.datasets.checks import check_evaluation_split
from stgcn_reid.data.datasets.validation import hold_out_validation
from stgcn_reid.data.decoded import DecodedFrames
from stgcn_reid.data.samplers import EpochMode, PKBatchSampler, ShardSampler
from stgcn_reid.data.transforms import build_test_transform, build_train_transform
from stgcn_reid.errors import DatasetError


@dataclass(frozen=True)
class EvalTracklets:
    """The distinct query and gallery tracklets, each with its role.

    MARS's official gallery contains the queries, so a tracklet can be both; it is then
    extracted once. ``track`` in a test batch indexes :attr:`tracklets`.
    """

    tracklets: list[Tracklet]
    is_query: Tensor  # bool [N]
    in_gallery: Tensor  # bool [N]

    @classmethod
    def merge(cls, query: list[Tracklet], gallery: list[Tracklet]) -> EvalTracklets:
        """Queries first, then the gallery tracklets that are not queries (equal by value)."""
        position: dict[Tracklet, int] = {}
        for tracklet in [*query, *gallery]:
            position.setdefault(tracklet, len(position))
        is_query = torch.zeros(len(position), dtype=torch.bool)
        in_gallery = torch.zeros(len(position), dtype=torch.bool)
        is_query[[position[t] for t in query]] = True
        in_gallery[[position[t] for t in gallery]] = True
        return cls(list(position), is_query, in_gallery)


def local_rank() -> int:
    """This process's rank on its node, from the launcher's environment (0 without one)."""
    for variable in ("LOCAL_RANK", "SLURM_LOCALID"):
        if variable in os.environ:
            return int(os.environ[variable])
    return 0


class _EpochBroadcast:
    """The training DataLoader's batch sampler: forwards ``set_epoch``, and can start mid-epoch.

    Lightning's fit loop calls ``set_epoch`` on ``dataloader.sampler`` and on
    ``dataloader.batch_sampler.sampler`` only (``lightning_fabric.utilities.data.
    _set_sampler_epoch``), neither on a batch sampler nor on the dataset. This object is its
    own ``sampler``, so that call lands here and reaches the P x K plan and the per-item seeds.

    Iteration begins at batch ``start`` of the epoch's plan (0 but when
    :class:`ResumableLoader` resumes an epoch).
    """

    def __init__(self, batches: PKBatchSampler, clips: TrainClips) -> None:
        self.batches = batches
        self.clips = clips
        self.start = 0

    @property
    def sampler(self) -> _EpochBroadcast:
        return self

    @property
    def epoch(self) -> int:
        return self.clips.epoch

    def set_epoch(self, epoch: int) -> None:
        self.batches.set_epoch(epoch)
        self.clips.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        # The plan is a function of (seed, epoch) alone, so skipping its first batches
        # reproduces exactly what the interrupted pass would have yielded next.
        return itertools.islice(iter(self.batches), self.start, None)

    def __len__(self) -> int:
        return len(self.batches)


class ResumableLoader(DataLoader):
    """The training DataLoader, which a checkpoint taken inside an epoch resumes exactly.

    Lightning stores ``state_dict()`` of a stateful training loader in every checkpoint and,
    when it restarts inside an epoch, calls ``load_state_dict`` before iterating again
    (``pytorch_lightning.loops.fit_loop._FitLoop``); a plain DataLoader would replay the epoch
    from its first batch. The state is the epoch and the number of batches handed to the
    training loop. They are counted here, where batches leave the loader, and not in the batch
    sampler, which DataLoader workers read ahead of the training loop.

    Needs ``batch_sampler`` to be an :class:`_EpochBroadcast`.
    """

    batch_sampler: _EpochBroadcast
    _delivered = 0  # batches of the current epoch handed out (including skipped ones)

    def __iter__(self) -> Iterator[Any]:
        # A generator: the underlying iterator (and with it the workers' first batches) is only
        # created at the first next(), after Lightning's set_epoch for the epoch.
        self._delivered = self.batch_sampler.start
        batches = super().__iter__()  # iterates the batch sampler, from `start`
        self.batch_sampler.start = 0  # the next pass is a whole epoch
        for batch in batches:
            self._delivered += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.batch_sampler.epoch, "batches": self._delivered}

    def load_state_dict(self, state_dict: Mapping[str, int]) -> None:
        """Continue epoch ``state_dict["epoch"]`` after its first ``state_dict["batches"]``."""
        total = len(self.batch_sampler)
        if not 0 <= state_dict["batches"] <= total:
            raise ValueError(
                f"the checkpoint's training loader stopped after {state_dict['batches']} batches, "
                f"but an epoch now has {total}: the data or data.num_identities changed since"
            )
        self.batch_sampler.set_epoch(state_dict["epoch"])
        self.batch_sampler.start = self._delivered = state_dict["batches"]


log = logging.getLogger(__name__)
SYNTHETIC = "synthetic"
EvalSplit = Literal["val", "test"]
#: ``val_split`` values besides a fraction: the dataset's own validation split, or none.
OWN_VALIDATION = "dataset"
NO_VALIDATION = ("none", None)


class ReIDDataModule(pl.LightningDataModule):
    """Training clips in P x K batches; validation clips of the validation query + gallery, test
    clips of the test query + gallery.

    The training loader is a :class:`ResumableLoader`: a checkpoint taken inside an epoch
    continues that epoch at the next batch.

    Train batch: ``{"clips": float [B, T, 3, H, W], "pid": long [B], "camid": long [B]}`` with
    ``B = P x K``. Val/test batch: the same plus ``"track"`` (long, index into
    :attr:`val_tracklets` / :attr:`test_tracklets`), ``"weight"`` (float, the clip's weight in
    its tracklet's mean), ``"is_query"`` and ``"in_gallery"`` (bool); a tracklet's clips sit on
    one rank, consecutively.

    Args:
        dataset: keyword arguments of :func:`~stgcn_reid.data.datasets.build_dataset`
            (``name``, ``root`` and the dataset's own options).
        seq_len: frames per clip, T.
        height, width: input size.
        num_identities: identities per training batch and rank, P.
        num_instances: tracklets per identity, K.
        epoch_mode: ``"identities"`` or ``"tracklets"`` (see :class:`PKBatchSampler`).
        val_split: where validation comes from: ``"dataset"`` (the dataset's own validation
            identities, e.g. the synthetic benchmark's), a fraction in ``(0, 1)`` of the
            training identities held out (:func:`~stgcn_reid.data.datasets.validation.
            hold_out_validation`), or ``"none"`` (no validation; the last checkpoint is tested).
        val_seed: seed of the held-out identities (fixed across training seeds).
        val_sampling, test_sampling: a rule of :func:`~stgcn_reid.data.temporal.eval_clips`:
            ``"evenly"`` (one clip per tracklet), ``"strided"`` or ``"consecutive"``.
        test_batch_size: clips per validation/test batch.
        num_workers, pin_memory, persistent_workers: DataLoader settings.
        flip_prob, random_erasing: training augmentation probabilities.
        skip_corrupt: replace unreadable frames by a neighbour (with a warning).
        cache_frames: decode every training frame once, when the training loader is built,
            and keep them in memory (:class:`~stgcn_reid.data.decoded.DecodedFrames`; read from
            disk, with a warning, if they need more than half the memory available).
        seed: seed of the batch plan and of every random clip.
    """

    def __init__(
        self,
        dataset: Mapping[str, Any],
        seq_len: int = 8,
        height: int = 256,
        width: int = 128,
        num_identities: int = 16,
        num_instances: int = 4,
        epoch_mode: EpochMode = "identities",
        val_split: str | float | None = None,
        val_seed: int = 0,
        val_sampling: Sampling = "evenly",
        test_sampling: Sampling = "strided",
        test_batch_size: int = 32,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        flip_prob: float = 0.5,
        random_erasing: float = 0.0,
        skip_corrupt: bool = False,
        cache_frames: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if "name" not in dataset or "root" not in dataset:
            raise ValueError(f"data.dataset needs 'name' and 'root', got keys {sorted(dataset)}")
        choices = {
            "epoch_mode": (epoch_mode, get_args(EpochMode)),
            "val_sampling": (val_sampling, get_args(Sampling)),
            "test_sampling": (test_sampling, get_args(Sampling)),
        }
        for key, (value, allowed) in choices.items():
            if value not in allowed:
                raise ValueError(f"data.{key}={value!r}; expected one of {allowed}")
        if not (
            val_split in (OWN_VALIDATION, *NO_VALIDATION)
            or (isinstance(val_split, float) and 0.0 < val_split < 1.0)
        ):
            raise ValueError(
                f"data.val_split={val_split!r}; expected {OWN_VALIDATION!r}, 'none' or a "
                "fraction in (0, 1) of the training identities"
            )
        self.save_hyperparameters(logger=False)
        self.dataset_options = dict(dataset)
        self._dataset: VideoReIDDataset | None = None
        self._val_tracklets: EvalTracklets | None = None
        self._test_tracklets: EvalTracklets | None = None
        self._decoded: DecodedFrames | None = None

    def prepare_data(self) -> None:
        """Generate the synthetic benchmark if it is not cached yet (the real datasets need no
        preparation). Lightning calls this on one process per node while the others wait;
        before a Trainer exists, :meth:`prepare_once` does the same."""
        if self.dataset_options["name"] == SYNTHETIC:
            from stgcn_reid.data.synthetic.load import prepare_synthetic

            prepare_synthetic(**self._synthetic_options())

    def prepared(self) -> bool:
        """Whether :meth:`prepare_data` has nothing left to do."""
        if self.dataset_options["name"] != SYNTHETIC:
            return True
        from stgcn_reid.data.synthetic.load import synthetic_ready

        options = self._synthetic_options()
        options.pop("workers", None)
        return synthetic_ready(**options)

    def prepare_once(self, timeout_s: float = 3600.0, poll_s: float = 1.0) -> None:
        """:meth:`prepare_data` on local rank 0 only, the other ranks of the node waiting for it.

        Training needs the data before the Trainer (and its process group) exists, to size the
        classifier; under torchrun or SLURM every rank starts at once, so the other ranks poll
        :meth:`prepared` instead of meeting at a barrier (there is none yet).
        """
        if local_rank() == 0:
            self.prepare_data()
            return
        deadline = time.monotonic() + timeout_s
        while not self.prepared():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"local rank {local_rank()}: the data of local rank 0 was not ready after "
                    f"{timeout_s:.0f} s ({self.dataset_options})"
                )
            time.sleep(poll_s)

    def _synthetic_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.dataset_options.items() if k != "name"}

    def setup(self, stage: str | None = None) -> None:
        """Index the dataset (once) and, for fitting, check that it can fill P x K batches."""
        dataset = self.dataset  # indexed on the first call only
        if stage in (None, "fit"):
            self._check_identities(dataset)

    @property
    def dataset(self) -> VideoReIDDataset:
        """The dataset with its validation split, indexed on first use (all ranks index it; it
        is metadata only)."""
        if self._dataset is None:
            loaded = build_dataset(**self.dataset_options, log_summary=False)
            self._dataset = self._with_validation(loaded)
            if rank_zero_only.rank == 0:
                log.info("%s", self._dataset.summary())
        return self._dataset

    def _with_validation(self, dataset: VideoReIDDataset) -> VideoReIDDataset:
        split = self.hparams.val_split
        if split == OWN_VALIDATION:
            if not dataset.has_validation:
                raise DatasetError(
                    f"data.val_split={OWN_VALIDATION}: {dataset.name} has no validation split "
                    "of its own; hold out training identities (e.g. data.val_split=0.1) or "
                    "set data.val_split=none"
                )
            return dataset
        if split in NO_VALIDATION:
            return VideoReIDDataset(dataset.name, dataset.train, dataset.query, dataset.gallery)
        return hold_out_validation(dataset, float(split), self.hparams.val_seed)

    @property
    def has_validation(self) -> bool:
        """Whether there is a validation split (else no validation runs)."""
        return self.dataset.has_validation

    @property
    def val_tracklets(self) -> EvalTracklets:
        """The distinct validation query and gallery tracklets that val batches index."""
        if self._val_tracklets is None:
            self._val_tracklets = EvalTracklets.merge(*self.query_and_gallery("val"))
        return self._val_tracklets

    def query_and_gallery(self, split: EvalSplit) -> tuple[list[Tracklet], list[Tracklet]]:
        """The query and gallery tracklets of the validation or test split."""
        if split == "test":
            return self.dataset.query, self.dataset.gallery
        if not self.has_validation:
            raise RuntimeError(
                f"{self.dataset.name} has no validation split (data.val_split="
                f"{self.hparams.val_split}); run the Trainer with limit_val_batches=0"
            )
        return self.dataset.val_query, self.dataset.val_gallery

    def check_evaluation(self, splits: Sequence[EvalSplit]) -> None:
        """Check from the metadata, before any training step, that ``splits`` can be evaluated
        (:func:`~stgcn_reid.data.datasets.checks.check_evaluation_split`)."""
        for split in splits:
            check_evaluation_split(f"{self.dataset.name} {split}", *self.query_and_gallery(split))

    @property
    def test_tracklets(self) -> EvalTracklets:
        """The distinct test query and gallery tracklets that test batches index."""
        if self._test_tracklets is None:
            self._test_tracklets = EvalTracklets.merge(self.dataset.query, self.dataset.gallery)
        return self._test_tracklets

    @property
    def num_classes(self) -> int:
        """Training identities (the classifier's output size)."""
        return self.dataset.num_train_pids

    def train_dataloader(self) -> DataLoader:
        self._check_identities(self.dataset)
        rank, world_size = self._rank_and_world()
        h = self.hparams
        clips = TrainClips(
            self.dataset.train,
            h.seq_len,
            build_train_transform(h.height, h.width, h.flip_prob, h.random_erasing),
            seed=h.seed,
            skip_corrupt=h.skip_corrupt,
            read=self.decoded_frames().read if h.cache_frames else None,
        )
        batches = PKBatchSampler(
            [t.pid for t in self.dataset.train],
            h.num_identities,
            h.num_instances,
            rank=rank,
            world_size=world_size,
            seed=h.seed,
            epoch_mode=h.epoch_mode,
        )
        return ResumableLoader(
            clips, batch_sampler=_EpochBroadcast(batches, clips), **self._workers()
        )

    def decoded_frames(self) -> DecodedFrames:
        """The training frames in memory (``cache_frames``), decoded on the first call; each
        training process of the node gets its share of the memory available."""
        if self._decoded is None:
            self._decoded = DecodedFrames(
                [f for t in self.dataset.train for f in t.frames],
                processes=self.trainer.num_devices if self.trainer is not None else 1,
                progress=local_rank() == 0,
            )
        return self._decoded

    def val_dataloader(self) -> DataLoader:
        return self.eval_dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.eval_dataloader("test")

    def eval_tracklets(self, split: EvalSplit) -> EvalTracklets:
        """:attr:`val_tracklets` or :attr:`test_tracklets`."""
        if split not in get_args(EvalSplit):
            raise ValueError(f"split must be one of {get_args(EvalSplit)}, got {split!r}")
        return self.val_tracklets if split == "val" else self.test_tracklets

    def eval_dataloader(self, split: EvalSplit, sampling: Sampling | None = None) -> DataLoader:
        """Clips of the validation or test query + gallery, by ``sampling`` (default: the
        split's own rule, ``val_sampling`` or ``test_sampling``)."""
        h = self.hparams
        evaluated = self.eval_tracklets(split)
        sampling = sampling or (h.val_sampling if split == "val" else h.test_sampling)
        clips = TestClips(
            evaluated.tracklets,
            h.seq_len,
            build_test_transform(h.height, h.width),
            sampling=sampling,
            extras={"is_query": evaluated.is_query, "in_gallery": evaluated.in_gallery},
            skip_corrupt=h.skip_corrupt,
        )
        rank, world_size = self._rank_and_world()
        shard = ShardSampler(len(clips), rank, world_size, group_sizes=clips.clips_per_tracklet)
        return DataLoader(clips, batch_size=h.test_batch_size, sampler=shard, **self._workers())

    def _workers(self) -> dict[str, Any]:
        h = self.hparams
        return {
            "num_workers": h.num_workers,
            # Pinning only helps host-to-GPU copies; without CUDA it just warns.
            "pin_memory": h.pin_memory and torch.cuda.is_available(),
            "persistent_workers": h.persistent_workers and h.num_workers > 0,
        }

    def _rank_and_world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def _check_identities(self, dataset: VideoReIDDataset) -> None:
        _, world_size = self._rank_and_world()
        needed = self.hparams.num_identities * world_size
        if needed > dataset.num_train_pids:
            raise ValueError(
                f"data.num_identities={self.hparams.num_identities} (P) x {world_size} "
                f"rank(s) needs {needed} training identities per step, but {dataset.name} "
                f"has {dataset.num_train_pids}; lower data.num_identities"
            )

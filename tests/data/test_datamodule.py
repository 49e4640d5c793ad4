"""ReIDDataModule end to end on a tiny DukeMTMC-VideoReID tree, and the dataset factory."""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from stgcn_reid.data.datamodule import EvalTracklets, ReIDDataModule, ResumableLoader
from stgcn_reid.data.datasets import DatasetError, Tracklet, build_dataset

from .trees import make_duke_tree

# Six training identities with 2..5 tracklets; three queries, each also in gallery/.
TRAIN = [
    (pid, 1 + t % 8, f"{t:04d}", 3 + (pid + t) % 5)
    for pid in range(1, 7)
    for t in range(2 + pid % 4)
]
QUERY = [(20, 1, "0001", 5), (21, 2, "0001", 9), (22, 3, "0001", 2)]
GALLERY = [*QUERY, (20, 4, "0002", 6), (21, 5, "0002", 3), (22, 6, "0002", 4), (900, 7, "0001", 5)]
T = 4


@pytest.fixture(scope="module")
def duke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("DukeV")
    return make_duke_tree(root, {"train": TRAIN, "query": QUERY, "gallery": GALLERY})


def datamodule(root: Path, **overrides) -> ReIDDataModule:
    options = {
        "seq_len": T,
        "height": 32,
        "width": 16,
        "num_identities": 2,
        "num_instances": 3,
        "test_batch_size": 5,
        "num_workers": 0,
        "pin_memory": False,
    }
    return ReIDDataModule({"name": "dukemtmc_video", "root": str(root)}, **(options | overrides))


def test_train_batches_are_p_by_k_clips(duke: Path) -> None:
    dm = datamodule(duke)
    dm.setup("fit")
    assert dm.num_classes == 6
    loader = dm.train_dataloader()
    assert len(loader) == 3  # 6 identities, 2 per batch
    batches = list(loader)
    assert len(batches) == 3
    for batch in batches:
        assert batch["clips"].shape == (6, T, 3, 32, 16)
        assert batch["clips"].dtype == torch.float32
        assert batch["pid"].dtype == batch["camid"].dtype == torch.long
        pids = batch["pid"].view(2, 3)
        assert (pids == pids[:, :1]).all() and pids[0, 0] != pids[1, 0]
    assert {int(p) for b in batches for p in b["pid"]} == set(range(6))


def test_val_and_test_batches_carry_tracks_and_roles(duke: Path) -> None:
    dm = datamodule(duke, val_split=0.34)  # 2 of the 6 training identities
    dm.setup("validate")
    evaluated = dm.test_tracklets
    assert len(evaluated.tracklets) == 3 + 4  # query copies left out of the gallery
    assert evaluated.is_query.tolist() == [True] * 3 + [False] * 4
    assert evaluated.in_gallery.tolist() == [False] * 3 + [True] * 4

    validation = dm.val_tracklets
    assert validation.is_query.sum() == 2  # one query per validation identity
    val = list(dm.val_dataloader())
    assert torch.cat([b["track"] for b in val]).tolist() == list(range(len(validation.tracklets)))
    batch = val[0]
    assert batch["clips"].shape == (5, T, 3, 32, 16)
    assert batch["track"].dtype == torch.long
    assert batch["is_query"].dtype == batch["in_gallery"].dtype == torch.bool
    assert torch.equal(batch["is_query"], validation.is_query[batch["track"]])
    assert torch.equal(batch["weight"], torch.ones(5))  # evenly: one clip per tracklet

    test = list(dm.test_dataloader())
    tracks = torch.cat([b["track"] for b in test]).tolist()
    lengths = [len(t.frames) for t in evaluated.tracklets]
    assert Counter(tracks) == {i: -(-n // T) for i, n in enumerate(lengths)}
    assert torch.cat([b["pid"] for b in test])[:3].tolist() == [20, 20, 21]
    # Strided clips: the weights of a tracklet's clips add up to its number of frames.
    weights = Counter()
    for b in test:
        for track, weight in zip(b["track"].tolist(), b["weight"].tolist(), strict=True):
            weights[track] += weight
    assert weights == dict(enumerate(lengths))


def test_validation_identities_are_held_out_of_training_and_test(duke: Path) -> None:
    dm = datamodule(duke, val_split=0.34, val_seed=3)
    dataset = dm.dataset
    train_frames = {f for t in dataset.train for f in t.frames}
    val = [*dataset.val_query, *dataset.val_gallery]
    val_frames = {f for t in val for f in t.frames}
    test_frames = {f for t in [*dataset.query, *dataset.gallery] for f in t.frames}
    assert val_frames and not val_frames & train_frames and not val_frames & test_frames
    assert dm.num_classes == 4  # 6 - 2 held out; relabelled 0..3
    assert {t.pid for t in dataset.train} == set(range(4))
    # Every validation query has a gallery match in another camera.
    for query in dataset.val_query:
        assert any(g.pid == query.pid and g.camid != query.camid for g in dataset.val_gallery)
    # The split depends on val_seed only, not on the training seed.
    again = datamodule(duke, val_split=0.34, val_seed=3, seed=7).dataset
    assert again.val_query == dataset.val_query and again.val_gallery == dataset.val_gallery


def test_val_split_none_has_no_validation_and_dataset_needs_its_own(duke: Path) -> None:
    dm = datamodule(duke, val_split="none")
    assert not dm.has_validation
    with pytest.raises(RuntimeError, match="no validation split"):
        dm.val_dataloader()
    with pytest.raises(DatasetError, match="no validation split of its own"):
        datamodule(duke, val_split="dataset").setup("fit")
    with pytest.raises(ValueError, match=r"data\.val_split=1\.5"):
        datamodule(duke, val_split=1.5)
    with pytest.raises(DatasetError, match="asks for 5 validation identities"):
        datamodule(duke, val_split=0.8).setup("fit")


def test_eval_shards_split_the_tracklets_between_ranks(duke: Path) -> None:
    owners: dict[int, set[int]] = {}
    for rank in range(2):
        dm = datamodule(duke, test_batch_size=2)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        for batch in dm.test_dataloader():
            for track in batch["track"].tolist():
                owners.setdefault(track, set()).add(rank)
    assert sorted(owners) == list(range(7))
    assert all(len(ranks) == 1 for ranks in owners.values())
    assert {r for ranks in owners.values() for r in ranks} == {0, 1}


def test_merge_extracts_a_tracklet_that_is_query_and_gallery_once() -> None:
    a, b, c = (Tracklet((f"{x}.jpg",), 1, 0) for x in "abc")
    merged = EvalTracklets.merge([a, b], [Tracklet(("a.jpg",), 1, 0), c])
    assert merged.tracklets == [a, b, c]
    assert merged.is_query.tolist() == [True, True, False]
    assert merged.in_gallery.tolist() == [True, False, True]


def test_too_many_identities_per_batch_is_an_error(duke: Path) -> None:
    with pytest.raises(ValueError, match=r"data.num_identities=7 .* has 6"):
        datamodule(duke, num_identities=7).setup("fit")
    dm = datamodule(duke, num_identities=4)
    dm.trainer = SimpleNamespace(global_rank=0, world_size=2)
    with pytest.raises(ValueError, match=r"data.num_identities=4 \(P\) x 2 rank"):
        dm.train_dataloader()


def test_bad_config_is_named() -> None:
    with pytest.raises(ValueError, match="'name' and 'root'"):
        ReIDDataModule({"name": "mars"})
    with pytest.raises(ValueError, match=r"data\.val_sampling='dense'"):
        ReIDDataModule({"name": "mars", "root": "."}, val_sampling="dense")
    with pytest.raises(ValueError, match=r"data\.epoch_mode='clips'"):
        ReIDDataModule({"name": "mars", "root": "."}, epoch_mode="clips")


def test_corrupt_frame_fails_or_is_skipped_with_a_warning(tmp_path: Path) -> None:
    root = make_duke_tree(tmp_path, {"train": TRAIN, "query": QUERY, "gallery": GALLERY})
    bad = sorted((root / "gallery" / "0900" / "0001").iterdir())[2]
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DatasetError, match=re.escape(str(bad))):
        list(datamodule(root).test_dataloader())
    with pytest.warns(RuntimeWarning, match=re.escape(str(bad))):
        batches = list(datamodule(root, skip_corrupt=True).test_dataloader())
    assert sum(len(b["track"]) for b in batches) > 0


class _Recorder(pl.LightningModule):
    """Records the identities it is trained on and the tracks it validates."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.train_pids: dict[int, list[list[int]]] = {}
        self.val_tracks: list[int] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.train_pids.setdefault(self.current_epoch, []).append(batch["pid"].tolist())
        return (self.weight * batch["clips"].mean()).sum()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.val_tracks += batch["track"].tolist()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_set_epoch_reaches_sampler_and_dataset(duke: Path, tmp_path: Path) -> None:
    dm, module = datamodule(duke, val_split=0.34), _Recorder()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=dm)
    broadcast = trainer.train_dataloader.batch_sampler
    assert broadcast.batches.epoch == 1 and broadcast.clips.epoch == 1
    assert module.train_pids[0] != module.train_pids[1]
    num_val = len(dm.val_tracklets.tracklets)
    assert Counter(module.val_tracks) == dict.fromkeys(range(num_val), 2)


def test_factory_logs_the_split_table_and_rejects_unknown_names(
    duke: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="stgcn_reid.data.datasets"):
        build_dataset("dukemtmc_video", duke)
    assert "=> dukemtmc_video" in caplog.text
    assert "train            6         21" in caplog.text  # 6 ids, 3+4+5+2+3+4 tracklets
    with pytest.raises(
        ValueError,
        match=r"'market'.*\('mars', 'dukemtmc_video', 'synthetic', 'ilidsvid', 'prid2011', "
        r"'lsvid', 'mevid'\)",
    ):
        build_dataset("market", duke)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_train_loader_resumes_mid_epoch_where_it_stopped(duke: Path, num_workers: int) -> None:
    """The state counts batches handed out, not the ones workers have already prefetched."""

    def loader() -> ResumableLoader:
        # Not persistent: in this process, after the Lightning fit above, the first persistent
        # worker pool takes ~10 s to shut down (a plain DataLoader too).
        dm = datamodule(duke, num_workers=num_workers, persistent_workers=False)
        dm.setup("fit")
        train = dm.train_dataloader()
        train.batch_sampler.set_epoch(1)
        return train

    expected = [batch["clips"] for batch in loader()]
    assert len(expected) == 3
    interrupted = loader()
    batches = iter(interrupted)
    assert torch.equal(next(batches)["clips"], expected[0])
    state = interrupted.state_dict()
    assert state == {"epoch": 1, "batches": 1}
    assert len(list(batches)) == 2  # drained: workers holding prefetched batches stop at once

    resumed = loader()
    resumed.batch_sampler.set_epoch(0)  # a fresh loader, as Lightning builds it on resume
    resumed.load_state_dict(state)
    rest = [batch["clips"] for batch in resumed]
    assert len(rest) == 2
    assert all(torch.equal(a, b) for a, b in zip(rest, expected[1:], strict=True))
    assert resumed.state_dict() == {"epoch": 1, "batches": 3}
    assert len(list(resumed)) == 3  # the skip applied once; the next pass is a whole epoch


def test_train_loader_rejects_a_position_past_the_epoch(duke: Path) -> None:
    dm = datamodule(duke)
    dm.setup("fit")
    with pytest.raises(ValueError, match=r"stopped after 5 batches, but an epoch now has 3"):
        dm.train_dataloader().load_state_dict({"epoch": 0, "batches": 5})


def test_cache_frames_decodes_the_training_frames_once_and_changes_no_batch(duke: Path) -> None:
    plain, cached = datamodule(duke), datamodule(duke, cache_frames=True)
    for dm in (plain, cached):
        dm.setup("fit")
    decoded = cached.decoded_frames()
    assert len(decoded) == len({f for t in cached.dataset.train for f in t.frames})
    assert cached.train_dataloader().dataset.read == decoded.read
    assert cached.decoded_frames() is decoded  # decoded on the first call only
    pairs = zip(plain.train_dataloader(), cached.train_dataloader(), strict=True)
    assert all(torch.equal(a["clips"], b["clips"]) for a, b in pairs)

"""``experiment=pretrain``: the backbone pretraining that stands in for ImageNet weights, run at
toy size through the real training entry point."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from stgcn_reid.ablation.frozen.study import pretrained_weights
from stgcn_reid.callbacks.backbone_export import BACKBONE_PREFIX, pretraining_record
from stgcn_reid.data.synthetic import PRESETS, make_config
from stgcn_reid.models import ResNetBackbone

pytestmark = pytest.mark.slow

TOY = (
    "experiment=pretrain",
    "trainer=cpu",
    "+dataset.num_train_ids=8",
    "+dataset.num_val_ids=4",
    "+dataset.num_cameras=3",
    "+dataset.tracklets_per_id_max=3",
    "+dataset.min_frames=4",
    "+dataset.max_frames=10",
    "+dataset.height=64",
    "+dataset.width=32",
    "data.height=64",
    "data.width=32",
    "data.num_identities=4",
    "data.num_instances=2",
    "data.num_workers=0",
    "data.test_batch_size=16",
    "trainer.max_epochs=2",
    "trainer.check_val_every_n_epoch=1",
)


def test_the_pretraining_population_shares_nothing_with_the_benchmarks() -> None:
    pretrain = make_config("pretrain")
    for preset in set(PRESETS) - {"pretrain"}:
        benchmark = make_config(preset)
        assert pretrain.seed != benchmark.seed  # other people, cameras and scenes
        assert pretrain.num_cameras != benchmark.num_cameras
        assert pretrain.num_train_ids >= 4 * benchmark.num_train_ids


def test_pretraining_exports_the_best_backbone_and_resumes_to_the_same_file(
    run_module: Callable, smoke_data_dir: Path, tmp_path: Path
) -> None:
    run_module("stgcn_reid.train", *TOY, smoke=False)

    [run_dir] = (tmp_path / "logs" / "pretrain").iterdir()
    # The run and its weights are named by the same config hash.
    weights = smoke_data_dir / "pretrained" / f"{run_dir.name}.pt"
    assert run_dir.name.startswith("resnet18-")
    record = pretraining_record(weights)
    assert [point["epoch"] for point in record["curve"]] == [1, 2]
    best = max(record["curve"], key=lambda point: point["value"])
    assert record["chosen_epoch"] == best["epoch"]
    [best_ckpt] = (run_dir / "checkpoints").glob("best-*.ckpt")
    assert record["source"] == str(best_ckpt)

    # The file is the best checkpoint's backbone, and backbone.weights_path loads it.
    saved = torch.load(weights, weights_only=True)
    state = torch.load(best_ckpt, weights_only=True)["state_dict"]
    expected = {k.removeprefix(BACKBONE_PREFIX): v for k, v in state.items() if "backbone" in k}
    assert saved.keys() == expected.keys()
    assert all(torch.equal(saved[k], expected[k]) for k in saved)
    loaded = ResNetBackbone("resnet18", weights_path=str(weights)).state_dict()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)

    # The same command again: it finds the finished run (resume=auto), trains no further and
    # keeps the curve of the first run.
    before = weights.read_bytes()
    run_module("stgcn_reid.train", *TOY, smoke=False)
    assert [d.name for d in (tmp_path / "logs" / "pretrain").iterdir()] == [run_dir.name]
    assert pretraining_record(weights)["curve"] == record["curve"]
    assert weights.read_bytes() == before
    assert not (run_dir / "metrics.json").exists()  # test=false: the test split is not read


def test_a_different_recipe_gets_its_own_weights(run_module: Callable, tmp_path: Path) -> None:
    run_module("stgcn_reid.train", *TOY, "trainer.max_epochs=1", smoke=False)
    run_module("stgcn_reid.train", *TOY, "trainer.max_epochs=1", "seed=1", smoke=False)
    assert len(list((tmp_path / "logs" / "pretrain").iterdir())) == 2


def test_only_what_shapes_the_backbone_names_the_weights() -> None:
    """The global-branch model ignores the graph branches' options, so they do not rename its
    weights (a new graph option must not orphan every pretrained file); its branches do."""
    named = {
        overrides: pretrained_weights(list(overrides)).name
        for overrides in (
            (),
            ("model.tgcn_layers=5", "model.stop_gradient=[temporal]"),
            ("model.branches=[global,temporal]",),
        )
    }
    assert len(set(named.values())) == 2
    assert named[()] == named[("model.tgcn_layers=5", "model.stop_gradient=[temporal]")]


def test_the_same_command_makes_the_same_weights(run_module: Callable, tmp_path: Path) -> None:
    """Pretraining is bit-reproducible on CPU (seeded P x K sampling, clips, augmentation and
    loader workers): a second run from scratch writes the same backbone."""
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    common = (*TOY, "trainer.max_epochs=1", "data.num_workers=2")
    run_module("stgcn_reid.train", *common, f"callbacks.backbone_export.path={first}", smoke=False)
    run_module(
        "stgcn_reid.train",
        *common,
        f"callbacks.backbone_export.path={second}",
        "resume=false",
        "overwrite=true",  # the first run's directory is moved aside: nothing is resumed
        smoke=False,
    )
    a, b = torch.load(first, weights_only=True), torch.load(second, weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(list((tmp_path / "logs" / "pretrain").iterdir())) == 2  # the run and the old one

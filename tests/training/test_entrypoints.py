"""The real train / eval entry points end to end, with tiny configs (tens of seconds each)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow


def test_train_then_eval_reproduces_the_test_metrics(
    run_module, smoke_data_dir: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    run_module("stgcn_reid.train", f"hydra.run.dir={run_dir}", "logger=wandb")

    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("test/mAP", "test/rank1", "test/rank5", "test/rank10", "test/rank20"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["test/num_valid_queries"] == 6  # every synthetic query has a match
    assert len(metrics["test/cmc"]) > 0
    for name in ("cmc.png", "ranked.png", ".hydra/config.yaml", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    best = list((run_dir / "checkpoints").glob("best-*.ckpt"))
    assert len(best) == 1
    # CSV always, W&B offline without an API key (and without hanging on the network).
    assert (run_dir / "csv" / "metrics.csv").is_file()
    assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))

    eval_dir = tmp_path / "eval"
    moved = tmp_path / "moved-data"  # +dataset.root= moves the checkpoint's dataset
    moved.symlink_to(smoke_data_dir)
    result = run_module(
        "stgcn_reid.eval",
        f"ckpt_path={best[0]}",
        f"hydra.run.dir={eval_dir}",
        f"+dataset.root={moved}",
        "eval.save_features=true",
        smoke=False,
    )
    assert f"'root': '{moved}'" in result.stdout
    evaluated = json.loads((eval_dir / "metrics.json").read_text())
    assert evaluated["test/mAP"] == pytest.approx(metrics["test/mAP"], abs=1e-6)
    assert evaluated["test/rank1"] == pytest.approx(metrics["test/rank1"], abs=1e-6)
    assert (eval_dir / "features.npz").is_file()
    assert metrics["tested_checkpoint"] == str(best[0])

    # eval.split=val with the validation sampling reproduces the validation score that chose
    # the checkpoint (its file name: best-epoch<e>-mAP<m>.ckpt).
    val_dir = tmp_path / "eval-val"
    run_module(
        "stgcn_reid.eval",
        f"ckpt_path={best[0]}",
        f"hydra.run.dir={val_dir}",
        "eval.split=val",
        "data.test_sampling=evenly",
        smoke=False,
    )
    validated = json.loads((val_dir / "metrics.json").read_text())
    assert validated["split"] == "val" and "test/mAP" not in validated
    chosen_with = float(best[0].stem.rsplit("mAP", 1)[1])
    assert validated["val/mAP"] == pytest.approx(chosen_with, abs=1e-4)


def test_multirun_writes_one_summary_of_all_runs(run_module, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    run_module(
        "stgcn_reid.train",
        "-m",
        "model.tgcn_patches=2,4",
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep_dir}",
    )
    with (sweep_dir / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    patches = [next(o for o in r["overrides"].split() if "tgcn_patches" in o) for r in rows]
    assert patches == ["model.tgcn_patches=2", "model.tgcn_patches=4"]
    assert all(r["status"] == "done" and 0 <= float(r["test/mAP"]) <= 1 for r in rows)
    assert "model.tgcn_patches=4" in (sweep_dir / "summary.md").read_text()


def test_resume_continues_the_stopped_run(run_module, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_module("stgcn_reid.train", f"hydra.run.dir={run_dir}", "trainer.max_epochs=1", "test=false")
    first = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    run_module(
        "stgcn_reid.train", f"hydra.run.dir={run_dir}", "trainer.max_epochs=2", "resume=true"
    )
    second = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert (first["epoch"], second["epoch"]) == (0, 1)
    assert second["global_step"] == 2 * first["global_step"]


def test_bad_checkpoint_paths_fail_with_a_clear_message(run_module, tmp_path: Path) -> None:
    missing = run_module("stgcn_reid.train", f"ckpt_path={tmp_path / 'nope.ckpt'}", check=False)
    assert missing.returncode != 0
    assert "checkpoint not found" in missing.stderr

    not_a_ckpt = tmp_path / "notes.ckpt"
    not_a_ckpt.write_text("hello")
    bad = run_module("stgcn_reid.train", f"ckpt_path={not_a_ckpt}", check=False)
    assert bad.returncode != 0
    assert "is not a PyTorch checkpoint" in bad.stderr

    no_run = run_module("stgcn_reid.train", "resume=true", check=False)
    assert "resume=true but there is no" in no_run.stderr


def test_ddp_on_two_cpu_processes(run_module, tmp_path: Path) -> None:
    """Both ranks train on different identities; the test covers every tracklet exactly once.
    The data is generated once and the config printed once, by rank 0."""
    audit = tmp_path / "audit"
    run_dir = tmp_path / "run"
    result = run_module(
        "stgcn_reid.train",
        "trainer=ddp_cpu",
        f"hydra.run.dir={run_dir}",
        f"paths.data_dir={tmp_path / 'fresh-data'}",  # not generated yet
        "+callbacks.audit._target_=stgcn_reid.callbacks.DataAudit",
        f"+callbacks.audit.dirpath={audit}",
    )
    assert len(list((tmp_path / "fresh-data").glob("synthetic-*"))) == 1
    assert not list((tmp_path / "fresh-data").glob(".synthetic-*.partial-*"))
    output = result.stdout + result.stderr
    assert output.count("generating synthetic benchmark") == 1
    assert output.count("Composed config") == 1
    ranks = [json.loads((audit / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    steps = [r["train_pids"] for r in ranks]
    assert len(steps[0]) == len(steps[1]) > 0
    for pids0, pids1 in zip(*steps, strict=True):
        assert set(pids0).isdisjoint(pids1)
    tracks = [set(r["test_tracks"]) for r in ranks]
    assert tracks[0].isdisjoint(tracks[1])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    num_tracklets = metrics["test/num_queries"] + metrics["test/num_gallery"]
    assert tracks[0] | tracks[1] == set(range(int(num_tracklets)))

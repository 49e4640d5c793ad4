"""The frozen-feature study: cached row features, heads on them, records, report; toy size."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.reliability.procfs import alive, living_children, survivors

from stgcn_reid.ablation.frozen import heads as heads_module
from stgcn_reid.ablation.frozen.__main__ import main
from stgcn_reid.ablation.frozen.cache import FrameFeatures, frame_maps, frame_rows, frozen_part
from stgcn_reid.ablation.frozen.heads import (
    CachedMaps,
    HeadRecipe,
    LastStage,
    fit_heads,
    parameter_groups,
    train_batches,
)
from stgcn_reid.ablation.frozen.probe import (
    mean_node_similarity,
    partly_occluded_clips,
    probe,
    row_spread,
)
from stgcn_reid.ablation.frozen.report import curve_rows, read_records, twin_rows, variant_rows
from stgcn_reid.ablation.frozen.study import CachedSplits, StudySetup, partial_path
from stgcn_reid.errors import CheckpointError, StudyRecordsError
from stgcn_reid.models import STGCN, ResNetBackbone


def test_branches_on_row_means_equal_branches_on_full_maps() -> None:
    """What makes the cache exact: every branch pools whole rows."""
    torch.manual_seed(0)
    backbone = ResNetBackbone("resnet18", last_stride=1).eval()
    model = STGCN(backbone, num_classes=5, seq_len=3).eval()
    clips = torch.randn(2, 3, 3, 128, 64)
    with torch.no_grad():
        full = model(clips)
        rows = frame_rows(backbone, clips.flatten(0, 1)).unflatten(0, (2, 3))  # [B, T, h, C]
        cached = model.forward_maps(rows.transpose(-1, -2)[..., None])
    for branch in full.features:
        torch.testing.assert_close(cached.features[branch], full.features[branch])
    torch.testing.assert_close(cached.logits, full.logits)


def test_layer4_on_cached_layer3_maps_is_the_whole_model() -> None:
    """The last-stage study trains layer4 on cached layer3 maps: together they are the model."""
    torch.manual_seed(0)
    backbone = ResNetBackbone("resnet18", last_stride=1).eval()
    model = STGCN(backbone, num_classes=5, seq_len=3).eval()
    clips = torch.randn(2, 3, 3, 128, 64)
    with torch.no_grad():
        maps = frame_maps(frozen_part(backbone, "layer3"), clips.flatten(0, 1))
        assert maps.shape == (6, 256, 8, 4)
        staged = LastStage(backbone.layer4, model).forward_maps(maps.unflatten(0, (2, 3)))
        torch.testing.assert_close(staged.embedding, model(clips).embedding)


def test_the_last_stage_trains_at_its_own_learning_rate() -> None:
    backbone = ResNetBackbone("resnet18")
    heads = STGCN(CachedMaps(512), num_classes=5, seq_len=2, branches=("global",))
    recipe = HeadRecipe(lr=1e-3, stage_lr=3e-4)
    groups = parameter_groups(LastStage(backbone.layer4, heads), recipe)
    optimizer = torch.optim.Adam(groups, recipe.lr)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 3e-4]
    assert sum(len(g["params"]) for g in groups) == len(list(backbone.layer4.parameters())) + len(
        list(heads.parameters())
    )
    assert len(parameter_groups(heads, recipe)) == 1


def _toy_features(rng: np.random.Generator) -> FrameFeatures:
    lengths = rng.integers(4, 12, size=12)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    rows = rng.standard_normal((offsets[-1], 8, 16)).astype(np.float16)
    return FrameFeatures(rows, -rows, offsets, np.repeat(np.arange(6), 2), np.tile([0, 1], 6))


def test_a_seed_gives_every_variant_the_same_batches() -> None:
    """Pairing: the batches depend on (seed, epoch) only, so paired variants see the same."""
    train = _toy_features(np.random.default_rng(0))
    recipe = HeadRecipe(num_identities=3, num_instances=2)
    first, again = (train_batches(train, recipe, seed=4, epoch=1) for _ in range(2))
    other_epoch = train_batches(train, recipe, seed=4, epoch=2)
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        for a, b in zip(first, again, strict=True)
    )
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other_epoch, strict=True))
    maps, labels = first[0]
    assert maps.shape == (6, recipe.seq_len, 16, 8, 1) and labels.shape == (6,)
    assert torch.all(labels.view(3, 2) == labels.view(3, 2)[:, :1])  # P x K: K per identity
    # flip_prob draws whole clips from the flipped cache (here: the negated rows), with the
    # same frames as the unflipped draw.
    plain = train_batches(train, HeadRecipe(3, 3, 2, flip_prob=0.0), seed=4, epoch=1)
    flipped = train_batches(train, HeadRecipe(3, 3, 2, flip_prob=1.0), seed=4, epoch=1)
    assert all(torch.equal(a[0], -b[0]) for a, b in zip(plain, flipped, strict=True))


class _KilledError(Exception):
    """Stands in for the signal that ends a study mid-run."""


def test_a_killed_run_resumes_from_its_partial_state_to_the_same_bits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed in its fourth epoch goes on from the third when run again and ends with the
    bits of a run never killed: curve, chosen epoch, scores and weights (BN statistics, Adam's
    moments and the learning-rate step included, as lr_step falls inside the resumed part)."""
    train = _toy_features(np.random.default_rng(0))
    val = (_toy_features(np.random.default_rng(1)), _toy_features(np.random.default_rng(2)))
    recipe = HeadRecipe(2, 3, 2, epochs=6, val_every=2, lr_step=4)

    def heads() -> STGCN:
        torch.manual_seed(0)
        return STGCN(CachedMaps(16), 6, seq_len=2, branches=("global", "temporal"))

    never_killed = heads()
    expected = fit_heads(never_killed, train, val, val, recipe, seed=3)

    partial = tmp_path / "partial" / "seed3.pt"
    batches = heads_module.train_batches

    def killed_in_epoch_3(features, recipe, seed, epoch):
        if epoch == 3:
            raise _KilledError
        return batches(features, recipe, seed, epoch)

    monkeypatch.setattr(heads_module, "train_batches", killed_in_epoch_3)
    with pytest.raises(_KilledError):
        fit_heads(heads(), train, val, val, recipe, seed=3, partial=partial, save_every_s=0)
    assert partial.is_file()
    monkeypatch.setattr(heads_module, "train_batches", batches)

    resumed_model = heads()
    resumed = fit_heads(resumed_model, train, val, val, recipe, 3, partial, save_every_s=0)
    assert resumed.resumed_from_epoch == 3 and resumed.earlier_s > 0
    assert [e for e, _ in resumed.curve] == [2, 4, 6]
    assert (resumed.curve, resumed.chosen_epoch) == (expected.curve, expected.chosen_epoch)
    assert (resumed.val, resumed.test) == (expected.val, expected.test)
    for key, value in never_killed.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[key], value), key
    assert not partial.exists()  # a finished run leaves no partial state behind


def test_a_damaged_partial_state_names_its_file_and_the_way_out(tmp_path: Path) -> None:
    train = _toy_features(np.random.default_rng(0))
    partial = tmp_path / "seed0.pt"
    partial.write_bytes(b"not a saved run")
    heads = STGCN(CachedMaps(16), 6, seq_len=2, branches=("global",))
    with pytest.raises(CheckpointError, match=rf"{partial}.*delete it to start the run over"):
        fit_heads(heads, train, (train, train), None, HeadRecipe(2, 3, 2, epochs=1), 0, partial)


def test_a_run_resumes_only_the_partial_state_of_its_own_setup(tmp_path: Path) -> None:
    cached = CachedSplits("features-key", {}, tmp_path / "frozen-partial" / "features-key")
    setup = StudySetup(weights="w.pt", recipe=HeadRecipe(epochs=30))
    path = partial_path(setup, cached, "stgcn", 5)
    assert path == partial_path(StudySetup(weights="w.pt"), cached, "stgcn", 5)
    assert path.is_relative_to(cached.partial_dir) and path.suffix == ".pt"
    others = {
        partial_path(StudySetup(weights="w.pt", recipe=HeadRecipe(epochs=60)), cached, "stgcn", 5),
        partial_path(StudySetup(weights="other.pt"), cached, "stgcn", 5),
        partial_path(setup, cached, "baseline", 5),
        partial_path(setup, cached, "stgcn", 6),
    }
    assert path not in others and len(others) == 4


@pytest.mark.slow
def test_the_study_runs_resumes_and_reports(smoke_data_dir: Path, tmp_path: Path) -> None:
    weights = tmp_path / "backbone.pt"
    torch.manual_seed(0)
    torch.save(ResNetBackbone("resnet18").state_dict(), weights)
    records, out = tmp_path / "records", tmp_path / "frozen.md"
    args = [
        "--weights",
        str(weights),
        "--dataset",
        "synthetic_smoke",  # experiment=smoke's set (dataset=synthetic would replace it)
        "--seeds",
        "0",
        "1",
        "--variants",
        "baseline",
        "tgcn_global",
        "tfcn_global",
        "--epochs",
        "2",
        "--records",
        str(records),
        "--out",
        str(out),
        "--probe",
        "1",
        "--probe-records",
        str(tmp_path / "probe"),
        "experiment=smoke",
        f"paths.data_dir={smoke_data_dir}",
    ]
    assert main(args) == 0

    paths = sorted(records.glob("*/seed*.json"))
    assert [p.relative_to(records).as_posix() for p in paths] == [
        f"{v}/seed{s}.json" for v in ("baseline", "tfcn_global", "tgcn_global") for s in (0, 1)
    ]
    record = json.loads((records / "tgcn_global" / "seed1.json").read_text())
    assert [p["epoch"] for p in record["val_curve"]] == [2]
    assert record["chosen_epoch"] == 2
    # Where the run was made: a study may span machines, and the vector kernels torch picks
    # there decide the float rounding (the same seed trains to other bits on another machine).
    assert f"({torch.backends.cpu.get_cpu_capability()} kernels)" in record["machine"]
    assert 0 < record["test"]["mAP"] <= 1
    assert len(record["test"]["all_AP"]) == 6  # experiment=smoke: 6 query identities
    baseline = json.loads((records / "baseline" / "seed0.json").read_text())
    assert record["trained_parameters"] > baseline["trained_parameters"]  # the TGCN's layers

    page = out.read_text()
    assert "TGCN+global − TFCN+global" in page
    assert "paper's Δ" not in page  # heads alone: Δ vs baseline is not Table 3's question
    assert f"- runs made on: {record['machine']}" in page
    assert "Occluded and clean queries" in page
    # The graph probe: one seed's record, the trained heads' curve equal to the study's run.
    probe_record = json.loads((tmp_path / "probe" / "seed1.json").read_text())
    assert probe_record["tgcn_global"]["val_curve"] == record["val_curve"]
    assert probe_record["tfcn_global"]["visible_weight"] is None
    assert probe_record["untrained"]["clips"] == probe_record["tgcn_global"]["clips"] > 0
    assert "## What Â learns" in page

    # Rerun: every record exists, so nothing trains again and the records stay as they were.
    before = {p: p.read_bytes() for p in paths}
    assert main(args) == 0
    assert {p: p.read_bytes() for p in paths} == before


def test_a_study_resumes_only_with_its_own_setup_and_features(
    smoke_data_dir: Path, tmp_path: Path, caplog
) -> None:
    """Runs made by another recipe, or on the features of other weights, would not pair: a
    resume that would mix them stops before it trains or extracts anything."""
    weights = tmp_path / "backbone.pt"
    torch.manual_seed(0)
    torch.save(ResNetBackbone("resnet18").state_dict(), weights)
    records = tmp_path / "records"
    common = ["--dataset", "synthetic_smoke", "--variants", "baseline", "--records", str(records)]
    common += ["--out", str(tmp_path / "frozen.md"), "--jobs", "1", "experiment=smoke"]
    common += [f"paths.data_dir={smoke_data_dir}"]
    assert main(["--weights", str(weights), "--seeds", "0", "--epochs", "1", *common]) == 0
    (done,) = records.glob("*/seed*.json")
    before = done.read_bytes()

    assert main(["--weights", str(weights), "--seeds", "1", "--epochs", "2", *common]) == 2
    assert "recipe.epochs: 1 there, 2 now" in caplog.text

    torch.manual_seed(1)  # other weights under the same name: only the features tell
    torch.save(ResNetBackbone("resnet18").state_dict(), weights)
    extracted = {p.name for p in (smoke_data_dir / "frozen-features").iterdir()}
    caplog.clear()
    assert main(["--weights", str(weights), "--seeds", "1", "--epochs", "1", *common]) == 2
    assert (
        "features:" in caplog.text
        and "weights" not in caplog.text.split("(")[1]
        and "other --records" in caplog.text
    )
    assert {p.name for p in (smoke_data_dir / "frozen-features").iterdir()} == extracted
    assert list(records.glob("*/seed*.json")) == [done] and done.read_bytes() == before


@pytest.mark.slow
def test_the_last_stage_study_trains_layer4_and_reports(
    smoke_data_dir: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "backbone.pt"
    torch.manual_seed(0)
    torch.save(ResNetBackbone("resnet18").state_dict(), weights)
    records, out = tmp_path / "records", tmp_path / "layer4.md"
    common = ["--weights", str(weights), "--dataset", "synthetic_smoke", "--seeds", "0"]
    args = [
        *common,
        *("--train", "layer4", "--epochs", "1"),
        *("--variants", "baseline", "tgcn_global", "stgcn_graphs_stopped"),
        *("--records", str(records), "--out", str(out)),
        "experiment=smoke",
        f"paths.data_dir={smoke_data_dir}",
    ]
    assert main(args) == 0
    record = json.loads((records / "baseline" / "seed0.json").read_text())
    assert record["setup"]["trainable"] == "layer4"
    # layer4's 8.4 M weights train, not only the baseline's BN-free classifier
    assert record["trained_parameters"] > 8_000_000
    assert 0 < record["test"]["mAP"] <= 1
    assert "branches" not in record["test"]  # one branch: nothing to break down
    # A model of several branches scores each branch's part of f_all on its own too.
    tgcn = json.loads((records / "tgcn_global" / "seed0.json").read_text())
    for split in ("val", "test"):
        assert set(tgcn[split]["branches"]) == {"global", "temporal"}
        assert 0 < tgcn[split]["branches"]["global"]["mAP"] <= 1
    assert tgcn["val"]["mAP"] == tgcn["val_curve"][-1]["mAP"]  # the chosen epoch's scores
    cached = sorted(p.name for p in (smoke_data_dir / "frozen-features").iterdir())
    assert record["features"] in cached
    assert record["resumed_from_epoch"] == 0
    rows = np.load(smoke_data_dir / "frozen-features" / record["features"] / "query" / "rows.npy")
    assert rows.shape[1:] == (256, 8, 4)  # layer3 maps of the 128 x 64 frames, not row means
    page = out.read_text()
    assert page.startswith("# Last-stage study")
    assert "(layer4: 0.0003)" in page
    assert "| paper's Δ mAP (MARS) vs this interval |" in page  # layer4 asks Table 3's question
    table = page[page.index("## Every variant against the baseline") :].split("\n\n")[2]
    assert len({line.count("|") for line in table.splitlines()}) == 1  # cells under headers
    assert "## Each GCN against its FCN twin" not in page  # no twin pair ran: no empty Table 4
    shared = page[page.index("## The global feature inside each model") :]
    assert "| TGCN+global |" in shared and "| STGCN, graphs' gradient stopped |" in shared
    stopped = json.loads((records / "stgcn_graphs_stopped" / "seed0.json").read_text())
    assert set(stopped["test"]["branches"]) == {"global", "temporal", "spatial"}
    # the probe reads frozen heads only
    with pytest.raises(SystemExit):
        main([*args, "--probe", "0"])


@pytest.mark.slow
def test_a_failing_run_loses_no_other(smoke_data_dir: Path, tmp_path: Path, caplog) -> None:
    """P_s = 16 stripes do not fit the 8 feature rows: SGCN+global fails, the baseline's record
    and the report are still written, and the command says what failed."""
    weights = tmp_path / "backbone.pt"
    torch.save(ResNetBackbone("resnet18").state_dict(), weights)
    records = tmp_path / "records"
    args = [
        *("--weights", str(weights), "--dataset", "synthetic_smoke", "--seeds", "0"),
        *("--variants", "baseline", "sgcn_global", "--epochs", "1", "--jobs", "1"),
        *("--records", str(records), "--out", str(tmp_path / "frozen.md")),
        *("experiment=smoke", f"paths.data_dir={smoke_data_dir}", "model.sgcn_patches=16"),
    ]
    assert main(args) == 1
    assert [p.parent.name for p in records.glob("*/seed0.json")] == ["baseline"]
    assert (tmp_path / "frozen.md").is_file()
    assert "sgcn_global/seed0" in caplog.text and "rerun the command" in caplog.text


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_study_leaves_no_run_training(smoke_data_dir: Path, tmp_path: Path) -> None:
    """SIGTERM to the study's process (what ``kill`` and a scheduler send) ends its worker
    processes too, mid-run: they would otherwise train their run to the end unread."""
    weights = tmp_path / "backbone.pt"
    torch.save(ResNetBackbone("resnet18").state_dict(), weights)
    args = [
        *("--weights", str(weights), "--dataset", "synthetic_smoke", "--seeds", "0"),
        *("--variants", "baseline", "tgcn_global", "--epochs", "5000", "--jobs", "2"),
        *("--records", str(tmp_path / "records"), "--out", str(tmp_path / "frozen.md")),
        *("experiment=smoke", f"paths.data_dir={smoke_data_dir}"),
    ]
    study = subprocess.Popen(
        [sys.executable, "-m", "stgcn_reid.ablation.frozen", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        # two pool workers and multiprocessing's resource tracker
        while len(workers) < 3 and study.poll() is None and time.monotonic() < deadline:
            workers = living_children(study.pid)
            time.sleep(0.5)
        assert len(workers) == 3, f"the study started {workers or 'no'} worker processes"
        time.sleep(5)  # the runs are training (5000 epochs take far longer than this test)
        assert study.poll() is None, "the study ended before it was killed"
        study.send_signal(signal.SIGTERM)
        study.wait(30)
        # within 120 s: a worker still starting must import torch first
        assert not survivors(workers, within_s=120), "a worker outlived its study"
    finally:
        study.kill()
        for pid in filter(alive, workers):
            os.kill(pid, signal.SIGKILL)


def test_a_curve_is_flat_when_its_last_change_is_within_the_seed_spread() -> None:
    def records(last: tuple[float, float]) -> dict:
        return {
            "baseline": {
                seed: {"val_curve": [{"epoch": 5, "mAP": 0.30}, {"epoch": 10, "mAP": 0.40 + d}]}
                for seed, d in enumerate(last)
            }
        }

    # seed std of the last validation 1.41 points; the mean moved +10 points: still moving
    assert curve_rows(records((0.0, 0.02)), ["baseline"])[0][-3:] == [
        "+11.00",
        "1.41",
        "still moving",
    ]
    moved_little = records((-0.101, -0.079))  # mean change +1.00 < seed std 1.56
    assert curve_rows(moved_little, ["baseline"])[0][-1] == "flat"
    one_seed = {"baseline": {0: records((0.0, 0.0))["baseline"][0]}}
    assert curve_rows(one_seed, ["baseline"])[0][-1] == "too few validations or seeds"


def test_a_twin_difference_pairs_only_the_seeds_both_rows_have() -> None:
    def runs(maps: dict[int, float]) -> dict:
        return {seed: {"test": {"mAP": m, "rank1": m}} for seed, m in maps.items()}

    # seeds 3 and 4 exist for the GCN only: they must neither enter Δ nor its seed count
    records = {
        "tgcn_global": runs({0: 0.32, 1: 0.321, 2: 0.319, 3: 0.90, 4: 0.90}),
        "tfcn_global": runs({0: 0.30, 1: 0.30, 2: 0.30}),
    }
    (row,) = twin_rows(records)
    assert row[1].startswith("+2.00 [")
    assert row[-2:] == ["better", "3"]


def test_the_papers_gain_is_placed_against_the_studys_interval() -> None:
    def runs(maps: dict[int, float]) -> dict:
        return {
            seed: {"test": {"mAP": m, "rank1": m}, "chosen_epoch": 30, "wall_s": 60.0}
            for seed, m in maps.items()
        }

    def paper_cells(gains: tuple[float, ...]) -> dict[str, str]:
        records = {
            "baseline": runs(dict.fromkeys(range(len(gains)), 0.50)),
            "stgcn": runs({seed: 0.50 + gain for seed, gain in enumerate(gains)}),
            "stgcn_graphs_stopped": runs(dict.fromkeys(range(len(gains)), 0.50)),
        }
        rows = variant_rows(records, list(records), beside_paper=True)
        return {row[0]: row[6] for row in rows}

    # The paper: STGCN 83.70 against the baseline's 80.76 mAP on MARS, a gain of +2.94.
    tight = paper_cells((0.010, 0.011, 0.009))  # +1.00 [+0.75, +1.25]
    assert tight["STGCN (SGCN+TGCN+global)"] == "+2.94: above the interval"
    assert tight["Baseline (only global branch)"] == "—"
    assert tight["STGCN, graphs' gradient stopped"] == "—"  # a diagnostic: no paper row
    wide = paper_cells((0.00, 0.03, 0.06))  # +3.00 [−4.45, +10.45]
    assert wide["STGCN (SGCN+TGCN+global)"] == "+2.94: inside the interval"
    assert paper_cells((0.05, 0.051, 0.049))["STGCN (SGCN+TGCN+global)"] == (
        "+2.94: below the interval"
    )
    # Heads alone on a frozen backbone do not ask Table 3's question: no paper column.
    heads_only = variant_rows({"baseline": runs({0: 0.5}), "stgcn": runs({0: 0.6})}, ["stgcn"])
    assert not any("+2.94" in cell for cell in heads_only[0])


def test_a_file_that_is_not_a_record_is_named(tmp_path: Path) -> None:
    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "seed0.json").write_text('{"seed": 0}')
    with pytest.raises(StudyRecordsError, match=r"seed0\.json: not a study record"):
        read_records(tmp_path)


def test_a_copied_or_misplaced_record_is_refused_not_read(tmp_path: Path) -> None:
    (tmp_path / "baseline").mkdir()
    record = '{"variant": "baseline", "seed": 0}'
    (tmp_path / "baseline" / "seed0.json").write_text(record)
    assert set(read_records(tmp_path)["baseline"]) == {0}
    (tmp_path / "baseline" / "seed0 copy.json").write_text(record)
    with pytest.raises(StudyRecordsError, match=r"seed0 copy\.json: the record of baseline seed 0"):
        read_records(tmp_path)
    (tmp_path / "baseline" / "seed0 copy.json").unlink()
    (tmp_path / "baseline" / "seed1.json").write_text(record)
    with pytest.raises(StudyRecordsError, match=r"seed1\.json: .*baseline/seed0\.json"):
        read_records(tmp_path)


def test_missing_weights_say_how_to_make_them(tmp_path: Path, caplog) -> None:
    assert main(["--weights", str(tmp_path / "none.pt"), "--records", str(tmp_path)]) == 2
    assert "experiment=pretrain" in caplog.text


def test_probe_measures_read_uniform_and_single_neighbour_rows() -> None:
    n = 6
    uniform = (torch.full((1, n, n), 1 / n) + torch.eye(n)) / 2  # eq. 4 of uniform rows of A
    single = torch.eye(n)[None]  # A = I: every node draws only from itself
    assert row_spread(uniform) == pytest.approx(1.0)
    assert row_spread(single) == pytest.approx(1 / n)
    same = torch.ones(2, n, 3)
    orthogonal = torch.eye(n)[None]
    assert mean_node_similarity(same) == pytest.approx(1.0)
    assert mean_node_similarity(orthogonal) == pytest.approx(0.0)


def test_probe_keeps_only_clips_that_mix_occluded_and_visible_frames() -> None:
    features = _toy_features(np.random.default_rng(0))
    lengths = features.lengths
    masks = [np.zeros(n, dtype=bool) for n in lengths]
    masks[1][:2] = True  # tracklet 1: its first two frames occluded
    masks[2][:] = True  # tracklet 2: every frame occluded, no visible frame to draw from
    clips = partly_occluded_clips(features, masks, seq_len=4)
    assert len(clips.frames) > 0 and clips.frames.shape == clips.occluded.shape
    start = features.offsets[1]
    assert np.all((clips.frames >= start) & (clips.frames < start + lengths[1]))
    assert np.all(clips.occluded == np.isin(clips.frames - start, [0, 1]))
    assert np.all(clips.occluded.any(axis=1) & ~clips.occluded.all(axis=1))


def test_probe_reads_the_adjacency_the_model_multiplies_with() -> None:
    features = _toy_features(np.random.default_rng(1))
    masks = [np.arange(n) < 2 for n in features.lengths]
    clips = partly_occluded_clips(features, masks, seq_len=4)
    torch.manual_seed(0)
    graph = STGCN(CachedMaps(16), num_classes=6, seq_len=4, branches=("global", "temporal"))
    fcn = STGCN(
        CachedMaps(16), 6, seq_len=4, branches=("global", "temporal"), temporal={"graph": False}
    )
    measured = probe(graph, features, clips)
    assert measured.clips == len(clips.frames)
    assert 0 < measured.spread <= 1
    assert measured.visible_weight > 0 and measured.occluded_weight > 0
    # The nodes the layers start from are the same patches for both twins.
    plain = probe(fcn, features, clips)
    assert plain.visible_weight is None and plain.spread is None
    assert plain.node_similarity_in == pytest.approx(measured.node_similarity_in)

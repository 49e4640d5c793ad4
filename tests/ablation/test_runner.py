"""Planning the study and running it: which runs exist, what is skipped, resumed or retried."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from stgcn_reid.ablation import cli, plan_runs
from stgcn_reid.ablation.runner import Run, execute, report_runs, subprocess_launcher
from stgcn_reid.ablation.study import BUDGETS, FIRST_SEED_EVALS, PROTOCOL_EVALS, VARIANT_KEYS
from stgcn_reid.utils.io import write_json


def _option(run: Run, key: str) -> str | None:
    """The value the run's overrides give ``key`` (the last one wins, as in Hydra)."""
    values = [o.split("=", 1)[1] for o in run.overrides if o.split("=", 1)[0] == key]
    return values[-1] if values else None


def test_plan_covers_every_variant_and_seed_and_each_sweep_point_once(tmp_path: Path) -> None:
    runs = plan_runs("all", "smoke", [3, 1], tmp_path)
    variants = [r for r in runs if r.group == "variants"]
    sweeps = [r for r in runs if r.group == "sweeps"]

    assert {(r.key, r.seed) for r in variants} == {(k, s) for k in VARIANT_KEYS for s in (3, 1)}
    # M 2..6 (K=2), K 1,3,4 (M=4; K=2 is the M sweep's M=4), P_t 2,8 and P_s 2,8 (the (4, 4)
    # point is the M sweep's M=3): 5 + 3 + 2 + 2 distinct settings, first seed only.
    assert len(sweeps) == 12
    assert {r.seed for r in sweeps} == {3}
    settings = {
        tuple(
            _option(r, f"model.{k}")
            for k in ("tgcn_layers", "sgcn_layers", "tgcn_patches", "sgcn_patches")
        )
        for r in sweeps
    }
    assert len(settings) == 12
    assert ("4", "1", "4", "4") in settings and ("3", "2", "8", "4") in settings
    assert all(_option(r, "data.height") == "128" for r in sweeps)  # P = 8 needs 8 rows

    # Every variant run saves its test features and is scored under both protocols on the
    # validation split; the first seed's on the test split too.
    assert all(r.features for r in variants)
    assert {r.evaluations for r in variants if r.seed == 1} == {PROTOCOL_EVALS}
    assert {r.evaluations for r in variants if r.seed == 3} == {PROTOCOL_EVALS + FIRST_SEED_EVALS}
    assert not any(r.features or r.evaluations for r in sweeps)
    # Every run directory is distinct, and the seed and directory reach the command line.
    assert len({r.directory for r in runs}) == len(runs)
    command = variants[0].train_command("python")
    assert command[:3] == ["python", "-m", "stgcn_reid.train"]
    assert f"hydra.run.dir={variants[0].directory}" in command and "seed=3" in command
    assert "save_test_features=true" in command


def test_variant_overrides_select_the_branches_and_graphs(tmp_path: Path) -> None:
    runs = {r.key: r for r in plan_runs("variants", "quick", [0], tmp_path, data_dir=tmp_path)}
    assert _option(runs["baseline"], "model.branches") == "[global]"
    assert _option(runs["tfcn_global"], "model.branches") == "[global,temporal]"
    assert _option(runs["tfcn_global"], "model.temporal.graph") == "false"
    assert _option(runs["tfcn_sfcn_global"], "model.spatial.graph") == "false"
    assert _option(runs["stgcn"], "model.temporal.graph") is None
    for run in runs.values():
        assert _option(run, "dataset") == "synthetic_hard"
        assert _option(run, "paths.data_dir") == str(tmp_path)
        assert set(BUDGETS["quick"].variants) <= set(run.overrides)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variants": ["baseline", "tgcn"]}, "unknown names \\['tgcn'\\]"),
        ({"study": "tables"}, "--study must be one of"),
        ({"budget": "long"}, "--budget must be one of"),
        ({"seeds": []}, "at least one seed"),
        ({"sweeps": ["P"]}, "--sweeps has unknown names \\['P'\\]"),
    ],
)
def test_plan_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    arguments = {"study": "variants", "budget": "smoke", "seeds": [0], **kwargs}
    with pytest.raises(ValueError, match=message):
        plan_runs(log_dir=tmp_path, **arguments)


class FakeLauncher:
    """Records commands; a train command writes metrics.json naming the tested checkpoint (and
    features.npz if asked), an eval one metrics.json."""

    def __init__(self, fail_for: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self.fail_for = fail_for

    def __call__(self, command: Sequence[str], log_path: Path) -> int:
        self.commands.append(list(command))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        run_dir = Path(next(a for a in command if a.startswith("hydra.run.dir=")).split("=", 1)[1])
        if self.fail_for and self.fail_for in str(run_dir):
            return 1
        if "stgcn_reid.eval" in command:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "metrics.json").write_text("{}")
        else:
            best = run_dir / "checkpoints" / "best-epoch000-mAP0.5.ckpt"
            best.parent.mkdir(parents=True, exist_ok=True)
            best.write_bytes(b"")
            (run_dir / "metrics.json").write_text(json.dumps({"tested_checkpoint": str(best)}))
            if "save_test_features=true" in command:
                (run_dir / "features.npz").write_bytes(b"")
        return 0


def _runs(tmp_path: Path) -> dict[str, Run]:
    return {r.key: r for r in plan_runs("variants", "smoke", [0], tmp_path)}


def _finish_training(run: Run, tested: str = "last weights") -> None:
    (run.directory / "checkpoints").mkdir(parents=True)
    (run.directory / "checkpoints" / "last.ckpt").write_bytes(b"")
    run.metrics_path.write_text(json.dumps({"tested_checkpoint": tested}))
    run.features_path.write_bytes(b"")


def test_execute_skips_finished_work_and_resumes_interrupted_runs(tmp_path: Path) -> None:
    runs = _runs(tmp_path)
    # Finished and scored under every protocol: skipped.
    _finish_training(runs["tfcn_global"])
    for split, sampling in runs["tfcn_global"].evaluations:
        path = runs["tfcn_global"].evaluation_path(split, sampling)
        path.parent.mkdir(parents=True)
        path.write_text("{}")
    # Trained, protocols not scored yet: only the evaluations run, on the tested checkpoint.
    _finish_training(runs["sgcn_global"])
    # Interrupted with a last.ckpt: continued with resume=true.
    (runs["stgcn"].directory / "checkpoints").mkdir(parents=True)
    (runs["stgcn"].directory / "checkpoints" / "last.ckpt").write_bytes(b"")
    # Crashed before any checkpoint: its leftovers are removed and it starts afresh.
    runs["baseline"].directory.mkdir(parents=True)
    (runs["baseline"].directory / "stale.txt").write_text("from a crashed attempt")

    launcher = FakeLauncher()
    assert execute(list(runs.values()), launcher, eval_overrides=["data.num_workers=0"]) == []

    launched = [
        (c[2], Path(next(a for a in c if a.startswith("hydra.run.dir=")).split("=", 1)[1]))
        for c in launcher.commands
    ]
    trained = {d for m, d in launched if m == "stgcn_reid.train"}
    evaluated = {d.parent.parent for m, d in launched if m == "stgcn_reid.eval"}
    assert runs["tfcn_global"].directory not in trained | evaluated
    assert runs["sgcn_global"].directory not in trained
    assert evaluated == {r.directory for k, r in runs.items() if k != "tfcn_global"}
    sgcn_evals = [
        c
        for c in launcher.commands
        if "stgcn_reid.eval" in c and str(runs["sgcn_global"].directory) in " ".join(c)
    ]
    assert len(sgcn_evals) == len(runs["sgcn_global"].evaluations) == 3
    assert all(
        f"ckpt_path={runs['sgcn_global'].directory}/checkpoints/last.ckpt" in c for c in sgcn_evals
    )
    assert {
        (a, b)
        for c in sgcn_evals
        for a in c
        for b in c
        if a.startswith("eval.split=") and b.startswith("data.test_sampling=")
    } == {
        (f"eval.split={split}", f"data.test_sampling={sampling}")
        for split, sampling in PROTOCOL_EVALS + FIRST_SEED_EVALS
    }
    stgcn_command = next(
        c for c in launcher.commands if f"hydra.run.dir={runs['stgcn'].directory}" in c
    )
    assert "resume=true" in stgcn_command
    baseline_command = next(
        c for c in launcher.commands if f"hydra.run.dir={runs['baseline'].directory}" in c
    )
    assert "resume=true" not in baseline_command
    assert not (runs["baseline"].directory / "stale.txt").exists()
    eval_command = next(c for c in launcher.commands if "stgcn_reid.eval" in c)
    assert "data.num_workers=0" in eval_command
    assert all(r.done for r in runs.values())

    # A second pass finds everything done and launches nothing.
    again = FakeLauncher()
    assert execute(list(runs.values()), again) == []
    assert again.commands == []


def test_a_failed_run_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    runs = _runs(tmp_path)
    launcher = FakeLauncher(fail_for="variants/tgcn_global/")
    failures = execute(list(runs.values()), launcher)
    assert len(failures) == 1
    assert "tgcn_global/seed0: training failed" in failures[0]
    assert str(runs["tgcn_global"].directory / "ablation-train.log") in failures[0]
    assert [k for k, r in runs.items() if not r.done] == ["tgcn_global"]


def test_report_covers_finished_runs_of_earlier_invocations(tmp_path: Path) -> None:
    # Earlier: all variants with seeds 0 and 5, and one sweep point; now: baseline, seed 0.
    for run in plan_runs("all", "smoke", [0, 5], tmp_path)[::3]:
        run.directory.mkdir(parents=True)
        run.metrics_path.write_text("{}")
    finished = {
        (r.group, r.key, r.seed) for r in plan_runs("all", "smoke", [0, 5], tmp_path) if r.trained
    }
    planned = plan_runs("variants", "smoke", [0], tmp_path, variants=["baseline"])

    covered = report_runs(planned, tmp_path, "smoke", "synthetic_hard")
    assert {(r.group, r.key, r.seed) for r in covered} == finished | {("variants", "baseline", 0)}
    groups = [r.group for r in covered]
    assert "sweeps" in groups and groups == sorted(groups, key=lambda g: g == "sweeps")
    assert report_runs([], tmp_path / "empty", "smoke", "synthetic_hard") == []


def test_variants_run_seed_after_seed_so_a_cut_study_has_whole_tables(tmp_path: Path) -> None:
    runs = plan_runs("variants", "smoke", [4, 2], tmp_path, variants=["stgcn", "baseline"])
    # Table order within a seed (baseline first), every variant of seed 4 before seed 2.
    assert [(r.key, r.seed) for r in runs] == [
        ("baseline", 4),
        ("stgcn", 4),
        ("baseline", 2),
        ("stgcn", 2),
    ]


def test_quick_budget_leaves_out_the_patch_counts_its_input_cannot_hold(tmp_path: Path) -> None:
    sweeps = plan_runs("sweeps", "quick", [0], tmp_path)
    patches = {(_option(r, "model.tgcn_patches"), _option(r, "model.sgcn_patches")) for r in sweeps}
    # 64 x 32 input: 4 feature rows at stride 16, so P_t, P_s in {2, 4}, never 8.
    assert patches == {("2", "4"), ("4", "2"), ("4", "4")}
    assert all(_option(r, "data.height") == "64" for r in sweeps)
    # M 2..6 and K 1..4 are unchanged: 5 + 3 points, plus the two P = 2 points.
    assert len(sweeps) == 10


class ConcurrencyProbe(FakeLauncher):
    """A FakeLauncher that records how many commands were running at once."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, command: Sequence[str], log_path: Path) -> int:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
            return super().__call__(command, log_path)


@pytest.mark.parametrize("jobs", [1, 2])
def test_execute_keeps_jobs_runs_going_at_once(tmp_path: Path, jobs: int) -> None:
    runs = list(_runs(tmp_path).values())
    probe = ConcurrencyProbe()
    assert execute(runs, probe, jobs=jobs) == []
    assert probe.most == jobs
    assert all(r.done for r in runs)
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        execute(runs, probe, jobs=0)


def test_side_by_side_runs_get_a_share_of_the_threads(tmp_path: Path) -> None:
    script = "import os; print(os.environ.get('OMP_NUM_THREADS', 'unset'))"
    log_path = tmp_path / "run.log"
    assert subprocess_launcher([sys.executable, "-c", script], log_path, threads=3) == 0
    assert subprocess_launcher([sys.executable, "-c", "raise SystemExit(4)"], log_path) == 4
    assert log_path.read_text().splitlines() == ["3"]


def test_an_invocation_keeps_the_sessions_others_recorded_while_it_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions_file = tmp_path / "logs" / "smoke" / "synthetic_hard" / "study.json"

    def another_invocation_finishes_meanwhile(runs: Sequence[Run], *args, **kwargs) -> list:
        other = {"command": "the other one", "machine": "m", "started": "t", "wall_s": 1.0}
        write_json(sessions_file, {"sessions": [other]})
        return []

    monkeypatch.setattr(cli, "execute", another_invocation_finishes_meanwhile)
    arguments = ["--budget", "smoke", "--seeds", "0", "--study", "variants",
                 "--variants", "baseline", "--log-dir", str(tmp_path / "logs"),
                 "--out", str(tmp_path / "results.md")]  # fmt: skip
    assert cli.main(arguments) == 0
    sessions = json.loads(sessions_file.read_text())["sessions"]
    assert len(sessions) == 2 and sessions[0]["command"] == "the other one"
    assert sessions[1]["command"].startswith("python -m stgcn_reid.ablation --budget smoke")
    assert "the other one" in (tmp_path / "results.md").read_text()

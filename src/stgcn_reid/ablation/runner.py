"""Planning and running the study: one ``python -m stgcn_reid.train`` subprocess per run.

A run lives in ``<log dir>/<budget>/<dataset>/{variants/<variant>,sweeps/<point>}/seed<k>/``
(the training run directory). Training tests the checkpoint it chose on the validation split
(``metrics.json``) and, for the variants, saves the test features (``features.npz``); then
``stgcn_reid.eval`` scores that same checkpoint under the other protocols of
:data:`~stgcn_reid.ablation.study.PROTOCOL_EVALS` (``eval/<split>-<sampling>/metrics.json``).
A run is done when all of these exist, so a study started again skips what is done; a run
stopped mid-training continues from its ``last.ckpt``. Each run directory also gets
``ablation.json`` (commands and wall times) and the logs ``ablation-{train,eval}.log``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stgcn_reid.ablation.study import (
    BUDGETS,
    FIRST_SEED_EVALS,
    PROTOCOL_EVALS,
    STUDIES,
    SWEEP_KEYS,
    SWEEPS,
    VARIANT_KEYS,
    VARIANTS,
    sweep_points,
)
from stgcn_reid.checkpoints.policy import last_checkpoint, tested_checkpoint
from stgcn_reid.inference import FEATURES_FILE
from stgcn_reid.utils.io import write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    """One training run; a variant (``features``) also saves its test features and is scored
    under the other test protocols."""

    group: str  # "variants" or "sweeps"
    key: str  # a variant key or a sweep point name (M3_K2_Pt4_Ps4)
    seed: int
    directory: Path
    overrides: tuple[str, ...]  # every override except the seed and the run directory
    features: bool = False
    evaluations: tuple[tuple[str, str], ...] = ()  # (split, sampling) scored after training

    @property
    def name(self) -> str:
        return f"{self.key}/seed{self.seed}"

    @property
    def metrics_path(self) -> Path:
        return self.directory / "metrics.json"

    @property
    def features_path(self) -> Path:
        return self.directory / FEATURES_FILE

    def evaluation_path(self, split: str, sampling: str) -> Path:
        """``metrics.json`` of the tested checkpoint on ``split`` with ``sampling``."""
        return self.directory / "eval" / f"{split}-{sampling}" / "metrics.json"

    @property
    def record_path(self) -> Path:
        return self.directory / "ablation.json"

    @property
    def trained(self) -> bool:
        return self.metrics_path.is_file()

    @property
    def missing_evaluations(self) -> list[tuple[str, str]]:
        return [e for e in self.evaluations if not self.evaluation_path(*e).is_file()]

    @property
    def done(self) -> bool:
        return (
            self.trained
            and (not self.features or self.features_path.is_file())
            and not self.missing_evaluations
        )

    def train_command(self, python: str = sys.executable) -> list[str]:
        features = ("save_test_features=true",) if self.features else ()
        return [
            python,
            "-m",
            "stgcn_reid.train",
            *self.overrides,
            *features,
            f"seed={self.seed}",
            f"hydra.run.dir={self.directory}",
        ]


def study_dir(log_dir: Path, budget: str, dataset: str, extra: Sequence[str] = ()) -> Path:
    """Where the runs of one budget on one dataset live; runs with ``extra`` overrides (added
    to every run) in a folder of their own, named by a hash of them, so that two settings never
    share a run directory."""
    if not extra:
        return Path(log_dir) / budget / dataset
    digest = hashlib.sha256("\n".join(extra).encode()).hexdigest()[:8]
    return Path(log_dir) / budget / f"{dataset}+{digest}"


def plan_runs(
    study: str,
    budget: str,
    seeds: Sequence[int],
    log_dir: Path,
    dataset: str = "synthetic_hard",
    variants: Sequence[str] = VARIANT_KEYS,
    data_dir: Path | None = None,
    sweeps: Sequence[str] = SWEEP_KEYS,
    extra: Sequence[str] = (),
) -> list[Run]:
    """The runs of ``study`` (``variants``, ``sweeps`` or ``all``) in the order they run;
    ``sweeps`` picks the panels of Figures 7-8 by key, ``extra`` overrides go after the
    budget's in every run (and give the study a folder of its own: :func:`study_dir`).

    Variants run seed after seed (every variant of the first seed, then the next seed), so
    that a study cut short still has whole tables; the sweeps run for the first seed only.
    Every variant run saves its test features and is scored under both protocols on the
    validation split (:data:`PROTOCOL_EVALS`); the first seed's also on the test split
    (:data:`FIRST_SEED_EVALS`).
    """
    if study not in STUDIES:
        raise ValueError(f"--study must be one of {STUDIES}, got {study!r}")
    if budget not in BUDGETS:
        raise ValueError(f"--budget must be one of {sorted(BUDGETS)}, got {budget!r}")
    unknown = sorted(set(variants) - set(VARIANT_KEYS))
    if unknown:
        raise ValueError(f"--variants has unknown names {unknown}; valid: {list(VARIANT_KEYS)}")
    unknown = sorted(set(sweeps) - set(SWEEP_KEYS))
    if unknown:
        raise ValueError(f"--sweeps has unknown names {unknown}; valid: {list(SWEEP_KEYS)}")
    if not seeds:
        raise ValueError("--seeds needs at least one seed")
    seeds = list(dict.fromkeys(seeds))  # a seed given twice runs once
    root = study_dir(log_dir, budget, dataset, extra)
    common = (f"dataset={dataset}",) + ((f"paths.data_dir={data_dir}",) if data_dir else ())
    budget_variants = BUDGETS[budget].variants + tuple(extra)
    budget_sweeps = BUDGETS[budget].sweeps + tuple(extra)
    runs = []
    if study in ("variants", "all"):
        for seed in seeds:
            for variant in (v for v in VARIANTS if v.key in variants):
                runs.append(
                    Run(
                        "variants",
                        variant.key,
                        seed,
                        root / "variants" / variant.key / f"seed{seed}",
                        common + budget_variants + variant.overrides,
                        features=True,
                        evaluations=PROTOCOL_EVALS + (FIRST_SEED_EVALS if seed == seeds[0] else ()),
                    )
                )
    if study in ("sweeps", "all"):
        panels = [sweep for sweep in SWEEPS if sweep.key in sweeps]
        for name, setting in sweep_points(budget, panels).items():
            runs.append(
                Run(
                    "sweeps",
                    name,
                    seeds[0],
                    root / "sweeps" / name / f"seed{seeds[0]}",
                    common
                    + budget_sweeps
                    + tuple(f"{option}={value}" for option, value in setting.items()),
                )
            )
    return runs


def report_runs(
    planned: Sequence[Run],
    log_dir: Path,
    budget: str,
    dataset: str,
    data_dir: Path | None = None,
    extra: Sequence[str] = (),
) -> list[Run]:
    """The runs a report covers: the ``planned`` ones and every finished run of the same budget
    and dataset, whatever ``--study``, ``--variants`` or ``--seeds`` ran it, in table order.

    So a study run in parts (variants first, the sweeps later) still gets one complete report.
    """
    root = study_dir(log_dir, budget, dataset, extra)
    found = sorted({int(p.parent.name[4:]) for p in root.glob("*/*/seed*/metrics.json")})
    seeds = list(dict.fromkeys([*(r.seed for r in planned), *found]))
    if not seeds:
        return []
    wanted = {(r.group, r.key, r.seed) for r in planned}
    return [
        run
        for run in plan_runs("all", budget, seeds, log_dir, dataset, data_dir=data_dir, extra=extra)
        if (run.group, run.key, run.seed) in wanted or run.trained
    ]


#: Runs a command with its output appended to a log file; returns the exit status.
Launcher = Callable[[Sequence[str], Path], int]


def subprocess_launcher(command: Sequence[str], log_path: Path, threads: int = 0) -> int:
    """Run ``command`` in the current directory, stdout and stderr appended to ``log_path``;
    ``threads`` > 0 caps its intra-op threads (runs side by side must not oversubscribe)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HYDRA_FULL_ERROR": "1", "PYTHONUNBUFFERED": "1"}
    if threads > 0:
        env["OMP_NUM_THREADS"] = str(threads)
    with log_path.open("a") as handle:
        return subprocess.run(
            list(command), stdout=handle, stderr=subprocess.STDOUT, env=env, check=False
        ).returncode


def read_record(run: Run) -> dict[str, Any]:
    """The run's ``ablation.json`` (commands, wall times); empty if it has none yet."""
    try:
        return json.loads(run.record_path.read_text())
    except (OSError, ValueError):
        return {}


def _update_record(run: Run, **values: Any) -> None:
    record = read_record(run)
    for key, value in values.items():
        # Wall times add up over the attempts of a resumed run.
        record[key] = record.get(key, 0.0) + value if key.endswith("_wall_s") else value
    write_json(run.record_path, record)


def train_run(run: Run, launcher: Launcher, python: str = sys.executable) -> bool:
    """Train and test one run; continue from ``last.ckpt`` if an attempt was interrupted."""
    command = run.train_command(python)
    if last_checkpoint(run.directory).is_file():
        command.append("resume=true")
    elif run.directory.exists():
        # A failed attempt with nothing to resume from: start clean, so that no stale file
        # of it is mistaken for this run's.
        shutil.rmtree(run.directory)
    start = time.perf_counter()
    status = launcher(command, run.directory / "ablation-train.log")
    if status != 0 or not run.trained:
        return False
    _update_record(run, train_command=shlex.join(command), train_wall_s=time.perf_counter() - start)
    return True


def evaluate_protocols(
    run: Run, launcher: Launcher, eval_overrides: Sequence[str], python: str = sys.executable
) -> bool:
    """Score the run's tested checkpoint under each missing protocol with ``stgcn_reid.eval``."""
    try:
        checkpoint = tested_checkpoint(run.directory)
    except FileNotFoundError as err:
        log.error("%s", err)
        return False
    for split, sampling in run.missing_evaluations:
        command = [
            python,
            "-m",
            "stgcn_reid.eval",
            f"ckpt_path={checkpoint}",
            f"hydra.run.dir={run.evaluation_path(split, sampling).parent}",
            f"eval.split={split}",
            f"data.test_sampling={sampling}",
            *eval_overrides,
        ]
        start = time.perf_counter()
        status = launcher(command, run.directory / "ablation-eval.log")
        if status != 0 or not run.evaluation_path(split, sampling).is_file():
            return False
        _update_record(
            run,
            **{f"eval_command/{split}-{sampling}": shlex.join(command)},
            eval_wall_s=time.perf_counter() - start,
        )
    return True


def run_one(
    run: Run,
    prefix: str,
    launcher: Launcher,
    eval_overrides: Sequence[str],
    python: str = sys.executable,
) -> str | None:
    """Train and test one run, then score its other protocols; a failure message or None."""
    if run.done:
        log.info("%s: done already, skipped", prefix)
        return None
    start = time.perf_counter()
    if not run.trained:
        log.info("%s: training in %s", prefix, run.directory)
        if not train_run(run, launcher, python):
            return f"{run.name}: training failed, see {run.directory}/ablation-train.log"
    if run.features and not run.features_path.is_file():
        return f"{run.name}: training saved no {FEATURES_FILE}, see {run.directory}"
    if run.missing_evaluations:
        log.info("%s: scoring the protocols %s", prefix, run.missing_evaluations)
        if not evaluate_protocols(run, launcher, eval_overrides, python):
            return f"{run.name}: evaluation failed, see {run.directory}/ablation-eval.log"
    log.info("%s: finished in %.0f s", prefix, time.perf_counter() - start)
    return None


def execute(
    runs: Sequence[Run],
    launcher: Launcher = subprocess_launcher,
    eval_overrides: Sequence[str] = (),
    python: str = sys.executable,
    jobs: int = 1,
) -> list[str]:
    """Run what is not done yet, in order, ``jobs`` at a time; a failed run does not stop
    the others. Returns one message per failed run, naming its log file.

    Runs are subprocesses, so threads are enough to keep ``jobs`` of them going.
    """
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")

    def one(index: int, run: Run) -> str | None:
        prefix = f"[{index}/{len(runs)}] {run.group}/{run.name}"
        failure = run_one(run, prefix, launcher, eval_overrides, python)
        if failure:
            log.error("%s", failure)
        return failure

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        outcomes = list(pool.map(one, range(1, len(runs) + 1), runs))
    return [failure for failure in outcomes if failure]

"""The ten-trial protocol end to end: hparams_search=trials on a generated iLIDS-VID tree runs
one smoke job per official split and writes one summary with the mean ± std."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from tests.data.trees import ilids_ls_set, make_ilidsvid_tree

from .conftest import clean_env

pytestmark = pytest.mark.slow

# A partial tree on purpose: 6 training ids a trial (2 held out for validation, 4 = P train) and
# 6 test ids.
PERSONS = tuple(range(1, 13))


def test_ten_trials_write_one_summary_with_mean_and_std(tmp_path: Path) -> None:
    tree = make_ilidsvid_tree(
        tmp_path / "iLIDS-VID", persons=PERSONS, ls_set=ilids_ls_set(len(PERSONS)), real=True
    )
    sweep = tmp_path / "sweep"
    args = [
        sys.executable,
        "-m",
        "stgcn_reid.train",
        "-m",
        "hparams_search=trials",
        "experiment=smoke",
        "dataset=ilidsvid",
        f"dataset.root={tree}",
        "dataset.strict=false",
        "trainer.max_epochs=1",
        "data.num_workers=0",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.sweep.dir={sweep}",
    ]
    # One thread: on a busy 2-core machine two threads per step are an order of magnitude slower.
    env = clean_env(tmp_path) | {"OMP_NUM_THREADS": "1"}
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-4000:]

    with (sweep / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    splits = [next(o for o in r["overrides"].split() if "split_id" in o) for r in rows]
    assert sorted(splits) == sorted(f"dataset.split_id={k}" for k in range(10))
    assert all(r["status"] == "done" and 0 <= float(r["test/mAP"]) <= 1 for r in rows)
    stats = json.loads((sweep / "summary_stats.json").read_text())
    for metric in ("test/mAP", "test/rank1", "test/rank5", "test/rank10", "test/rank20"):
        assert stats[metric]["n"] == 10
        assert 0 <= stats[metric]["mean"] <= 1 and stats[metric]["std"] >= 0
    last = (sweep / "summary.md").read_text().splitlines()[-1]
    assert last.startswith("| mean ± std (10 jobs) |") and last.count("±") == 6
    for k in range(10):  # dataset=ilidsvid replaces experiment=smoke's dataset whole
        config = OmegaConf.load(sweep / str(k) / ".hydra" / "config.yaml")
        assert config.dataset.name == "ilidsvid" and "preset" not in config.dataset

"""Building the benchmark from a plain script, guarded or not, and from stdin, on a cold cache.

Rendering workers must not re-run the caller's script (forkserver and spawn re-import
``__main__`` by path): each case generates with 2 worker processes and must succeed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BUILD = (
    "from stgcn_reid.data.datasets import build_dataset\n"
    "dataset = build_dataset('synthetic', root={root!r}, preset='hard', workers=2,"
    " num_train_ids=8, num_test_ids=6, num_distractors=2, num_val_ids=4, num_cameras=3,"
    " tracklets_per_id_min=2, tracklets_per_id_max=3, min_frames=4, max_frames=6,"
    " height=32, width=16)\n"
    "print('tracklets', len(dataset.train))\n"
)
GUARDED = "if __name__ == '__main__':\n" + textwrap.indent(BUILD, "    ")


@pytest.mark.parametrize("how", ["unguarded script", "guarded script", "stdin"])
def test_generation_works_from_any_caller(how: str, tmp_path: Path) -> None:
    code = (GUARDED if how == "guarded script" else BUILD).format(root=str(tmp_path / "data"))
    script = tmp_path / "build.py"
    script.write_text(code)
    command = [sys.executable, "-" if how == "stdin" else str(script)]
    result = subprocess.run(
        command,
        input=code if how == "stdin" else None,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("tracklets") == 1  # the script ran once, not once per worker
    assert "Traceback" not in result.stderr
    (folder,) = (tmp_path / "data").glob("synthetic-*")
    assert (folder / "synthetic.json").is_file()

"""Loading files cannot run code: weights-only unpickling, and no foreign ``_target_`` built."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from stgcn_reid.checkpoints.rebuild import load_net
from stgcn_reid.errors import CheckpointError

SOURCE = Path(__file__).resolve().parents[2] / "src" / "stgcn_reid"

#: Reviewed exceptions, as (file, call): torchvision's hash-checked ImageNet download, which
#: ``torch.hub.load_state_dict_from_url`` unpickles fully unless given ``weights_only=True``.


def keyword(call: ast.Call, key: str) -> object:
    """The constant value of keyword ``key`` of ``call`` (None if absent or not a constant)."""
    found = [k.value for k in call.keywords if k.arg == key]
    return found[0].value if found and isinstance(found[0], ast.Constant) else None


def unsafe_calls(path: Path) -> set[tuple[str, str]]:
    """eval/exec, and loads that may unpickle code (weights_only / allow_pickle not safe)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = ast.unparse(node.func)
        unpickles = func == "torch.load" or func.endswith(
            ("load_state_dict_from_url", ".get_state_dict")
        )
        if (
            func in ("eval", "exec", "builtins.eval", "builtins.exec")
            or (func in ("np.load", "numpy.load") and keyword(node, "allow_pickle") is True)
            or (unpickles and keyword(node, "weights_only") is not True)
        ):
            found.add((path.relative_to(SOURCE).as_posix(), func))
    return found


def test_no_eval_exec_or_unpickling_load_in_the_package() -> None:
    assert set().union(*map(unsafe_calls, SOURCE.rglob("*.py"))) == set()


def test_a_checkpoint_cannot_name_a_function_to_call(tmp_path: Path) -> None:
    run_config = {
        "model": {"_target_": "os.getcwd", "backbone": {"_target_": "os.getpid"}},
        "data": {"seq_len": 4, "height": 64, "width": 32},
        "dataset": {"name": "synthetic", "root": "data"},
    }
    path = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"run_config": run_config}}, path)
    with pytest.raises(CheckpointError, match=r"names _target_ os\.getcwd, os\.getpid; only"):
        load_net(path)

"""The ``stgcn-reid`` command: one subcommand per entry point, with that entry point's arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stgcn_reid.__main__ import COMMANDS, main


def test_every_subcommand_is_an_importable_entry_point() -> None:
    import importlib.util

    for module, _ in COMMANDS.values():
        assert importlib.util.find_spec(module) is not None, module


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"]) == 0
    printed = capsys.readouterr().out
    for name in ("train", "eval", "embed", "search", "export", "ablation"):
        assert f"  {name} " in printed
    assert main([]) == 2  # no command: the usage, and a usage error


def test_unknown_command_names_the_choices(capsys: pytest.CaptureFixture) -> None:
    assert main(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["train", "embed"])  # a Hydra and a key=value command line
def test_a_subcommand_runs_its_module_with_the_arguments(name: str) -> None:
    """``stgcn-reid <cmd> --help`` prints what ``python -m <module> --help`` prints."""
    module = COMMANDS[name][0]

    def help_of(*command: str) -> str:
        result = subprocess.run(
            [*command, "--help"], capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    via_command = help_of(sys.executable, "-m", "stgcn_reid", name)
    assert via_command.strip()
    # Hydra's help names the running app; compare the rest.
    direct = help_of(sys.executable, "-m", module)
    assert via_command.splitlines()[1:] == direct.splitlines()[1:]

"""One command for every entry point: ``stgcn-reid <command> [arguments]``.

``stgcn-reid train experiment=smoke`` runs exactly what ``python -m stgcn_reid.train
experiment=smoke`` runs: the command's module is executed as ``__main__`` with the remaining
arguments, so every command keeps its own argument syntax and ``--help``.
``python -m stgcn_reid <command> ...`` is the same.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence

#: command -> (module run as ``__main__``, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("stgcn_reid.train", "train STGCN and test it (Hydra: key=value overrides)"),
    "eval": ("stgcn_reid.eval", "evaluate a checkpoint (ckpt_path=...)"),
    "embed": ("stgcn_reid.embed", "embed tracklet folders into a feature file"),
    "search": ("stgcn_reid.search", "rank a gallery feature file for each query"),
    "export": ("stgcn_reid.export", "export the embedding network to ONNX or torch.export"),
    "ablation": ("stgcn_reid.ablation", "run the paper's ablation study and write its report"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: stgcn-reid <command> [arguments]",
        "",
        "STGCN (Yang et al., CVPR 2020) for video-based person re-identification.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()),
        "",
        "stgcn-reid <command> --help shows the arguments of one command.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``argv[0]``'s module with the other arguments; 2 for an unknown command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, arguments = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"stgcn-reid: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    sys.argv = [f"stgcn-reid {name}", *arguments]
    try:
        runpy.run_module(COMMANDS[name][0], run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

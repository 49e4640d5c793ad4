"""The command-line options every benchmark shares, and their parsers."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence


def base_parser(description: str, repeats: int, warmup: int = 1) -> argparse.ArgumentParser:
    """The options every script shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", default="auto", help="auto (CUDA if visible), cpu or cuda")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and variants")
    parser.add_argument("--repeats", type=int, default=repeats, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed calls per variant")
    return parser


def parse_list(text: str, allowed: Sequence[str], option: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``, each checked against ``allowed``."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    bad = [item for item in items if item not in allowed]
    if bad or not items:
        raise SystemExit(f"{option}: expected a comma list from {list(allowed)}, got {text!r}")
    return items


def parse_batch(text: str | None) -> tuple[int, int] | None:
    """``"PxK"`` -> ``(P, K)``; both at least 2 (the batch-hard triplet loss needs them)."""
    if text is None:
        return None
    found = re.fullmatch(r"(\d+)x(\d+)", text)
    if not found or int(found.group(1)) < 2 or int(found.group(2)) < 2:
        raise SystemExit(f"--batch: expected PxK with P, K >= 2 (e.g. 4x2), got {text!r}")
    return int(found.group(1)), int(found.group(2))


def command_line(module: str, argv: Sequence[str]) -> str:
    return " ".join(["python -m", module, *argv])

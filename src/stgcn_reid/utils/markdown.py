"""Markdown tables: the one writer that reports, sweep summaries and benchmarks share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a markdown table: the header, its separator, one line per row of cells."""
    return [
        f"| {' | '.join(header)} |",
        f"|{'---|' * len(header)}",
        *(f"| {' | '.join(str(cell) for cell in row)} |" for row in rows),
    ]

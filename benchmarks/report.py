"""What a benchmark prints and returns: markdown tables, key figures and notes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks.device import Machine
from stgcn_reid.utils.markdown import markdown_table


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a table: fixed digits, thousands separators; '-' for missing."""
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)

    def markdown(self) -> str:
        return "\n".join([f"**{self.title}**", "", *markdown_table(self.columns, self.rows)])


@dataclass
class Report:
    """What one benchmark measured: tables for people, ``figures`` (positive numbers) for
    run_all's target checks and the smoke tests."""

    topic: str
    command: str
    machine: Machine
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def markdown(self, heading: str = "##") -> str:
        parts = [
            f"{heading} {self.topic}",
            "",
            f"`{self.command}` on {self.machine.line()}",
        ]
        for table in self.tables:
            parts += ["", table.markdown()]
        if self.notes:
            parts += ["", *[f"- {note}" for note in self.notes]]
        return "\n".join(parts)

    def print(self) -> None:
        print(self.markdown(), flush=True)

"""The report's sweep tables follow the budget: its values, and the note on what it leaves out."""

from __future__ import annotations

from stgcn_reid.ablation.report import sweep_section
from stgcn_reid.ablation.results import StudyResults


def _first_column(lines: list[str], heading: str) -> list[str]:
    """The first cells of the table rows under ``heading``."""
    start = lines.index(heading) + 4  # heading, blank line, header, separator
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line.strip("|").split("|")[0].strip())
    return rows


def test_quick_sweep_tables_list_its_values_and_say_why_p8_is_missing() -> None:
    lines = sweep_section(0, StudyResults({}, {}), "quick")
    assert _first_column(lines, "### P_t (P_s = 4)") == ["2", "4"]
    assert _first_column(lines, "### M (K = 2)") == ["2", "3", "4", "5", "6"]
    assert any("P = 8 needs 8 feature rows" in line for line in lines)


def test_smoke_sweep_tables_keep_the_papers_values() -> None:
    lines = sweep_section(0, StudyResults({}, {}), "smoke")
    assert _first_column(lines, "### P_s (P_t = 4)") == ["2", "4", "8"]
    assert not any("feature rows" in line for line in lines)

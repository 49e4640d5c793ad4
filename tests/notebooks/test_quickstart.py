"""notebooks/quickstart.ipynb: committed without outputs, and runs top to bottom."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def read_notebook() -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_committed_notebook_has_no_outputs() -> None:
    code = [cell for cell in read_notebook().cells if cell.cell_type == "code"]
    assert code
    for index, cell in enumerate(code):
        assert cell.outputs == [], f"code cell {index} has outputs: strip them before committing"
        assert cell.execution_count is None, f"code cell {index} has an execution count"


@pytest.mark.slow
def test_quickstart_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel inherits the environment: data and runs go under tmp_path, not the checkout.
    monkeypatch.setenv("STGCN_ROOT", str(tmp_path))
    notebook = read_notebook()
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell

    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
    images = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 4  # ranked results, CMC, Grad-CAM, adjacency
    runs = tmp_path / "logs" / "quickstart"
    for name in ("cmc.png", "gradcam.png", "adjacency.png", "eval/ranked.png"):
        assert (runs / name).is_file(), name
    assert list((tmp_path / "data").glob("synthetic-*/synthetic.json"))

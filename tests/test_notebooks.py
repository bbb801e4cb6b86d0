"""The notebooks are stored clean and run, at their tiny size, within a time budget.

Convention (notebooks/README.md): the first code cell is tagged ``parameters`` and reads
``MINIFM_NOTEBOOK_SIZE`` from the environment ("classroom" by default, "tiny" in these tests).
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BUDGET_SECONDS = 120          # per notebook, kernel start-up included, at the tiny size
IDS = [p.stem for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_stored_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; clear them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_starts_with_a_parameters_cell(path: Path):
    nb = nbformat.read(path, as_version=4)
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", []), f"{path.name}: untagged first cell"
    assert "MINIFM_NOTEBOOK_SIZE" in first.source, f"{path.name}: size is not read from the env"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_at_the_tiny_size_within_budget(path: Path, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIFM_NOTEBOOK_SIZE", "tiny")
    monkeypatch.delenv("MPLBACKEND", raising=False)   # the kernel draws inline, as in class
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=BUDGET_SECONDS, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()                                   # raises CellExecutionError on any error
    seconds = time.perf_counter() - start
    assert seconds < BUDGET_SECONDS, f"{path.name} took {seconds:.0f} s at the tiny size"
    sizes = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
             if o.get("name") == "stdout" and "size: tiny" in o.get("text", "")]
    assert sizes, f"{path.name}: the parameters cell did not report running at the tiny size"

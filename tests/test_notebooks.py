"""Every notebook in notebooks/ runs top to bottom at small settings, and is committed with the
outputs of a full run (``make notebooks``) so that a reader sees its figures without running it."""

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def test_the_documented_notebooks_exist():
    assert {"quickstart", "inside_a_lifetime", "blur"} <= set(IDS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_notebook_shows_its_outputs(path):
    """Executed top to bottom in one kernel (counts 1, 2, 3, ...), no cell failed, at least one
    figure, and small enough to review."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), \
        f"{path.name}: run `make notebooks` (executed top to bottom) before committing"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], f"{path.name}: a cell failed"
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name}: committed without its figures"
    assert path.stat().st_size < 2_000_000, f"{path.name} is too large to review"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_at_small_settings(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SFNN_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' tempfile.mkdtemp lands here
    monkeypatch.setenv("WANDB_MODE", "disabled")
    before = sorted(p.name for p in NOTEBOOK_DIR.iterdir())
    nb = nbformat.read(path, as_version=4)
    # raises CellExecutionError, naming the cell and the exception, if any cell fails
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the notebook drew no figure"
    written = list(tmp_path.glob("sfnn-notebook-*/*"))
    assert written, "the notebook wrote nothing into its temporary directory"
    assert sorted(p.name for p in NOTEBOOK_DIR.iterdir()) == before, "the notebook wrote into the repository"

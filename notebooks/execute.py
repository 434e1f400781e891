"""Run every notebook top to bottom and save it with its outputs, so its figures show on a
repository page without running it.

    .venv/bin/python notebooks/execute.py            # real settings (a few minutes on 2 cores)
    .venv/bin/python notebooks/execute.py --small    # SFNN_NOTEBOOK_SMALL=1, as the test suite runs them

``make notebooks`` runs the first. Volatile cell metadata (execution timestamps) is dropped so that a
rerun changes only what the notebook computed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute(path: Path, timeout: int = 1800) -> nbformat.NotebookNode:
    """The notebook at ``path`` executed in a fresh kernel whose working directory is notebooks/."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    ap.add_argument("--small", action="store_true", help="SFNN_NOTEBOOK_SMALL=1: a few generations, short lifetimes")
    args = ap.parse_args()
    os.environ["WANDB_MODE"] = "disabled"
    if args.small:
        os.environ["SFNN_NOTEBOOK_SMALL"] = "1"
    else:
        os.environ.pop("SFNN_NOTEBOOK_SMALL", None)
    for path in args.notebooks or sorted(HERE.glob("*.ipynb")):
        print(f"executing {path.name} ...", flush=True)
        nbformat.write(execute(path), path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

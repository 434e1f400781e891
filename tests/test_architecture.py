"""The layering of docs/ARCHITECTURE.md holds, and the check that says so can fail.

``lint-imports`` (import-linter) reads the contracts in pyproject.toml. The second test copies
the three packages, adds one forbidden import of each kind, and expects the matching contract
to break: a contract that nothing could break would check nothing.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    # the copy under test comes first on the path, ahead of the installed (editable) packages
    env = {"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_import_contracts_hold():
    out = lint(ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "5 kept, 0 broken" in out.stdout


def test_the_core_contract_names_every_core_module():
    """A module added to agents/ outside the wings is core, and must be in the contract that keeps
    the core from importing a wing (a module left out would be free to)."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    core = next(c for c in contracts if c["name"] == "the core imports neither wing")
    on_disk = {f"agents.{p.stem}" for p in (ROOT / "agents").glob("*.py") if p.stem != "__init__"}
    assert set(core["source_modules"]) == on_disk
    assert {p.name for p in (ROOT / "agents").iterdir() if p.is_dir() and (p / "__init__.py").exists()} == {"rl", "supervised"}


@pytest.mark.parametrize(
    "module, line, broken",
    [
        ("sfnn/units.py", "import agents.config", "agents above envs and sfnn"),  # a lower layer reaching up
        ("envs/datasets.py", "import sfnn.units", "agents above envs and sfnn"),  # envs and sfnn independent
        ("envs/adapter.py", "import envs.registry", "no import cycles"),  # registry -> adapter -> registry
        ("agents/supervised/tasks.py", "import envs.lifetime", "the dataset-learner wing"),  # env code in the dataset wing
        ("agents/supervised/tasks.py", "import agents.rl.policy", "the two wings are independent"),
        ("agents/trainer.py", "import agents.rl.evaluate", "the core imports neither wing"),
        ("agents/run.py", "import agents.supervised.meta", "the core imports neither wing"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line, broken):
    for pkg in ("sfnn", "envs", "agents"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    assert lint(tmp_path).returncode == 0  # the copy alone keeps every contract
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n{line}  # added by the test\n")
    out = lint(tmp_path)
    assert out.returncode != 0
    assert f"{broken}" in out.stdout.split("Broken contracts")[-1], out.stdout[-3000:]

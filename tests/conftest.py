"""Shared test setup: small configs and a CLI runner."""

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("WANDB_SILENT", "true")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SFNN = [sys.executable, "-m", "agents.cli"]

# a configuration small enough for a test: short lifetimes, tiny population
TINY = [
    "strategy.population=8",
    "strategy.generations=3",
    "lifetime.episodes=2",
    "lifetime.max_steps=50",
    "log.wandb=disabled",
    "log.final_lifetimes=2",
    "log.progress=false",
    "log.checkpoint_every=1",
]


def run_cli(*args: str, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*SFNN, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.fixture
def cli():
    return run_cli

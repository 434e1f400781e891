"""docs/img/acrobot_two_wirings.png from the meta-tests in this folder (run from the repository root)."""

import json
from pathlib import Path

import numpy as np

from agents.plots import lifetime_curves

HERE = Path(__file__).parent
RUNS = {
    "3,000 gens, one wiring a generation (acrobot_alone)": HERE.parent / "2026-12-03-single-env/acrobot_alone",
    "+300 gens, one wiring, sigma0 0.5": HERE / "acrobot_l1_from_alone",
    "+300 gens, two wirings a generation, sigma0 0.5": HERE / "acrobot_l2_from_alone_300",
}


def agents(run: Path) -> dict:
    return json.loads((run / "meta_test_64.json").read_text())["results"]["Acrobot-v1"]["agents"]


curves = {name: np.asarray(agents(run)["evolved"]) for name, run in RUNS.items()}
curves["learning off (two wirings genome)"] = np.asarray(agents(RUNS["+300 gens, two wirings a generation, sigma0 0.5"])["frozen"])
for name, c in curves.items():
    print(f"{name}: windows 4-8 {c[:, 3:].mean():.1f}")
print(lifetime_curves(curves, Path("docs/img/acrobot_two_wirings.png"), "Acrobot-v1: final genomes on 64 fresh wirings"))

"""Acrobot with its mechanical energy shown beside the reward (``lifetime.energy_reward=1``) against
the same runs without it, at equal generations: from nothing (the Acrobot-alone setting, one shared
wiring a generation), then two shared wirings a generation from each of those runs' genomes, and
from the raw-reward 739-generation genome (four shared wirings, sigma0 0.3). Prints
the population's mean return over windows 4-8 (the fitness counts the raw reward in both), per
block of generations, as far as both runs of a pair went.

    python benchmarks/results/2026-12-04-acrobot-energy/curves.py
"""

from pathlib import Path

import numpy as np

from agents.rundir import read_metrics

HERE = Path(__file__).parent
RESULTS = HERE.parent
PAIRS = {
    "from nothing (1 wiring a generation)": (RESULTS / "2026-12-03-single-env" / "acrobot_alone", HERE / "scratch", 100),
    "two wirings a generation, sigma0 0.5, each from its own one-wiring genome (both -207 on 64 wirings)": (
        RESULTS / "2026-12-03-acrobot-two-wirings" / "acrobot_l2_from_alone_739", HERE / "l2", 50),
    "from the 739-generation genome (4 wirings)": (
        RESULTS / "2026-12-03-acrobot-two-wirings" / "acrobot_l4_from_739", HERE / "warm", 25),
}


def late(rows: list[dict]) -> np.ndarray:
    return np.array([np.mean(r["episode_returns/Acrobot-v1"][3:8]) for r in rows])


for name, (control, energy, block) in PAIRS.items():
    a, b = late(read_metrics(control)), late(read_metrics(energy))
    n = min(len(a), len(b)) // block * block
    print(f"{name}: population mean over windows 4-8, {block}-generation means, raw reward / energy shown")
    for s in range(0, n, block):
        print(f"  {s}-{s + block - 1}: {a[s:s + block].mean():.1f} / {b[s:s + block].mean():.1f}")

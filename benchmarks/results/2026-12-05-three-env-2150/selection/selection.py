"""Rank the run's checkpoints as they were chosen between: windows 4-8 of 32 fresh lifetimes
(`sfnn meta-test RUN --checkpoint --seed 10 --lifetimes 32`, a seed the reported figures do not
use), scored as the run's fitness combines environments: the geometric mean of each return
min-max normalised over the built-in ranges (envs/registry.py), floored at 0.001.

    python benchmarks/results/2026-12-05-three-env-2150/selection/selection.py
"""

import json
import math
from pathlib import Path

RANGES = {"CartPole-v1": (8.0, 500.0), "Acrobot-v1": (-500.0, -80.0), "MountainCar-v0": (-200.0, -110.0)}
HERE = Path(__file__).parent


def late_means(doc: dict) -> dict[str, float]:
    return {env: sum(sum(l[3:8]) / 5 for l in r["agents"]["evolved"]) / len(r["agents"]["evolved"])
            for env, r in doc["results"].items()}


def score(late: dict[str, float]) -> float:
    logs = [math.log(min(1.0, max(1e-3, (late[e] - lo) / (hi - lo)))) for e, (lo, hi) in RANGES.items()]
    return math.exp(sum(logs) / len(logs))


rows = [("1417 (shipped before)", HERE.parent / "gen1417" / "selection_seed10_32.json")]
rows += [(p.stem.split("_")[1], p) for p in sorted(HERE.glob("checkpoint_*.json"))]
print(f"{'checkpoint':>22} {'CartPole':>9} {'Acrobot':>9} {'MountainCar':>12} {'score':>6}")
for name, path in rows:
    late = late_means(json.loads(path.read_text()))
    print(f"{name:>22} {late['CartPole-v1']:9.1f} {late['Acrobot-v1']:9.1f} {late['MountainCar-v0']:12.1f} {score(late):6.3f}")

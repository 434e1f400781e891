"""Acrobot, less noise in a member's fitness: eight lifetimes a member, or population 128 on two,
against the control (four lifetimes, population 64), all from the same 739-generation genome with
sigma0 0.3 and seed 0. Prints the population's mean over windows 4-8 in blocks of equal compute
(lifetimes lived), then each final genome on the same three sets of 128 fresh lifetimes.

    python benchmarks/results/2026-12-04-acrobot-noise/curves.py
"""

import gzip
import json
from pathlib import Path

import numpy as np

from agents.rundir import load_run_config, read_metrics

HERE = Path(__file__).parent
CONTROL = HERE.parent / "2026-12-03-acrobot-two-wirings" / "acrobot_l4_from_739"
RUNS = {"control: 4 lifetimes, pop 64": CONTROL, "8 lifetimes, pop 64": HERE / "acrobot_l8",
        "2 lifetimes, pop 128": HERE / "acrobot_p128"}
BLOCK = 25_600  # lifetimes lived: 100 control generations


def lifetimes_per_generation(run: Path) -> int:
    cfg = load_run_config(run)
    return cfg.strategy.population * cfg.lifetime.lifetimes


def late_means(path: Path) -> np.ndarray:
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    evolved = np.asarray(json.loads(text)["results"]["Acrobot-v1"]["agents"]["evolved"])
    return np.sort(evolved[:, 3:8].mean(1))


print("population mean over windows 4-8, per block of", BLOCK, "lifetimes lived (generations, wall s at the block's end)")
for name, run in RUNS.items():
    per = lifetimes_per_generation(run)
    rs, n = read_metrics(run), BLOCK // per
    cells = []
    for s in range(0, len(rs) - n + 1, n):
        ch = rs[s : s + n]
        late = np.mean([np.mean(r["episode_returns/Acrobot-v1"][3:8]) for r in ch])
        cells.append(f"{late:.1f} ({ch[0]['generation']}-{ch[-1]['generation']}, {ch[-1]['wall_s']:.0f})")
    print(f"{name} [{per} lifetimes a generation]: " + " | ".join(cells))

print("\nfinal genome | seed 20000 | 30000 | 40000 | mean | worse half | better half | lifetimes >= -100")
for name, run in RUNS.items():
    sets = [late_means(p) for p in sorted(run.glob("meta_test_128*.json*"))]
    all_ = np.concatenate(sets)
    halves = [(s[: len(s) // 2].mean(), s[len(s) // 2 :].mean()) for s in sets]
    print(f"{name} | " + " | ".join(f"{s.mean():.1f}" for s in sets) + f" | {np.mean([s.mean() for s in sets]):.1f} | "
          f"{np.mean([h[0] for h in halves]):.1f} | {np.mean([h[1] for h in halves]):.1f} | "
          f"{(all_ >= -100).sum()} of {all_.size}")

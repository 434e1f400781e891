"""The figure of this folder: make train's config with plastic vectors that start at zero
(init0/, model.init_scale=0) against make train's own U(+-0.1) (the 350-generation seeds of
benchmarks/results/2026-12-07-make-train-400), five seeds each. Left: each population's mean of
windows 4-8 against generations (running mean of 10). Right: each final genome on the same 64
fresh wirings, learning on and off. Run from the repository root: .venv/bin/python <this file> OUT.png"""

import gzip
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

HERE = Path(__file__).parent
BEFORE = Path("benchmarks/results/2026-12-07-make-train-400")
SEEDS = range(5)
GENERATIONS = 350


def population_late(metrics: Path) -> np.ndarray:
    """Each generation's population mean of windows 4-8, the first GENERATIONS generations."""
    rows = [json.loads(line) for line in gzip.open(metrics, "rt")][:GENERATIONS]
    return np.asarray([np.mean(r["episode_returns/CartPole-v1"][3:8]) for r in rows])


def meta_test(path: Path) -> dict[str, np.ndarray]:
    """Windows 4-8 of each lifetime, per agent kind (evolved, frozen, random)."""
    agents = json.loads(path.read_text())["results"]["CartPole-v1"]["agents"]
    return {k: np.asarray(v, float)[:, 3:8].mean(1) for k, v in agents.items()}


variants = {
    "vectors start U(±0.1) (make train)": [(BEFORE / f"s{s}/metrics.jsonl.gz", BEFORE / f"s{s}/meta_test_350.json") for s in SEEDS],
    "vectors start at zero (init_scale=0)": [(HERE / f"init0/s{s}/metrics.jsonl.gz", HERE / f"init0/s{s}/meta_test_64.json") for s in SEEDS],
}
fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
for i, (name, runs) in enumerate(variants.items()):
    color = f"C{i}"
    curves = np.stack([population_late(m) for m, _ in runs])
    smooth = np.stack([np.convolve(c, np.ones(10) / 10, mode="valid") for c in curves])
    x = np.arange(smooth.shape[1]) + 9
    for c in smooth:
        ax.plot(x, c, color=color, lw=0.6, alpha=0.5)
    ax.plot(x, smooth.mean(0), color=color, lw=2, label=name)
    tests = [meta_test(t) for _, t in runs]
    for j, kind in enumerate(("evolved", "frozen")):
        xs = np.arange(5) + (0.2 if i else -0.2) + j * 6
        bx.bar(xs, [t[kind].mean() for t in tests], width=0.38, color=color, alpha=1.0 if kind == "evolved" else 0.5,
               label=name if j == 0 else None)
    print(name, "final genomes:", " / ".join(f"{t['evolved'].mean():.1f}" for t in tests),
          "frozen:", " / ".join(f"{t['frozen'].mean():.1f}" for t in tests))
ax.axhline(475, color="grey", lw=0.8)
ax.set(xlabel="generation", ylabel="population mean, windows 4-8", title="make train's config, five seeds each")
ax.legend(fontsize=8, loc="lower right")
bx.axhline(475, color="grey", lw=0.8)
bx.set_xticks(list(range(5)) + list(range(6, 11)), [f"s{s}" for s in SEEDS] * 2)
bx.set(ylabel="windows 4-8, 64 fresh wirings", title="final genomes: learning on (left), off (right)")
fig.tight_layout()
fig.savefig(sys.argv[1], dpi=110)

"""The figure of this folder: each seed's final genome at 300, 350 and 400 generations, windows
4-8 on the same 64 fresh wirings (meta_test_*.json here; the 300-generation files are the
one-device runs of benchmarks/results/2026-12-06-make-train-seeds/plastic_max10, which these runs
repeat to the bit). Run from the repository root: .venv/bin/python <this file> OUT.png"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

HERE = Path(__file__).parent
EARLIER = Path("benchmarks/results/2026-12-06-make-train-seeds/plastic_max10")


def late(path: Path) -> np.ndarray:
    """Windows 4-8 of each lifetime of a meta-test JSON's CartPole results."""
    ev = np.asarray(json.loads(path.read_text())["results"]["CartPole-v1"]["agents"]["evolved"], float)
    return ev[:, 3:8].mean(1)


gens = [300, 350, 400]
fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
means = []
for s in range(5):
    files = [EARLIER / f"s{s}/meta_test_64.json", HERE / f"s{s}/meta_test_350.json", HERE / f"s{s}/meta_test_400.json"]
    per = [late(f) for f in files]
    means.append([p.mean() for p in per])
    ax.plot(gens, means[-1], "o-", label=f"seed {s}")
    bx.plot(gens, [(p < 100).sum() for p in per], "o-", label=f"seed {s}")
m = np.asarray(means)
ax.plot(gens, m.mean(0), "k--", lw=2, label="mean of five")
ax.axhline(475, color="grey", lw=0.8)
ax.set(xlabel="generations", ylabel="windows 4-8, 64 fresh wirings", title="make train's config, five seeds", xticks=gens)
bx.set(xlabel="generations", ylabel="lifetimes of 64 below 100", title="lifetimes that never learn", xticks=gens)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(sys.argv[1], dpi=110)
print("mean of five:", " / ".join(f"{x:.1f}" for x in m.mean(0)))

"""Acrobot, a larger network or more passes a step, evolved (2026-12-05): from the same genome (the
four-wirings genome: 32 neurons, 3 passes), the same config and seed, two shared wirings a
generation, one change each: 40 neurons (31 hidden), 4 passes, 6 passes; the control (no change)
run again on the same machine beside them. Every generation of these runs lives the same wirings
and episodes, so their curves are paired generation by generation. Prints the population's mean
over windows 4-8 in blocks of 50 generations with the paired difference to the control, then
genomes on the same three sets of 128 fresh lifetimes (seeds 20000, 30000, 40000), and where
each genome loses its mean: the share of windows 4-8 worse than -200, the mean of the other
windows, and the lifetimes that swing up (a window of 2-7 at -150 or better) and later
fail a whole window (-500).

    python benchmarks/results/2026-12-05-acrobot-capacity/curves.py
"""

import gzip
import json
from pathlib import Path

import numpy as np

from agents.plots import block_table
from agents.rundir import read_metrics

HERE = Path(__file__).parent
START = HERE.parent / "2026-12-03-acrobot-two-wirings" / "acrobot_l4_from_739"
OLD_CONTROL = HERE.parent / "2026-12-04-acrobot-l2-from-l4"
RUNS = {"control (rerun today)": HERE / "acrobot_control", "40 neurons": HERE / "acrobot_n40",
        "4 passes": HERE / "acrobot_p4", "6 passes": HERE / "acrobot_p6",
        "40 neurons and 4 passes": HERE / "acrobot_n40p4",
        "control (2026-12-04, another machine)": OLD_CONTROL}
GENOMES = {
    "start: 32 neurons, 3 passes (the four-wirings genome)": START,
    "start on 40 neurons, not evolved": HERE / "start_n40",
    "start with 4 passes, not evolved": HERE / "start_p4",
    "control (2026-12-04): final genome after 1,108 gens (es_best)": OLD_CONTROL,
    "control (rerun): mean genome at 300": HERE / "control_300",
    "4 passes: mean genome at 300": HERE / "p4_300",
    "4 passes: mean genome at 307": HERE / "acrobot_p4",
    "4 passes: chosen by sfnn choose among 275-553 (525)": HERE / "p4_525",
    "control (rerun): mean genome at 475": HERE / "control_475",
    "40 neurons: mean genome at 475": HERE / "n40_475",
    "40 neurons: mean genome at 483": HERE / "acrobot_n40",
    "4 passes: chosen by sfnn choose on 128 lifetimes (375)": HERE / "p4_375",
    "seed 1, control: mean genome at 325": HERE / "control_s1_325",
    "seed 1, 4 passes: mean genome at 325": HERE / "p4_s1_325",
    "seed 1, 40 neurons: mean genome at 325": HERE / "n40_s1_325",
    "40 neurons and 4 passes: mean genome at 300": HERE / "n40p4_300",
    "seed 2, control: mean genome at 300": HERE / "control_s2_300",
    "seed 2, 4 passes: mean genome at 300": HERE / "p4_s2_300",
    "seed 2, control: mean genome at 475": HERE / "control_s2_475",
    "seed 2, 4 passes: mean genome at 475": HERE / "p4_s2_475",
    "seed 2, sigma_init 0.5: mean genome at 300": HERE / "sigma05_s2_300",
    "seed 2, sigma_init 0.5: mean genome at 475": HERE / "sigma05_s2_475",
}
BLOCK = 50


def evolved_returns(path: Path) -> np.ndarray:
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    return np.asarray(json.loads(text)["results"]["Acrobot-v1"]["agents"]["evolved"])


def late_means(path: Path) -> np.ndarray:
    return np.sort(evolved_returns(path)[:, 3:8].mean(1))


SEEDS = {1: {"control, seed 1": HERE / "acrobot_control_s1", "4 passes, seed 1": HERE / "acrobot_p4_s1",
             "40 neurons, seed 1": HERE / "acrobot_n40_s1"},
         2: {"control, seed 2": HERE / "acrobot_control_s2", "4 passes, seed 2": HERE / "acrobot_p4_s2",
             "sigma_init 0.5, seed 2": HERE / "acrobot_sigma05_s2", "scaled inputs, seed 2": HERE / "acrobot_obsfixed_s2"}}
for title, runs in {"seed 0": RUNS, **{f"seed {s} (other wirings and episodes)": r for s, r in SEEDS.items()}}.items():
    metrics = {name: read_metrics(run) for name, run in runs.items()}  # the first run of each is the control
    print(f"\n{title}: " + "; ".join(f"{name} {len(m)} gens, {m[-1]['wall_s']:.0f} s" for name, m in metrics.items()))
    print(block_table(metrics, BLOCK, (4, 8)))

print("\ngenome | seed 20000 | 30000 | 40000 | mean | lifetimes >= -100")
for name, run in GENOMES.items():
    files = sorted(run.glob("meta_test_128*.json*"))
    if len(files) != 3:
        continue
    sets = [late_means(p) for p in files]
    all_ = np.concatenate(sets)
    print(f"{name} | " + " | ".join(f"{s.mean():.1f}" for s in sets) + f" | {np.mean([s.mean() for s in sets]):.1f} | "
          f"{(all_ >= -100).sum()} of {all_.size}")

print("\ngenome | mean of windows 4-8 | windows 4-8 < -200 | mean of the other windows 4-8 | swung up, then a -500 window")
for name, run in GENOMES.items():
    files = sorted(run.glob("meta_test_128*.json*"))
    if len(files) != 3:
        continue
    ret = np.concatenate([evolved_returns(p) for p in files])
    late, bad = ret[:, 3:8], ret[:, 3:8] < -200
    collapsed = np.mean([any(r[j] >= -150 and (r[j + 1 :] <= -499).any() for j in range(1, 7)) for r in ret])
    print(f"{name} | {late.mean():.1f} | {bad.mean():.1%} | {late[~bad].mean():.1f} | {collapsed:.1%}")

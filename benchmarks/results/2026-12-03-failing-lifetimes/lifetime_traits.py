"""Which lifetimes does an evolved genome fail in, and why? For one run's genome in one
environment, L fresh lifetimes (the wirings and first plastic vectors that ``sfnn meta-test``
draws with seed 20000) are lived twice: once with meta-test's environment seeds, once with
other ones. If a lifetime's score comes back with the new seeds, the network drawn for it
(wiring and initial plastic vectors) decides it; if not, chance inside the lifetime does.
Also: how simple counts of the wiring rank against the score (Spearman).

    python benchmarks/results/2026-12-03-failing-lifetimes/lifetime_traits.py RUN ENV [LIFETIMES]

Run from the repository root.
"""

import dataclasses
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import spearmanr

from agents.rl.evaluate import env_tasks, lifetime_returns
from agents.rl.finish import repeat_genome
from agents.rl.policy import sfnn_spec
from agents.rundir import load_genome, load_run_config
from sfnn import sample_masks

run, env = Path(sys.argv[1]), sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 128
cfg = load_run_config(run)
cfg = dataclasses.replace(cfg, envs=[env], lifetime=dataclasses.replace(cfg.lifetime, lifetimes=1, wiring="fresh"))
task = env_tasks(cfg)[0]
genomes = repeat_genome(load_genome(run, cfg), n)

# the keys ``sfnn meta-test`` (seed 20000) gives lifetime m of the first environment
key = jax.random.fold_in(jax.random.fold_in(jax.random.key(cfg.seed), 20_000), 0)
member = jax.vmap(lambda m: jax.random.fold_in(key, m))(jnp.arange(n))
wiring = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, 0), 1)[0])(member)
seeds_a = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, 1), 1)[0])(member)
seeds_b = jax.vmap(lambda k: jax.random.fold_in(k, 99))(seeds_a)

late = {}
for name, seeds in (("meta-test seeds", seeds_a), ("other seeds", seeds_b)):
    r = np.asarray(jax.jit(lambda g, w, e: lifetime_returns(cfg, task, g, w, e))(genomes, wiring, seeds))
    late[name] = r[:, 3:].mean(1)
    print(f"{name:16s}: windows 4-8 mean {late[name].mean():7.1f}, per window {[round(float(x), 1) for x in r.mean(0)]}")
a, b = late.values()
print(f"same networks, other seeds: Spearman {spearmanr(a, b).statistic:+.2f} between the lifetimes' scores")
order = np.argsort(a, kind="stable")
q = n // 4
print(f"  the worst quarter of lifetimes with meta-test seeds ({a[order[:q]].mean():.1f}) score {b[order[:q]].mean():.1f} "
      f"with other seeds; the best quarter ({a[order[-q:]].mean():.1f}) {b[order[-q:]].mean():.1f}")

spec = sfnn_spec(cfg, task.env)
counts: dict[str, list[float]] = {k: [] for k in ("in->hidden", "hidden->hidden", "hidden->out", "out->hidden",
                                                 "fewest hidden per input", "fewest hidden per output")}
for k in wiring:
    m = {b: np.asarray(v) for b, v in sample_masks(jax.random.split(k)[0], spec.topo, spec.connect_prob, spec.self_loops).items()}
    for name, v in zip(counts, (m["ih"].sum(), m["hh"].sum(), m["ho"].sum(), m["oh"].sum(),
                                m["ih"].sum(1).min(), m["ho"].sum(0).min())):
        counts[name].append(v)
for name, v in counts.items():
    s = spearmanr(v, a)
    print(f"{name:26s} mean {np.mean(v):6.1f}   Spearman with the score {s.statistic:+.2f} (p {s.pvalue:.2f})")

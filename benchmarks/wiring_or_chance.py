"""Is a lifetime's score set by its wiring or by chance? Each of W fresh wirings lived S times.

A genome's lifetimes on fresh wirings spread widely (Acrobot: a lifetime's windows 4–8 mean has an
s.d. of ~60–80). Two causes call for different levers: if some *wirings* are bad (too few paths from
the input that matters to the outputs), a denser or larger network helps; if any wiring can end
well or badly depending on the episodes it meets (the learning itself is fragile), only a steadier
rule does. This script lives each of W wirings (and initial plastic vectors) S times, every time
with other episode seeds, and splits the variance of the lifetimes' scores (mean return over
episodes FIRST..LAST) between wirings and within them (a one-way random-effects ANOVA): the
intra-class correlation is the share of the spread that the wiring explains.

``--connect-prob`` re-runs the same keys on denser or sparser wirings (the genome does not depend
on the edge probability): whether more paths help the rule at all, before anything is evolved.
For SFNN runs it also correlates a wiring's mean score with how many hidden neurons each input
reaches: which inputs a learner cannot do without.

    .venv/bin/python benchmarks/wiring_or_chance.py RUN_DIR --env Acrobot-v1 [--wirings 32] [--seeds 4]
        [--connect-prob 0.5 0.75 1.0] [--hidden-neurons H] [--threshold T] [--checkpoint STEP] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from agents.metatest import MetaTestOptions, run_genome  # noqa: E402
from agents.rl.evaluate import env_tasks, lifetime_returns  # noqa: E402
from agents.rl.finish import repeat_genome  # noqa: E402
from agents.rl.metatest import env_config  # noqa: E402
from agents.rundir import load_run_config  # noqa: E402


def variance_split(scores: np.ndarray) -> dict[str, float]:
    """One-way random-effects ANOVA of scores (W wirings, S lives each): the variance between
    wirings, within a wiring, and the intra-class correlation ICC(1) = σ²_between / (σ²_between + σ²_within)."""
    w, s = scores.shape
    grand = scores.mean()
    msb = float(s * np.sum((scores.mean(axis=1) - grand) ** 2) / (w - 1))
    msw = float(np.sum((scores - scores.mean(axis=1, keepdims=True)) ** 2) / (w * (s - 1)))
    between = max(0.0, (msb - msw) / s)
    return {"mean": float(grand), "sd_lifetime": float(scores.std(ddof=1)), "sd_between_wirings": between**0.5,
            "sd_within_wiring": msw**0.5, "icc": between / (between + msw) if between + msw > 0 else 0.0}


def life_keys(wirings: int, seeds: int, seed: int) -> tuple[jax.Array, jax.Array]:
    """(wiring keys, environment keys), each (wirings * seeds,), wiring-major: the ``seeds`` lives
    of a wiring share its key (its edges and initial plastic vectors) and each has its own
    environment key (the windows' initial states)."""
    key = jax.random.key(seed)
    wiring_keys = jnp.repeat(jax.random.split(jax.random.fold_in(key, 0), wirings), seeds, axis=0)
    return wiring_keys, jax.random.split(jax.random.fold_in(key, 1), wirings * seeds)


def network_config(cfg, env: str, lifetimes: int, hidden_neurons: int | None = None):
    """The run's config as ``env``'s network meets it at meta-test (``env_config``), scored by the mean;
    exits with meta-test's one-line refusal where the plastic state would not fit in memory."""
    ecfg, info = env_config(cfg, env, hidden_neurons, None, lifetimes)
    if ecfg is None:
        raise SystemExit(info["refused"])
    return dataclasses.replace(ecfg, envs=[env], fitness=dataclasses.replace(ecfg.fitness, kind="mean"))


def input_fanout(ecfg, wirings: int, seeds: int, seed: int) -> np.ndarray:
    """(wirings, inputs): how many hidden neurons each input neuron reaches in each wiring of ``lives``
    (``ecfg`` from ``network_config``), drawn as a lifetime draws it (``sfnn.network.init_state``)."""
    from agents.rl.policy import sfnn_spec
    from sfnn.network import init_state

    spec = sfnn_spec(ecfg, env_tasks(ecfg)[0].env)
    keys = life_keys(wirings, seeds, seed)[0][::seeds]
    masks = jax.vmap(lambda k: init_state(k, spec).masks["ih"])(keys)  # (wirings, inputs, hidden)
    return np.asarray(masks.sum(axis=-1))


def lives(ecfg, genome, wirings: int, seeds: int, seed: int) -> np.ndarray:
    """Returns (wirings, seeds, episodes): wiring w's s-th life in ``ecfg``'s one environment (from
    ``network_config``), all lives of a wiring on the same wiring key (wiring and initial plastic
    vectors), each with its own environment key."""
    task = env_tasks(ecfg)[0]
    wiring_keys, env_keys = life_keys(wirings, seeds, seed)
    fn = jax.jit(lambda g, wk, ek: lifetime_returns(ecfg, task, g, wk, ek))
    rets = fn(repeat_genome(genome, wirings * seeds), wiring_keys, env_keys)
    return np.asarray(rets).reshape(wirings, seeds, -1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--env", required=True)
    p.add_argument("--wirings", type=int, default=32)
    p.add_argument("--seeds", type=int, default=4, help="lives per wiring, each with other episode seeds")
    p.add_argument("--seed", type=int, default=50_000)
    p.add_argument("--episodes", default="4-8", help="the windows a lifetime's score averages (1-based, inclusive)")
    p.add_argument("--connect-prob", type=float, nargs="*", default=None,
                   help="edge probabilities to evaluate (default: the run's own)")
    p.add_argument("--threshold", type=float, default=None,
                   help="also count the wirings whose every life scores at least this (e.g. a target)")
    p.add_argument("--hidden-neurons", type=int, default=None, help="hidden neurons of every network (default: the run's)")
    p.add_argument("--checkpoint", type=int, default=None, help="a checkpoint's mean genome instead of the final one")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    if a.wirings < 2 or a.seeds < 2:
        raise SystemExit("--wirings and --seeds must each be at least 2 to split the variance")
    first, last = (int(x) for x in a.episodes.split("-"))
    cfg = load_run_config(a.run_dir)
    genome, source = run_genome(a.run_dir, cfg, MetaTestOptions(checkpoint=a.checkpoint))
    probs = a.connect_prob or [cfg.model.connect_prob]
    doc = {"run": str(a.run_dir), "genome": source, "env": a.env, "wirings": a.wirings, "seeds": a.seeds,
           "seed": a.seed, "episodes": a.episodes, "hidden_neurons": a.hidden_neurons, "threshold": a.threshold,
           "results": {}}
    print(f"{a.run_dir} ({source}) on {a.env}: {a.wirings} wirings x {a.seeds} lives, windows {a.episodes}")
    head = "connect_prob   mean   sd(lifetime)  sd(between wirings)  sd(within)   ICC"
    print(head + ("" if a.threshold is None else f"   wirings with every life >= {a.threshold:g}"))
    for prob in probs:
        pcfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, connect_prob=prob))
        ecfg = network_config(pcfg, a.env, a.wirings * a.seeds, a.hidden_neurons)
        rets = lives(ecfg, genome, a.wirings, a.seeds, a.seed)
        scores = rets[:, :, first - 1:last].mean(axis=-1)
        split = variance_split(scores)
        line = (f"{prob:>12.2f} {split['mean']:>7.1f} {split['sd_lifetime']:>13.1f} {split['sd_between_wirings']:>20.1f} "
                f"{split['sd_within_wiring']:>11.1f} {split['icc']:>6.2f}")
        doc["results"][str(prob)] = {**split, "scores": scores.round(2).tolist()}
        if a.threshold is not None:
            all_good = int(np.sum(np.all(scores >= a.threshold, axis=1)))
            line += f"   {all_good} of {a.wirings}"
            doc["results"][str(prob)]["wirings_every_life_at_threshold"] = all_good
        print(line)
        if cfg.model.kind == "sfnn":
            fan = input_fanout(ecfg, a.wirings, a.seeds, a.seed)
            means = scores.mean(axis=1)  # undefined (nan) where the inputs' fan-out or the scores do not vary
            r = [float(np.corrcoef(fan[:, i], means)[0, 1]) if fan[:, i].std() > 0 and means.std() > 0 else float("nan")
                 for i in range(fan.shape[1])]
            doc["results"][str(prob)]["fanout_correlation"] = r
            print(f"{'':>12} a wiring's mean score against each input's fan-out (hidden neurons reached), "
                  f"correlation: {', '.join(f'{x:+.2f}' for x in r)}")
    if a.out:
        a.out.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()

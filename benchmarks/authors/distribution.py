"""Whole lifetimes of the same genomes in both codes: the authors' generation 0 against configs/authors.yaml.

``parity.py --distribution`` (the authors' code, their pins) lives every member of their
generation-0 population (CMA-ES, seed 100, σ₀ = 1, mean 0: 128 genomes) for a few lifetimes in
each of CartPole, Acrobot and MountainCar and writes the per-episode returns. This script (the
library's environment) lives the same genomes, mapped parameter by parameter, with
``configs/authors.yaml`` on fresh wirings and environment seeds of its own: the random streams of
the two codes cannot be matched (their wiring is drawn by their ``reservoir``, their episodes by
gymnax 0.0.6), so what must agree is the distribution. For each environment it reports the mean
return per episode in both codes, the correlation over genomes of each genome's mean return,
and a two-sample Kolmogorov-Smirnov test of the per-lifetime mean returns; and draws theirs
against ours per genome.

    benchmarks/authors/.venv/bin/python benchmarks/authors/parity.py --distribution --keys 2
    .venv/bin/python benchmarks/authors/distribution.py --lifetimes 8
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "authors-parity"

# Their flat genome (evosax 0.1.4 ParameterReshaper over the equinox model's array leaves, in
# field order) -> (library path, their shape); every matrix is transposed into the library's x @ K.
LAYOUT = [
    ("neuron/kernel", (3, 4, 4), True),
    ("gru/input_kernel", (3, 12, 9), True),
    ("gru/hidden_kernel", (3, 12, 4), True),
    ("gru/input_bias", (3, 12), False),
    ("gru/hidden_bias_n", (3, 4), False),
    ("plastic_lr_scale", (1,), False),
]


def unflatten(flat: np.ndarray) -> dict:
    """One flat authors' genome (565,) as the library's nested genome."""
    out: dict = {}
    i = 0
    for path, shape, transpose in LAYOUT:
        n = int(np.prod(shape))
        a = flat[i : i + n].reshape(shape)
        i += n
        a = np.swapaxes(a, -1, -2) if transpose else a
        node = out
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = a.astype(np.float32)
    assert i == flat.size == 565, (i, flat.size)
    return out


def check_layout_against_fixture() -> None:
    """The flat -> library mapping above reproduces the parity fixture's mapped genomes."""
    fx = np.load(ROOT / "tests" / "fixtures" / "authors_lifetimes.npz", allow_pickle=False)
    for env in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0"):
        g = unflatten(fx[f"{env}/flat"])
        for path, _, _ in LAYOUT:
            node = g
            for p in path.split("/"):
                node = node[p]
            np.testing.assert_allclose(node, fx[f"{env}/genome/{path}"], rtol=1e-6)


def ours(genomes: list[dict], env: str, lifetimes: int, seed: int) -> np.ndarray:
    """(members, lifetimes, episodes) returns of the genomes under configs/authors.yaml in ``env``."""
    import jax

    from agents.config import load_config
    from agents.rl.evaluate import env_tasks, lifetime_returns

    cfg = load_config(ROOT / "configs" / "authors.yaml", [f"envs=[{env}]", "log.wandb=disabled"])
    task = env_tasks(cfg)[0]
    stacked = jax.tree.map(lambda *x: np.stack(x), *genomes)
    p = len(genomes)
    flat = jax.tree.map(lambda x: np.repeat(x, lifetimes, axis=0), stacked)
    keys = jax.random.split(jax.random.key(seed), 2 * p * lifetimes).reshape(2, p * lifetimes)
    run = jax.jit(lambda g, wk, ek: lifetime_returns(cfg, task, g, wk, ek))
    return np.asarray(run(flat, keys[0], keys[1])).reshape(p, lifetimes, -1)


def compare(theirs: np.ndarray, mine: np.ndarray) -> dict:
    from scipy import stats

    t_mem, m_mem = theirs.mean(axis=(1, 2)), mine.mean(axis=(1, 2))
    t_life, m_life = theirs.mean(axis=2).ravel(), mine.mean(axis=2).ravel()
    varied = t_mem.std() > 0 and m_mem.std() > 0
    ks = stats.ks_2samp(t_life, m_life)
    return {
        "episode_mean": {"authors": theirs.mean(axis=(0, 1)).round(2).tolist(), "library": mine.mean(axis=(0, 1)).round(2).tolist()},
        "mean_return": {"authors": round(float(t_life.mean()), 3), "library": round(float(m_life.mean()), 3),
                        "authors_se": round(float(t_life.std(ddof=1) / np.sqrt(t_life.size)), 3),
                        "library_se": round(float(m_life.std(ddof=1) / np.sqrt(m_life.size)), 3)},
        "member_correlation": round(float(np.corrcoef(t_mem, m_mem)[0, 1]), 3) if varied else None,
        "ks_statistic": round(float(ks.statistic), 3), "ks_pvalue": round(float(ks.pvalue), 4),
        "lifetimes": {"authors": int(theirs.shape[1]), "library": int(mine.shape[1])},
    }


def plot(results: dict, data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(data), figsize=(4.2 * len(data), 4))
    for ax, (env, (theirs, mine)) in zip(np.atleast_1d(axes), data.items()):
        t, m = theirs.mean(axis=(1, 2)), mine.mean(axis=(1, 2))
        ax.scatter(t, m, s=12, alpha=0.7)
        lo, hi = min(t.min(), m.min()), max(t.max(), m.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        r = results[env]["member_correlation"]
        ax.set_title(f"{env}\nr = {r}, KS p = {results[env]['ks_pvalue']}")
        ax.set_xlabel(f"authors' code (mean of {theirs.shape[1]} lifetimes)")
        ax.set_ylabel(f"configs/authors.yaml (mean of {mine.shape[1]})")
    fig.suptitle("Mean return of each generation-0 genome, both codes, fresh wirings")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--theirs", type=Path, default=RESULTS / "authors_generation0.json")
    ap.add_argument("--lifetimes", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    check_layout_against_fixture()
    data = json.loads(args.theirs.read_text())
    genomes = [unflatten(np.asarray(g)) for g in data["genomes"]]
    results, arrays = {}, {}
    for env, rec in data["envs"].items():
        theirs = np.asarray(rec["returns"], np.float64)  # (members, keys, episodes)
        mine = ours(genomes, env, args.lifetimes, args.seed)
        results[env] = compare(theirs, mine)
        arrays[env] = (theirs, mine)
        print(env, json.dumps(results[env]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "distribution.json").write_text(json.dumps({"members": len(genomes), "envs": results}, indent=1))
    plot(results, arrays, RESULTS / "distribution.png")
    print(f"wrote {RESULTS / 'distribution.json'} and distribution.png")


if __name__ == "__main__":
    main()

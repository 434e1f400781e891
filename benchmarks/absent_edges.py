"""Does skipping absent edges pay on CPU? A measurement of the synapse placement's GRU update.

At ``configs/bench_paper.yaml``'s shapes (4 inputs, 26 hidden, 2 outputs, M=4, p=0.5,
population 64 as the last axis) every pass updates all 884 allowed edges of every agent,
present or not, and zeroes the absent ones with the mask. About half are absent, so a
layout that updates only present edges could at best halve the GRU's work. This script
times one pass's GRU update of all four blocks three ways, interleaved, and checks that
they agree on the present edges:

* ``dense``: what ``sfnn.population`` does (all edges, masked);
* ``per_agent``: each agent's present edges packed into K slots (K = the most any agent in the
  population has, ~54 % of 884), the per-neuron GRU terms and the edge vectors fetched with
  per-agent gathers and the result written back with a per-agent scatter; the layout that
  fresh per-agent wirings (the authors' setting) would need;
* ``shared``: one wiring for the whole population (``lifetime.wiring=shared|fixed``), so the
  present edges are the same rows for every agent and the population axis stays contiguous.

    .venv/bin/python benchmarks/absent_edges.py [--pop 64] [--rounds 5] [--reps 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from agents.trainer import EVAL_COMPILER_OPTIONS  # noqa: E402
from sfnn.population import _gru, _gru_terms, to_population_last  # noqa: E402
from sfnn.topology import BLOCKS, GROUP_TYPE, Topology, sample_masks  # noqa: E402
from sfnn.units import init_genome  # noqa: E402

M, ETA = 4, 0.01
TOPO = Topology(4, 26, 2)


def dense(g, masks, edges, terms):
    out = {}
    for b, (pre, _) in BLOCKS.items():
        a, c, shared = terms[b]
        h = _gru(g, GROUP_TYPE[pre], a[:, None] + c[None] + shared, edges[b], M)
        out[b] = (edges[b] + ETA * h) * masks[b][:, :, None, :]
    return out


def per_agent(g, slots, edges, terms):
    """``slots[b]`` = (flat edge index (K, P), valid (K, P)): an agent's present edges first, then
    (valid = 0) some of its absent ones, so every slot of an agent names a different edge."""
    out = {}
    for b, (pre, post) in BLOCKS.items():
        idx, valid = slots[b]
        n_post = TOPO.size(post)
        a, c, shared = terms[b]
        take = lambda x, i: jnp.take_along_axis(x, i[:, None, :], axis=0)  # noqa: E731  (n, C, P) -> (K, C, P)
        flat = edges[b].reshape(-1, M, edges[b].shape[-1])
        e = take(flat, idx)
        h = _gru(g, GROUP_TYPE[pre], take(a, idx // n_post) + take(c, idx % n_post) + shared, e, M)
        new = (e + ETA * h) * valid[:, None, :]
        lanes = jnp.arange(idx.shape[1])
        upd = jnp.moveaxis(new, 1, 2)  # (K, P, M)
        out[b] = jnp.zeros_like(flat).at[idx, :, lanes[None, :]].set(upd, unique_indices=True).reshape(edges[b].shape)
    return out


def shared_rows(g, rows, edges, terms):
    """``rows[b]`` = flat indices (K,) of the present edges of the one shared wiring."""
    out = {}
    for b, (pre, post) in BLOCKS.items():
        n_post = TOPO.size(post)
        a, c, shared = terms[b]
        flat = edges[b].reshape(-1, M, edges[b].shape[-1])
        e = flat[rows[b]]
        h = _gru(g, GROUP_TYPE[pre], a[rows[b] // n_post] + c[rows[b] % n_post] + shared, e, M)
        out[b] = jnp.zeros_like(flat).at[rows[b]].set(e + ETA * h).reshape(edges[b].shape)
    return out


def setup(pop: int, shared_wiring: bool):
    k = jax.random.split(jax.random.key(0), 5)
    genomes = to_population_last(jax.vmap(lambda kk: init_genome(kk, M))(jax.random.split(k[0], pop)))
    if shared_wiring:
        one = sample_masks(k[1], TOPO, 0.5)
        masks = {b: jnp.broadcast_to(m[..., None], (*m.shape, pop)) for b, m in one.items()}
    else:
        masks = to_population_last(jax.vmap(lambda kk: sample_masks(kk, TOPO, 0.5))(jax.random.split(k[1], pop)))
    edges = {b: masks[b][:, :, None, :] * jax.random.uniform(jax.random.fold_in(k[2], i), (*masks[b].shape[:2], M, pop), minval=-1, maxval=1)
             for i, b in enumerate(BLOCKS)}  # fmt: skip
    ys = {grp: jax.random.normal(jax.random.fold_in(k[3], i), (TOPO.size(grp), M, pop)) for i, grp in enumerate("iho")}
    reward = jax.random.normal(k[4], (pop,))
    terms = {b: _gru_terms(genomes, GROUP_TYPE[pre], ys[pre], ys[post], reward, M) for b, (pre, post) in BLOCKS.items()}
    return genomes, masks, edges, terms


def slots_of(masks):
    slots = {}
    for b, m in masks.items():
        flat = np.asarray(m).reshape(-1, m.shape[-1])  # (E, P)
        k = int(flat.sum(0).max())
        order = np.argsort(-flat, axis=0, kind="stable")[:k]  # present edges first, in edge order
        slots[b] = (jnp.asarray(order, jnp.int32), jnp.asarray(np.take_along_axis(flat, order, 0)))
    return slots


def timed(fn, args, reps):
    t = time.perf_counter()
    for _ in range(reps):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pop", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args()
    jit = lambda f: jax.jit(f, compiler_options=EVAL_COMPILER_OPTIONS)  # noqa: E731
    rows = []
    for shared_wiring in (False, True):
        g, masks, edges, terms = setup(args.pop, shared_wiring)
        ref = jit(dense)(g, masks, edges, terms)
        if shared_wiring:
            one = {b: np.asarray(m[..., 0]).reshape(-1) for b, m in masks.items()}
            packed = {b: jnp.asarray(np.flatnonzero(v), jnp.int32) for b, v in one.items()}
            other, name, n_slots = jit(shared_rows), "shared", sum(len(v) for v in packed.values())
        else:
            packed = slots_of(masks)
            other, name, n_slots = jit(per_agent), "per_agent", sum(int(v[0].shape[0]) for v in packed.values())
        got = other(g, packed, edges, terms)
        diff = max(float(jnp.abs(got[b] - ref[b]).max()) for b in BLOCKS)
        best = {"dense": np.inf, name: np.inf}
        for _ in range(args.rounds):
            best["dense"] = min(best["dense"], timed(jit(dense), (g, masks, edges, terms), args.reps))
            best[name] = min(best[name], timed(other, (g, packed, edges, terms), args.reps))
        wiring = "one wiring for all agents" if shared_wiring else "a wiring per agent"
        rows.append((wiring, "dense", 884, best["dense"], 1.0, 0.0))
        rows.append((wiring, name, n_slots, best[name], best["dense"] / best[name], diff))
    print(f"population {args.pop}, one pass's GRU update of all blocks, best of {args.rounds} rounds × {args.reps}")
    print("| wiring | layout | edge slots per agent | µs per pass | speed-up | max abs diff |")
    print("|---|---|---|---|---|---|")
    for w, n, k, t, s, d in rows:
        print(f"| {w} | {n} | {k} | {t * 1e6:.1f} | {s:.2f} | {d:.1e} |")


if __name__ == "__main__":
    main()

"""Micro-benchmark of the ``synapse`` placement's step (the per-edge GRU update).

Times one ``population_step`` per step of a CartPole lifetime (``envs.lifetime.run_lifetimes``,
the same loop as training) at the shapes of ``configs/bench_paper.yaml`` (32 neurons, M=4,
p=0.5, 2 passes), compiled with the trainer's ``EVAL_COMPILER_OPTIONS``, for several
variants of the synapse pass. Variants are timed interleaved (A, B, A, B, ...) in one
process and the minimum is kept, because this machine is shared and noisy; compare the
ratios, not the absolute figures.

    .venv/bin/python benchmarks/synapse_kernel.py [--pop 64] [--steps 200] [--rounds 4] [variant ...]

Variants (``--list``): ``before`` is the formulation before the fix (fusion left to XLA:
the message sums were fused into the neuron units and compiled to scalar code, the first
pass's edges were recomputed inside the second pass); ``current`` is what
``sfnn.population`` does now; ``reference`` is the readable single-agent network
(``sfnn.network.step``) vmapped over agents, population first, whose sums are matrix
products; the others take one change away or add one. ``--options``
adds XLA compiler options to every variant; a variant written ``NAME+{json}`` adds its own.
The ``max |diff|`` column compares each variant's returns and final edge vectors with the
first variant's (0 means bit-identical).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import sfnn.population as popmod  # noqa: E402
from agents.trainer import EVAL_COMPILER_OPTIONS  # noqa: E402
from envs.lifetime import run_lifetimes  # noqa: E402
from envs.registry import make_env  # noqa: E402
from sfnn.network import SFNNSpec, init_state, learns_after_passes, learns_in_pass, step  # noqa: E402
from sfnn.topology import BLOCKS, GROUP_TYPE, Topology  # noqa: E402
from sfnn.units import init_genome  # noqa: E402

# ---------------------------------------------------------------- variants of the pass

CURRENT_PASS = popmod._synapse_pass


def _units_unmaterialized(g, spec, edges, y, obs, prev_action):
    m = spec.channels
    y_i = popmod._unit(g, 0, jnp.broadcast_to(obs[:, None, :], (obs.shape[0], m, obs.shape[1])))
    y_h = popmod._unit(g, 1, popmod._hidden_input(y_i, y["h"], y["o"], edges["ih"], edges["hh"], edges["oh"]))
    y_o = popmod._unit(g, 2, popmod._messages(y_h, edges["ho"]) + prev_action[:, None, :])
    return {"i": y_i, "h": y_h, "o": y_o}


def pass_before(g, spec, masks, edges, y, obs, reward, prev_action, learn, k=0, terms=None, out=None):
    """The pass before the fix: one expression per block, fusion left to XLA."""
    m = spec.channels
    y_new = _units_unmaterialized(g, spec, edges, y, obs, prev_action)
    if learn:
        new_edges = {}
        for b, (pre, post) in BLOCKS.items():
            t = GROUP_TYPE[pre]
            a, c, shared = popmod._gru_terms(g, t, y_new[pre], y_new[post], reward, m)
            if terms is not None:
                a, c, shared = terms((a, c, shared), masks)
            h = popmod._gru(g, t, a[:, None] + c[None] + shared, edges[b], m)
            new_edges[b] = (edges[b] + spec.plastic_lr * h) * masks[b][:, :, None, :]
        edges = new_edges if out is None else out(new_edges, masks)
    return edges, y_new


def pass_opt_barrier(*a):
    """before, with jax.lax.optimization_barrier on the GRU terms and on each pass's edges."""
    barrier = lambda x, masks: jax.lax.optimization_barrier(x)  # noqa: E731
    return pass_before(*a, terms=barrier, out=barrier)


def pass_div_one(*a):
    """before, with the GRU terms divided by an exact runtime 1 (a division is 'expensive' to
    XLA's fusion, so it would not be duplicated) - XLA rewrites x / broadcast(1) to a multiply."""
    def div(x, masks):
        one = masks["ih"][0, 0] * 0.0 + 1.0
        return jax.tree.map(lambda v: v / one, x)
    return pass_before(*a, terms=div)


def _sigmoid_via_tanh_gru(g, t, gx, h, m):
    gh = popmod.pmm(h, g["gru"]["hidden_kernel"][t])
    sig = lambda x: 0.5 * jnp.tanh(0.5 * x) + 0.5  # noqa: E731
    r = sig(gx[..., :m, :] + gh[..., :m, :])
    z = sig(gx[..., m: 2 * m, :] + gh[..., m: 2 * m, :])
    n = jnp.tanh(gx[..., 2 * m:, :] + r * (gh[..., 2 * m:, :] + g["gru"]["hidden_bias_n"][t]))
    return (1.0 - z) * n + z * h


def pass_sigmoid_tanh(*a):
    """current, with the GRU's sigmoids computed as 0.5·tanh(x/2)+0.5 (not bit-identical)."""
    saved = popmod._gru
    popmod._gru = _sigmoid_via_tanh_gru
    try:
        return CURRENT_PASS(*a)
    finally:
        popmod._gru = saved


def block_pass(update):
    """A synapse pass as ``sfnn.population``'s, with each block's new edge vectors from
    ``update(g, spec, t, y_pre, y_post, reward, edges, mask)`` (t: the block's GRU type)."""

    def one_pass(g, spec, masks, edges, y, obs, reward, prev_action, learn, k=0):
        y_new = popmod.synapse_activations(g, spec, edges, y, obs, prev_action)
        if learn:
            edges = {b: update(g, spec, GROUP_TYPE[pre], y_new[pre], y_new[post], reward, edges[b], masks[b])
                     for b, (pre, post) in BLOCKS.items()}
        return edges, y_new

    return one_pass


def _scaled_terms(gru, t, pre, post, reward, m):
    """Per-neuron GRU input terms for ``tanh_gates``: the reset and update columns halved
    (σ(x) = ½·tanh(x/2) + ½) and the shared term folded into the pre-neuron term."""
    half = jnp.concatenate([jnp.full((2 * m,), 0.5), jnp.ones((m,))])[:, None]
    w = gru["input_kernel"][t] * half
    shared = reward * w[2 * m] + gru["input_bias"][t] * half
    u = gru["hidden_kernel"][t] * 0.5, gru["hidden_bias_n"][t] * 0.5
    return popmod.pmm(pre, w[:m]) + shared[None], popmod.pmm(post, w[m: 2 * m]), *u


def _tanh_gates_block(g, spec, t, y_pre, y_post, reward, v, mask):
    """A block's new edge vectors with only tanh: σ(x) = ½(1 + tanh(x/2)) and every
    hidden-kernel column halved, so r·q = (1 + t_r)·q/2 and 1 − z = ½(1 − t_z); the shared
    term is added per neuron and the mask folded into the step size (not bit-identical)."""
    m = spec.channels
    terms = lambda gru, x, z, r: _scaled_terms(gru, t, x, z, r, m)  # noqa: E731
    a, c, hk, bn = popmod._materialize(terms, g["gru"], y_pre, y_post, reward)
    gh = popmod.pmm(v, hk)
    gx = a[:, None] + c[None]
    t_r = jnp.tanh(gx[..., :m, :] + gh[..., :m, :])
    t_z = jnp.tanh(gx[..., m: 2 * m, :] + gh[..., m: 2 * m, :])
    n = jnp.tanh(gx[..., 2 * m:, :] + (1.0 + t_r) * (gh[..., 2 * m:, :] + bn))
    k = (0.5 * spec.plastic_lr) * mask[:, :, None, :]
    if spec.update == "lerp":  # v + η(h − v) = v + η(1 − z)(n − v)
        return v + k * (1.0 - t_z) * (n - v)
    return v * mask[:, :, None, :] + k * ((n + n) + (1.0 + t_z) * (v - n))  # (v + η h)·mask


def _once_per_step(genome, spec, state, plastic, y, reward, learn):
    """The edge update after the passes that ``learn_every="step"`` asks for (else none)."""
    if learns_after_passes(spec, learn):
        plastic = popmod._synapse_plasticity(genome, spec, state.masks, plastic, state.y, y, reward)
    return plastic, y


def repeat_unrolled(one_pass, genome, spec, state, obs, reward, learn):
    """The passes as a Python loop (unrolled in the program), as before the fix; the update
    timing is ``spec.learn_every``'s, as in ``sfnn.population``."""
    plastic, y = state.plastic, state.y
    for k in range(spec.passes):
        plastic, y = one_pass(genome, spec, state.masks, plastic, y, obs, reward, state.prev_action,
                              learns_in_pass(spec, k, learn))
    return _once_per_step(genome, spec, state, plastic, y, reward, learn)


def repeat_scanned(one_pass, genome, spec, state, obs, reward, learn):
    """The passes as a ``lax.scan`` whatever ``learn_every`` (every pass of the ``synapse``
    placement learns alike under either timing), then the once-per-step update if any."""
    if spec.plasticity != "synapse":
        raise ValueError("the scan variant is for the synapse placement")

    def body(carry, _):
        return one_pass(genome, spec, state.masks, *carry, obs, reward, state.prev_action,
                        learns_in_pass(spec, 0, learn)), None

    (plastic, y), _ = jax.lax.scan(body, (state.plastic, state.y), None, length=spec.passes)
    return _once_per_step(genome, spec, state, plastic, y, reward, learn)


# name -> (synapse pass, pass repetition); None keeps what sfnn.population has
VARIANTS = {
    "before": (pass_before, repeat_unrolled),
    "opt_barrier": (pass_opt_barrier, repeat_unrolled),
    "div_one": (pass_div_one, repeat_unrolled),
    "no_scan": (None, repeat_unrolled),
    "scan": (None, repeat_scanned),
    "no_materialize": (pass_before, None),
    "sigmoid_tanh": (pass_sigmoid_tanh, None),
    "tanh_gates": (block_pass(_tanh_gates_block), None),
    "current": (None, None),
    "reference": (None, None),  # not a pass of the fast path: ``build`` runs the reference network
}
DOCS = {
    "no_scan": "current pass (materialised sums and terms), passes unrolled (per-pass learning: as before the fix)",
    "scan": "current pass, passes always a lax.scan (with --learn-every step: no learning inside)",
    "no_materialize": "the pass before the fix, passes as a lax.scan",
    "tanh_gates": "current, with the GRU and the plastic update in tanh only (not bit-identical)",
    "current": "sfnn.population as it is in the tree",
    "reference": "sfnn.network.step vmapped over agents (population first, matrix products)",
}


def build(variant: str, pop: int, steps: int, plasticity: str = "synapse", options: dict | None = None,
          learn_every: str = "pass"):
    """Compile a lifetime of ``steps`` CartPole steps for ``pop`` agents with ``variant``."""
    env = make_env("CartPole-v1", steps)
    spec = SFNNSpec(Topology(env.obs_size, 32 - env.obs_size - env.n_actions, env.n_actions),
                    channels=4, connect_prob=0.5, passes=2, plasticity=plasticity, learn_every=learn_every)
    fn, rep = VARIANTS[variant]

    def run_reference(genomes, keys):  # the readable single-agent network, vmapped (population first)
        st = jax.vmap(lambda k: init_state(k, spec))(keys)

        def policy(s, obs, r, term):
            out, s = jax.vmap(lambda g, s1, o, r1: step(g, spec, s1, o, r1))(genomes, s, obs, r)
            return jnp.argmax(out, axis=-1), s

        res = run_lifetimes(env, policy, st, keys, 1)
        return res.returns, jnp.moveaxis(jax.tree.leaves(res.final_agent_state.plastic)[0], 0, -1)

    def run(genomes, keys):
        g = popmod.to_population_last(genomes)
        st = popmod.init_population_state(keys, spec)

        def policy(s, obs, r, term):
            out, s = popmod.population_step(g, spec, s, obs.T, r)
            return jnp.argmax(out, axis=0), s

        res = run_lifetimes(env, policy, st, keys, 1)
        return res.returns, jax.tree.leaves(res.final_agent_state.plastic)[0]

    genomes = jax.vmap(lambda k: init_genome(k, 4))(jax.random.split(jax.random.key(0), pop))
    keys = jax.random.split(jax.random.key(1), pop)
    saved = popmod._synapse_pass, popmod._repeat_passes
    popmod._synapse_pass = fn or saved[0]
    popmod._repeat_passes = rep or saved[1]
    try:
        t = time.perf_counter()
        jitted = jax.jit(run_reference if variant == "reference" else run,
                         compiler_options={**EVAL_COMPILER_OPTIONS, **(options or {})})
        compiled = jitted.lower(genomes, keys).compile()
        compile_s = time.perf_counter() - t
    finally:
        popmod._synapse_pass, popmod._repeat_passes = saved
    out = compiled(genomes, keys)
    jax.block_until_ready(out)
    return compiled, (genomes, keys), compile_s, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("variants", nargs="*", default=None)
    ap.add_argument("--pop", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--plasticity", default="synapse")
    ap.add_argument("--learn-every", default="pass", choices=("pass", "step"))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--options", default="{}", help="extra XLA compiler options (JSON) for every variant")
    args = ap.parse_args()
    if args.list:
        for k, (fn, _) in VARIANTS.items():
            print(f"{k:16s} {DOCS.get(k) or ' '.join((fn.__doc__ or '').split())}")
        return
    names = args.variants or list(VARIANTS)
    opts = json.loads(args.options)
    built = {}
    for n in names:
        if "+" in n:  # variant+{json options}, e.g. 'current+{"xla_cpu_use_fusion_emitters": false}'
            base, extra = n.split("+", 1)
            built[n] = build(base, args.pop, args.steps, args.plasticity, {**opts, **json.loads(extra)},
                             args.learn_every)
        else:
            built[n] = build(n, args.pop, args.steps, args.plasticity, opts, args.learn_every)
    ref = built[names[0]][3]
    times = {n: [] for n in names}
    cpu = {n: [] for n in names}
    for _ in range(args.rounds):
        for n in names:
            f, a, _, _ = built[n]
            t, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(f(*a))
            times[n].append(time.perf_counter() - t)
            cpu[n].append(time.process_time() - c)
    agent_steps = args.pop * args.steps
    edge_updates = 884 * (2 if args.learn_every == "pass" else 1) if args.plasticity == "synapse" else 0
    base = min(times[names[0]])
    print(f"pop={args.pop} steps={args.steps} rounds={args.rounds} plasticity={args.plasticity} "
          f"learn_every={args.learn_every} "
          f"devices={jax.device_count()} (min over rounds; ratio vs {names[0]})")
    print(f"{'variant':24s} {'compile s':>9s} {'min s':>8s} {'cpu s':>8s} {'agent-steps/s':>14s} "
          f"{'ns/edge-upd':>11s} "
          f"{'speed-up':>8s} {'max |diff|':>10s}")
    for n in names:
        f, a, cs, out = built[n]
        best = min(times[n])
        diff = max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(out), jax.tree.leaves(ref)))
        ns = best / agent_steps / edge_updates * 1e9 if edge_updates else float("nan")
        print(f"{n[:24]:24s} {cs:9.2f} {best:8.3f} {min(cpu[n]):8.3f} {agent_steps / best:14,.0f} {ns:11.2f} "
              f"{base / best:8.2f} {diff:10.2e}")


if __name__ == "__main__":
    main()

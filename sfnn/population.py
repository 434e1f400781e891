"""The SFNN step for a whole population at once, with the population as the last array axis.

Same network and semantics as ``network.py`` (which stays the readable single-agent
reference and is tested against this file), laid out for the hardware: every array ends
in the population axis P, so each tiny per-agent product (M≈4) becomes an elementwise
multiply-add over a contiguous vector of agents that XLA vectorises. ``vmap`` over the
reference instead puts the population first and leaves vectors of length M in the inner
loop, which measured ~50× slower on CPU.

Shapes: genome leaves (T, ..., P); masks (a, b, P); synapse vectors (a, b, M, P);
neuron vectors and activations (n, M, P); obs (n_in, P); reward (P,).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from sfnn.network import (
    PlasticState,
    SFNNSpec,
    action_scores,
    as_float,
    feed_action,
    heard,
    init_state,
    limit_growth,
    learns_after_passes,
    learns_in_pass,
    output_activations,
    plastic_update,
)
from sfnn.topology import BLOCKS, GROUP_TYPE
from sfnn.units import Genome, neuron_preactivation


def to_population_last(tree: Any) -> Any:
    """Move the leading population axis of every leaf to the end (done once per lifetime)."""
    return jax.tree.map(lambda x: jnp.moveaxis(x, 0, -1), tree)


def to_population_first(tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.moveaxis(x, -1, 0), tree)


def init_population_state(keys: jax.Array, spec: SFNNSpec) -> PlasticState:
    """One fresh lifetime per key (wiring and plastic vectors as in ``init_state``), population last."""
    return to_population_last(jax.vmap(lambda k: init_state(k, spec))(keys))


def pmm(x: jax.Array, w: jax.Array) -> jax.Array:
    """Σ_k x[..., k, :] · w[k]: x (..., K, P), w (K, N, P) -> (..., N, P), as multiply-adds."""
    acc = x[..., 0, None, :] * w[0]
    for k in range(1, w.shape[0]):
        acc = acc + x[..., k, None, :] * w[k]
    return acc


def _preactivation(g: Genome, t: int, s: jax.Array) -> jax.Array:
    # Meant to make XLA materialise ``s`` once rather than fuse the message sum into each of
    # the M products below. XLA's CPU pipeline expands the barrier before fusion, so on CPU
    # it does not stop that fusion (no barrier is left in the optimised HLO); callers whose
    # ``s`` is an expensive sum materialise it themselves (``_materialize``, synapse placement).
    s = jax.lax.optimization_barrier(s)
    return neuron_preactivation(g, t, pmm(s, g["neuron"]["kernel"][t]))


def _unit(g: Genome, t: int, s: jax.Array) -> jax.Array:
    return jnp.tanh(_preactivation(g, t, s))


def _output_unit(g: Genome, spec: SFNNSpec, s: jax.Array) -> dict[str, jax.Array]:
    """``network.output_unit`` for P agents (``_unit``'s arithmetic)."""
    return output_activations(spec, _preactivation(g, 2, s))


def _gru_terms(g: Genome, t: int, pre: jax.Array, post: jax.Array, reward: jax.Array, m: int):
    w = g["gru"]["input_kernel"][t]
    return pmm(pre, w[:m]), pmm(post, w[m : 2 * m]), reward * w[2 * m] + g["gru"]["input_bias"][t]


def _gru(g: Genome, t: int, gx: jax.Array, h: jax.Array, m: int) -> jax.Array:
    gh = pmm(h, g["gru"]["hidden_kernel"][t])
    r = jax.nn.sigmoid(gx[..., :m, :] + gh[..., :m, :])
    z = jax.nn.sigmoid(gx[..., m : 2 * m, :] + gh[..., m : 2 * m, :])
    n = jnp.tanh(gx[..., 2 * m :, :] + r * (gh[..., 2 * m :, :] + g["gru"]["hidden_bias_n"][t]))
    return (1.0 - z) * n + z * h


MESSAGE_CHUNK = 32  # sources per fused chain of adds (see ``_messages``)


def _chain(y: jax.Array, e: jax.Array) -> jax.Array:
    acc = y[0, None] * e[0]
    for i in range(1, e.shape[0]):
        acc = acc + y[i, None] * e[i]
    return acc


def _messages(y: jax.Array, e: jax.Array) -> jax.Array:
    """Σ_i y_i ⊙ e_ij: y (a, M, P), e (a, b, M, P) -> (b, M, P).

    Written as an unrolled chain of adds over sources: XLA's CPU reduction over a major
    axis runs ~100× slower than this fused loop (and ``einsum`` adds large transposes).
    Beyond ``MESSAGE_CHUNK`` sources one fused chain reads so many arrays that LLVM leaves
    it scalar (64 neurons ran 38× slower than 32), so longer sums are cut into chains of
    ``MESSAGE_CHUNK`` sources, each materialised (``_materialize``), then added.
    """
    a = e.shape[0]
    if a <= MESSAGE_CHUNK:
        return _chain(y, e)
    parts = [_materialize(_chain, y[i : i + MESSAGE_CHUNK], e[i : i + MESSAGE_CHUNK]) for i in range(0, a, MESSAGE_CHUNK)]
    acc = parts[0]
    for part in parts[1:]:
        acc = acc + part
    return acc


def _cpu_layout() -> bool:
    """Whether this trace compiles for XLA's CPU backend. The materialisation barriers and the
    pass loop below answer XLA's CPU fusion and LLVM's vectoriser; on a GPU XLA fuses as it
    chooses and the passes run unrolled (measured on an H200: 1.18× the scanned passes, same
    bits there; docs/PERFORMANCE.md, "On a GPU"). Both layouts compute the same arithmetic
    (fused differently, so the last bits may differ); ``tests/test_network.py`` checks each
    against the reference on the CPU."""
    return jax.default_backend() == "cpu"


def _materialize(f, *args):
    """``f(*args)`` computed once, into a buffer of its own; every leaf of ``args`` ends in P.

    XLA's CPU fusion copies cheap producers (adds, multiplies) into each consumer and
    expands ``optimization_barrier`` before fusing, so a barrier cannot stop it. Fused into a
    consumer that reads each element several times (the neuron unit mixes the M channels;
    the per-edge GRU broadcasts per-neuron terms over all edges), a producer is recomputed
    per read, and the fused loop reads so many arrays that LLVM needs more runtime alias
    checks than it allows and leaves the loop scalar (the message sums of the ``synapse``
    step ran as scalar code: ~950 instructions per output element). XLA's CPU fusion does not
    fuse a concatenate along the minor (population) axis into its consumers (from 64 bytes
    along it and 2 KiB in all; smaller results may stay fused, which is only slower), so
    computing the two halves of the population and joining them materialises the result,
    vectorised. With halves of 9-31 agents LLVM unrolls the joining loop into scalar code
    (population 32: 13.6 of 86.5 ms of a lifetime, against 2.7 of 112 ms at 64); there a
    conditional whose two branches are both ``f`` is the barrier (population 32: 1.2× the
    whole step; at 16 and at 64 or more it is 0.92-0.98×, so the halves stay). Pure data
    movement: the values are those of ``f(*args)``, whichever branch runs.
    """
    p = jax.tree.leaves(args)[0].shape[-1]
    if p < 2 or not _cpu_layout():
        # Elsewhere a conditional may even cost a device-to-host copy of its predicate per call.
        return f(*args)
    h = p // 2
    if 8 < h < 32:
        unfoldable = jnp.isnan(jax.tree.leaves(args)[-1].ravel()[0])  # XLA cannot know it at compile time
        return jax.lax.cond(unfoldable, lambda a: f(*a), lambda a: f(*a), args)
    lo = f(*jax.tree.map(lambda x: x[..., :h], args))
    hi = f(*jax.tree.map(lambda x: x[..., h:], args))
    return jax.tree.map(lambda u, v: jnp.concatenate([u, v], axis=-1), lo, hi)


def _hidden_input(y_i, y_h, y_o, e_ih, e_hh, e_oh):
    return _messages(y_i, e_ih) + _messages(y_h, e_hh) + _messages(y_o, e_oh)


def synapse_activations(g, spec, edges, y, obs, prev_action, k=0) -> dict[str, jax.Array]:
    """The neurons' new activations in pass ``k`` of a ``synapse`` step (message sums materialised)."""
    m = spec.channels
    y_new = {"i": _unit(g, 0, jnp.broadcast_to(obs[:, None, :], (obs.shape[0], m, obs.shape[1])))}
    src_i = heard(spec, y, y_new)["i"]
    s_h = _materialize(_hidden_input, src_i, y["h"], y["o"], edges["ih"], edges["hh"], edges["oh"])
    y_new["h"] = _unit(g, 1, s_h)
    output_input = lambda y_h, e_ho, a: feed_action(spec, k, _messages(y_h, e_ho), a)  # noqa: E731
    y_new.update(_output_unit(g, spec, _materialize(output_input, heard(spec, y, y_new)["h"], edges["ho"], prev_action)))
    return y_new


def _synapse_plasticity(g, spec, masks, edges, y_from, y_to, reward):
    """``network.synapse_plasticity`` for P agents. The per-neuron GRU input terms are
    materialised (``_materialize``), so the per-edge GRU loop reads only the edge vectors, the
    masks, the genome and three small per-neuron arrays, and stays vectorised."""
    m = spec.channels
    g_in = {"gru": {k: g["gru"][k] for k in ("input_kernel", "input_bias")}}
    new_edges = {}
    for b, (pre, post) in BLOCKS.items():
        t = GROUP_TYPE[pre]
        terms = lambda gg, x, z, r, t=t: _gru_terms(gg, t, x, z, r, m)  # noqa: E731
        a, c, shared = _materialize(terms, g_in, y_from[pre], y_to[post], reward)
        h = _gru(g, t, a[:, None] + c[None] + shared, edges[b], m)
        new_edges[b] = plastic_update(spec, edges[b], h, g) * masks[b][:, :, None, :]
    return limit_growth(spec, new_edges)


def _synapse_pass(g, spec, masks, edges, y, obs, reward, prev_action, learn, k=0):
    """One pass of the ``synapse`` placement, message sums materialised; the arithmetic, and
    its order, is that of ``network._synapse_pass``."""
    y_new = synapse_activations(g, spec, edges, y, obs, prev_action, k)
    if learn:
        edges = _synapse_plasticity(g, spec, masks, edges, heard(spec, y, y_new), y_new, reward)
    return edges, y_new


def _repeat_passes(one_pass, genome, spec, state, obs, reward, learn):
    """``spec.passes`` passes and their plasticity (``network.learns_in_pass`` and
    ``learns_after_passes``). When the ``synapse`` placement learns at every pass (or is frozen
    under that timing) on a CPU the passes are a ``lax.scan``: the loop boundary materialises
    each pass's edge vectors, where unrolled passes let XLA recompute the first pass's edges
    inside the second pass's GRU and message loops (and split the first pass's GRU into three
    loops); it also compiles one pass instead of ``passes``. On a GPU the scan's per-iteration copies and launches cost more than
    they save (H200, population 4096: unrolled 9.2M agent-steps/s, scanned 7.8M), so the passes
    are unrolled; so are the update-free passes of ``learn_every="step"`` (scanned: 0.91×) and
    passes that differ in whether they feed the previous action (``action_feedback_from``)."""
    args = (genome, spec, state.masks)
    plastic, y = state.plastic, state.y
    scan = spec.plasticity == "synapse" and spec.learn_every == "pass" and spec.action_feedback_from == 0
    if scan and spec.passes > 1 and _cpu_layout():

        def body(carry, _):
            return one_pass(*args, *carry, obs, reward, state.prev_action, learn, 0), None

        (plastic, y), _ = jax.lax.scan(body, (plastic, y), None, length=spec.passes)
    else:
        for k in range(spec.passes):
            plastic, y = one_pass(*args, plastic, y, obs, reward, state.prev_action, learns_in_pass(spec, k, learn), k)
    if learns_after_passes(spec, learn):
        plastic = _synapse_plasticity(genome, spec, state.masks, plastic, state.y, y, reward)
    return plastic, y


def _mask_messages(mask: jax.Array, y: jax.Array) -> jax.Array:
    """Σ_i mask_ij y_i: mask (a, b, P), y (a, M, P) -> (b, M, P)."""
    return _messages(y, mask[:, :, None, :])


def _neuron_pass(g, spec, masks, w, y, obs, reward, prev_action, learn, k=0):
    m = spec.channels
    s = {"i": jnp.broadcast_to(obs[:, None, :], (obs.shape[0], m, obs.shape[1]))}
    post = {"i": s["i"] * w["i"]}
    y_new = {"i": _unit(g, 0, post["i"])}
    src_i = heard(spec, y, y_new)["i"]
    s["h"] = _mask_messages(masks["ih"], src_i) + _mask_messages(masks["hh"], y["h"]) + _mask_messages(masks["oh"], y["o"])
    post["h"] = s["h"] * w["h"]
    y_new["h"] = _unit(g, 1, post["h"])
    s["o"] = feed_action(spec, k, _mask_messages(masks["ho"], heard(spec, y, y_new)["h"]), prev_action)
    post["o"] = s["o"] * w["o"]
    y_new.update(_output_unit(g, spec, post["o"]))
    if learn:
        new_w = {}
        for grp in "iho":
            t = GROUP_TYPE[grp]
            a, c, shared = _gru_terms(g, t, s[grp], post[grp], reward, m)
            new_w[grp] = plastic_update(spec, w[grp], _gru(g, t, a + c + shared, w[grp], m), g)
        w = limit_growth(spec, new_w)
    return w, y_new


def population_step(
    genome: Genome,
    spec: SFNNSpec,
    state: PlasticState,
    obs: jax.Array,
    reward: jax.Array,
    learn: bool = True,
) -> tuple[jax.Array, PlasticState]:
    """``network.step`` for P agents at once; genome and state population-last (see module doc).

    obs (n_in, P), reward (P,) -> (output channel-0 values (n_out, P), new state).
    """
    obs, reward = as_float(obs), as_float(reward)
    one_pass = _synapse_pass if spec.plasticity == "synapse" else _neuron_pass
    plastic, y = _repeat_passes(one_pass, genome, spec, state, obs, reward, learn)
    out = action_scores(spec, y)
    prev_action = out if spec.continuous else jax.nn.one_hot(jnp.argmax(out, axis=0), spec.topo.n_out, axis=0)
    return out, PlasticState(state.masks, plastic, y, prev_action)

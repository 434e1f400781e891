"""The Structurally Flexible Neural Network: one step as a pure function.

A network is (genome, plastic state). The genome holds the shared units (``units.py``); the
plastic state holds the wiring sampled for this lifetime, the neurons' activations, and the
plastic vectors that the GRUs rewrite after every pass (``learn_every="step"``: once per step,
after the last pass, as the authors' code does; see ``step``):

* ``synapse`` placement: each existing edge i→j owns a vector e_ij; the message it carries is
  y_i ⊙ e_ij, and after each pass the GRU of i's type sets e_ij ← e_ij + η·GRU([y_i, y_j, r], e_ij).
* ``neuron`` placement: each neuron owns a vector w_i; its summed input s_i becomes
  post_i = s_i ⊙ w_i, its activation is the type's neuron unit applied to post_i, and the
  group's GRU sets w_i ← w_i + η·GRU([s_i, post_i, r], w_i). State is O(N), not O(N²).

Both are the authors' additive rule; ``update="lerp"`` replaces v + η·GRU(x, v) by the bounded
v + η·(GRU(x, v) − v) (``plastic_update``). Under ``add`` a vector can grow by (1 + η) every update
for a whole lifetime; ``rescale`` keeps it within float32's range without changing what the
network does, and ``bound`` (``model.plastic_max``) stops it at a chosen size, a change to the
model (``limit_growth``).

Propagation (``propagation``): ``sequential`` passes visit the groups in order input → hidden →
output (the observation reaches the output within a single pass), hidden neurons also hearing
the hidden and output activations of the previous pass; ``simultaneous`` passes update every
neuron at once from the previous pass's activations (the first pass of a step reads the
previous step's), as the authors' code does. Input neurons see their observation dimension
broadcast over all M channels; output neurons also receive the previous action (one-hot),
added to all channels (``prev_action="add"``) or written over channel 0 (``"channel0"``, the
authors'), from pass ``action_feedback_from`` on. The action is the argmax of the output
neurons' channel 0 (``action_readout="value"``, the authors'), or of its pre-activation
(``"preactivation"``): the same action wherever the values differ, but float32 tanh is exactly 1
beyond ~9, so saturated outputs tie and the value argmax falls to the lowest index (Acrobot's
"push left" wins most ties, "push right" cannot win while another output is saturated). For
continuous actions (``spec.continuous``) channel 0 of each output neuron is one action
dimension in [-1, 1] (the type's tanh), and the previous action fed back is those values
themselves instead of a one-hot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from sfnn.topology import BLOCKS, GROUP_TYPE, Topology, sample_masks
from sfnn.units import Genome, gru_cell, gru_input_terms, neuron_input, neuron_unit

PLACEMENTS = ("synapse", "neuron")
UPDATES = ("add", "lerp")
LEARN_EVERY = ("pass", "step")
PROPAGATIONS = ("sequential", "simultaneous")
PREV_ACTIONS = ("add", "channel0")
ACTION_READOUTS = ("value", "preactivation")


@dataclass(frozen=True)
class SFNNSpec:
    """Static hyper-parameters of one network (hashable: used as a jit static argument)."""

    topo: Topology
    channels: int = 4
    connect_prob: float = 0.5
    passes: int = 2
    plasticity: str = "synapse"
    plastic_lr: float = 0.01
    init_scale: float = 0.1
    continuous: bool = False  # outputs are action values in [-1, 1], not scores for an argmax
    update: str = "add"  # add: v + η·GRU (the authors) | lerp: v + η·(GRU − v), see ``plastic_update``
    learn_every: str = "pass"  # pass: plasticity after every pass | step: once per step (the authors), see ``step``
    propagation: str = "sequential"  # sequential: input → hidden → output within a pass | simultaneous (the authors)
    prev_action: str = "add"  # add: to all channels of the output neurons' input | channel0: over channel 0 (the authors)
    action_feedback_from: int = 0  # first pass whose output neurons get the previous action (the authors: 1)
    initial_action: int | None = None  # previous action at a lifetime's start: None = none (zeros) | its index (authors: 0)
    self_loops: bool = True  # hidden→hidden self-connections may be sampled (the authors: none)
    action_readout: str = "value"  # discrete argmax over output channel 0: value (the authors) | preactivation
    rescale: bool = True  # the edges into a neuron past 2**96 are scaled by 2**-64 together (see ``limit_growth``)
    bound: float = 0.0  # > 0: the edges into a neuron are scaled together to stay within ±bound (see ``limit_growth``)

    def __post_init__(self) -> None:
        if self.plasticity not in PLACEMENTS:
            raise ValueError(f"model.plasticity must be one of {PLACEMENTS}, got {self.plasticity!r}")
        if self.update not in UPDATES:
            raise ValueError(f"model.plastic_update must be one of {UPDATES}, got {self.update!r}")
        if self.learn_every not in LEARN_EVERY:
            raise ValueError(f"model.learn_every must be one of {LEARN_EVERY}, got {self.learn_every!r}")
        if self.propagation not in PROPAGATIONS:
            raise ValueError(f"model.propagation must be one of {PROPAGATIONS}, got {self.propagation!r}")
        if self.prev_action not in PREV_ACTIONS:
            raise ValueError(f"model.prev_action must be one of {PREV_ACTIONS}, got {self.prev_action!r}")
        if self.action_readout not in ACTION_READOUTS:
            raise ValueError(f"model.action_readout must be one of {ACTION_READOUTS}, got {self.action_readout!r}")
        if not self.bound >= 0:
            raise ValueError(f"model.plastic_max={self.bound} must be 0 (unbounded) or positive")
        if self.continuous and self.action_readout != "value":
            raise ValueError("model.action_readout='preactivation' is for discrete actions; continuous actions are the output values")
        if not 0 <= self.action_feedback_from <= self.passes:
            raise ValueError(f"model.action_feedback_from={self.action_feedback_from} must be in 0..model.passes={self.passes}")
        if self.initial_action is not None and (self.continuous or not 0 <= self.initial_action < self.topo.n_out):
            raise ValueError(f"model.initial_action={self.initial_action} must be null or a discrete action index "
                             f"below {self.topo.n_out}")


def as_float(x: jax.Array) -> jax.Array:
    """``x`` as a float array: float32 unless it is a float already (float64 stays float64, so
    that a network can be run in double precision, as the parity test with the authors' code does)."""
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def plastic_rate(spec: SFNNSpec, genome: Genome | None = None) -> jax.Array | float:
    """η: ``spec.plastic_lr``, times the genome's evolved scale λ where it has one
    (``evolve_plastic_lr``; population-last genomes give one η per agent). Under ``lerp`` an
    evolved η is clipped to [0, 1], the range in which that rule stays bounded."""
    scale = None if genome is None else genome.get("plastic_lr_scale")
    if scale is None:
        return spec.plastic_lr
    rate = spec.plastic_lr * scale[0]
    return jnp.clip(rate, 0.0, 1.0) if spec.update == "lerp" else rate


def plastic_update(spec: SFNNSpec, v: jax.Array, h: jax.Array, genome: Genome | None = None) -> jax.Array:
    """A plastic vector ``v`` after its GRU proposed ``h`` = GRU(x, v), at rate ``plastic_rate``.

    ``add`` (the authors' rule) adds η·h: vectors are unbounded, and a GRU whose output follows
    its state (update gate open) makes them grow by (1+η) per pass until they overflow; keeping
    them still needs h = 0 exactly. ``lerp`` moves v a fraction η towards h: since h is a convex
    mix of tanh(·) and v, vectors stay within [-max(1, |v₀|), max(1, |v₀|)] for a whole lifetime,
    and keeping them still only needs the update gate shut (z → 1, one saturated bias).
    """
    rate = plastic_rate(spec, genome)
    if spec.update == "lerp":
        return v + rate * (h - v)
    return v + rate * h


RESCALE_ABOVE = 2.0**96
RESCALE_BY = 2.0**-64


def limit_growth(spec: SFNNSpec, plastic: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """``plastic`` (synapse: block -> (pre, post, M) vectors; neuron: group -> (n, M)) with the
    vectors into each neuron (synapse: all its incoming edges, whatever block they are in;
    neuron: its own vector) scaled by 2⁻⁶⁴ together where their largest magnitude has passed 2⁹⁶
    (``spec.rescale``; a trailing population axis, as ``sfnn.population`` keeps, is carried along:
    each agent is scaled on its own).

    Why: under the additive rule an evolved GRU often keeps its update gate at 1 on some blocks,
    so their vectors grow by (1 + η) every update; CartPole genomes reach ~1e35 by the end of
    eight 500-step windows, and one window more overflows float32: inf, then NaN, and the agent
    holds one action for the rest of its life. The input these vectors give a neuron saturates
    every tanh and gate it reaches, and a power of two scales exactly, so the network acts as
    before (the smaller edges into the same neuron are negligible beside them at either scale);
    only float32's range is kept. ``rescale=False`` lets them overflow, as the authors' code would.
    ``lerp`` keeps every vector within ±max(1, init_scale) (``plastic_update``), so it skips the check.

    ``spec.bound`` > 0 (``model.plastic_max``) changes the model instead: the vectors into a neuron
    are scaled together by bound / (their largest magnitude) whenever that passes ``bound``, after
    every update. Growth then stops at the bound, where the GRU's proposals can still turn the vectors:
    unbounded, a block growing by (1 + η) a step drowns each new proposal (at most η per entry) in
    its own size, and its direction is fixed within the first few hundred steps whatever happens
    later in the lifetime.
    """
    if spec.bound > 0:
        peak = _peak_into_neurons(spec, plastic)
        return {k: v * jnp.minimum(1.0, spec.bound / jnp.maximum(peak[k], spec.bound)) for k, v in plastic.items()}
    if not spec.rescale or spec.update == "lerp":
        return plastic
    peak = _peak_into_neurons(spec, plastic)
    return {k: jnp.where(peak[k] > RESCALE_ABOVE, v * RESCALE_BY, v) for k, v in plastic.items()}


def _peak_into_neurons(spec: SFNNSpec, plastic: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """The largest magnitude among each neuron's incoming vectors, shaped to broadcast over ``plastic[k]``."""
    if spec.plasticity == "synapse":  # per post-synaptic neuron: reduce pre and channels
        post = {k: BLOCKS[k][1] for k in plastic}
        peak = {}
        for k, v in plastic.items():
            m = jnp.max(jnp.abs(v), axis=(0, 2))
            peak[post[k]] = m if post[k] not in peak else jnp.maximum(peak[post[k]], m)
        return {k: peak[post[k]][None, :, None] for k in plastic}
    return {k: jnp.max(jnp.abs(v), axis=1)[:, None] for k, v in plastic.items()}  # per neuron: reduce channels


class PlasticState(NamedTuple):
    """Everything that changes within a lifetime; reset only when a new lifetime starts."""

    masks: dict[str, jax.Array]  # wiring blocks, 0/1, see topology.BLOCKS
    plastic: dict[str, jax.Array]  # synapse: block -> (pre, post, M); neuron: group -> (n, M)
    y: dict[str, jax.Array]  # group -> activations (n, M); "o_pre": output channel-0 pre-activations (action_readout)
    prev_action: jax.Array  # (n_out,) one-hot of the last action taken (continuous: its values)


def initial_prev_action(spec: SFNNSpec) -> jax.Array:
    """The previous action a lifetime starts with: none (zeros), or ``spec.initial_action``'s one-hot."""
    if spec.initial_action is None:
        return jnp.zeros((spec.topo.n_out,))
    return jax.nn.one_hot(spec.initial_action, spec.topo.n_out)


def init_state(key: jax.Array, spec: SFNNSpec) -> PlasticState:
    """A new lifetime: fresh wiring, plastic vectors U(±init_scale), silent neurons."""
    k_mask, k_vec = jax.random.split(key)
    topo, m = spec.topo, spec.channels
    masks = sample_masks(k_mask, topo, spec.connect_prob, spec.self_loops)
    if spec.plasticity == "synapse":
        keys = jax.random.split(k_vec, len(BLOCKS))
        plastic = {
            b: masks[b][..., None]
            * jax.random.uniform(k, (*topo.block_shape(b), m), minval=-spec.init_scale, maxval=spec.init_scale)
            for k, b in zip(keys, BLOCKS)
        }
    else:
        keys = jax.random.split(k_vec, 3)
        plastic = {
            g: jax.random.uniform(k, (topo.size(g), m), minval=-spec.init_scale, maxval=spec.init_scale)
            for k, g in zip(keys, "iho")
        }
    y = {g: jnp.zeros((topo.size(g), m)) for g in "iho"}
    if spec.action_readout == "preactivation":
        y["o_pre"] = jnp.zeros((topo.n_out,))
    return PlasticState(masks, plastic, y, initial_prev_action(spec))


def _messages(y_pre: jax.Array, edges: jax.Array) -> jax.Array:
    """Σ_i y_i ⊙ e_ij: a plain sum over sources (absent edges hold zero vectors)."""
    return jnp.sum(y_pre[:, None, :] * edges, axis=0)


def synapse_plasticity(genome, spec, masks, edges, y_from, y_to, reward):
    """Every edge i→j after its type's GRU saw (y_from[i], y_to[j], reward); absent edges stay 0."""
    new_edges = {}
    for b, (pre, post) in BLOCKS.items():
        t = GROUP_TYPE[pre]
        a, c, shared = gru_input_terms(genome, t, y_from[pre], y_to[post], reward)
        gates = a[:, None, :] + c[None, :, :] + shared
        h = gru_cell(genome, t, gates, edges[b])
        new_edges[b] = plastic_update(spec, edges[b], h, genome) * masks[b][..., None]
    return limit_growth(spec, new_edges)


def action_scores(spec: SFNNSpec, y: dict[str, jax.Array]) -> jax.Array:
    """What the action is read from: the output neurons' channel-0 values, or their
    pre-activations (``action_readout``); (n_out,), or (n_out, P) population-last."""
    return y["o_pre"] if spec.action_readout == "preactivation" else y["o"][:, 0]


def feed_action(spec: SFNNSpec, k: int, s_out: jax.Array, prev_action: jax.Array) -> jax.Array:
    """The output neurons' summed input (n_out, M[, P]) with the previous action (n_out[, P]) fed in
    pass ``k``: added to every channel, or written over channel 0 (``spec.prev_action``)."""
    if k < spec.action_feedback_from:
        return s_out
    if spec.prev_action == "channel0":
        return s_out.at[:, 0].set(prev_action)
    return s_out + prev_action[:, None]


def heard(spec: SFNNSpec, y_old: dict, y_new: dict) -> dict:
    """The activations a pass reads: those of this pass as each group is updated (``sequential``)
    or those of the previous pass (``simultaneous``); also the pre-synaptic side of its per-pass
    plasticity."""
    return y_old if spec.propagation == "simultaneous" else y_new


def output_activations(spec: SFNNSpec, z: jax.Array) -> dict[str, jax.Array]:
    """The output neurons' activations from their pre-activations ``z`` (n_out, M[, P]) and, under
    ``action_readout="preactivation"``, channel 0 of ``z``, the action scores."""
    y = {"o": jnp.tanh(z)}
    if spec.action_readout == "preactivation":
        y["o_pre"] = z[:, 0]
    return y


def output_unit(genome: Genome, spec: SFNNSpec, s: jax.Array) -> dict[str, jax.Array]:
    """``output_activations`` of type-2 neurons with summed input ``s`` (``neuron_unit``'s arithmetic)."""
    return output_activations(spec, neuron_input(genome, 2, s))


def _synapse_pass(genome, spec, masks, edges, y, obs, reward, prev_action, learn, k=0):
    m = spec.channels
    y_new = {"i": neuron_unit(genome, 0, jnp.broadcast_to(obs[:, None], (obs.shape[0], m)))}
    src_i = heard(spec, y, y_new)["i"]
    s_h = _messages(src_i, edges["ih"]) + _messages(y["h"], edges["hh"]) + _messages(y["o"], edges["oh"])
    y_new["h"] = neuron_unit(genome, 1, s_h)
    s_o = feed_action(spec, k, _messages(heard(spec, y, y_new)["h"], edges["ho"]), prev_action)
    y_new.update(output_unit(genome, spec, s_o))
    if learn:
        edges = synapse_plasticity(genome, spec, masks, edges, heard(spec, y, y_new), y_new, reward)
    return edges, y_new


def _neuron_pass(genome, spec, masks, w, y, obs, reward, prev_action, learn, k=0):
    m = spec.channels
    s = {"i": jnp.broadcast_to(obs[:, None], (obs.shape[0], m))}
    post = {"i": s["i"] * w["i"]}
    y_new = {"i": neuron_unit(genome, 0, post["i"])}
    src_i = heard(spec, y, y_new)["i"]
    s["h"] = masks["ih"].T @ src_i + masks["hh"].T @ y["h"] + masks["oh"].T @ y["o"]
    post["h"] = s["h"] * w["h"]
    y_new["h"] = neuron_unit(genome, 1, post["h"])
    s["o"] = feed_action(spec, k, masks["ho"].T @ heard(spec, y, y_new)["h"], prev_action)
    post["o"] = s["o"] * w["o"]
    y_new.update(output_unit(genome, spec, post["o"]))
    if learn:
        new_w = {}
        for g in "iho":
            t = GROUP_TYPE[g]
            a, c, shared = gru_input_terms(genome, t, s[g], post[g], reward)
            h = gru_cell(genome, t, a + c + shared, w[g])
            new_w[g] = plastic_update(spec, w[g], h, genome)
        w = limit_growth(spec, new_w)
    return w, y_new


def learns_in_pass(spec: SFNNSpec, k: int, learn: bool) -> bool:
    """Whether pass ``k`` of a step ends with its plasticity update (see ``step``)."""
    if spec.learn_every == "pass":
        return learn
    return learn and spec.plasticity == "neuron" and k == spec.passes - 1


def learns_after_passes(spec: SFNNSpec, learn: bool) -> bool:
    """Whether the edges learn once after all passes (``synapse``, ``learn_every="step"``)."""
    return learn and spec.learn_every == "step" and spec.plasticity == "synapse"


def step(
    genome: Genome,
    spec: SFNNSpec,
    state: PlasticState,
    obs: jax.Array,
    reward: jax.Array,
    learn: bool = True,
) -> tuple[jax.Array, PlasticState]:
    """One environment step: ``spec.passes`` propagation passes and their plasticity.

    ``learn_every="pass"`` updates the plastic vectors after every pass, each GRU seeing that
    pass's activations. ``"step"`` updates them once, after the last pass, as the authors' code
    does (half the GRU work at two passes): for the ``synapse`` placement edge i→j's GRU sees
    i's activation at the end of the previous step and j's at the end of this one; for the
    ``neuron`` placement the last pass's summed input and post; this step's actions never
    depend on its own update.

    Returns the output neurons' channel-0 values or pre-activations (``action_scores``: argmax is
    the discrete action; continuous: the values, the action in [-1, 1]) and the new plastic
    state. ``learn=False`` freezes the plastic vectors (the ablation that shows how much of the
    behaviour is learned within the lifetime).
    """
    obs = as_float(obs).reshape(-1)
    reward = as_float(reward)
    one_pass = _synapse_pass if spec.plasticity == "synapse" else _neuron_pass
    plastic, y = state.plastic, state.y
    for k in range(spec.passes):
        plastic, y = one_pass(genome, spec, state.masks, plastic, y, obs, reward, state.prev_action,
                              learns_in_pass(spec, k, learn), k)
    if learns_after_passes(spec, learn):
        plastic = synapse_plasticity(genome, spec, state.masks, plastic, state.y, y, reward)
    out = action_scores(spec, y)
    prev_action = out if spec.continuous else jax.nn.one_hot(jnp.argmax(out), spec.topo.n_out)
    return out, PlasticState(state.masks, plastic, y, prev_action)

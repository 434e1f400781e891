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
v + η·(GRU(x, v) − v) (``plastic_update``).

One pass visits the groups in order input → hidden → output (the observation reaches the
output within a single pass); hidden neurons also hear the hidden and output activations of
the previous pass. Input neurons see their observation dimension broadcast over all M
channels; output neurons additionally receive the previous action (one-hot). The action is
the argmax of the output neurons' channel 0. For continuous actions (``spec.continuous``)
channel 0 of each output neuron is one action dimension in [-1, 1] (the type's tanh), and
the previous action fed back is those values themselves instead of a one-hot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from sfnn.topology import BLOCKS, GROUP_TYPE, Topology, sample_masks
from sfnn.units import Genome, gru_cell, gru_input_terms, neuron_unit

PLACEMENTS = ("synapse", "neuron")
UPDATES = ("add", "lerp")
LEARN_EVERY = ("pass", "step")


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

    def __post_init__(self) -> None:
        if self.plasticity not in PLACEMENTS:
            raise ValueError(f"model.plasticity must be one of {PLACEMENTS}, got {self.plasticity!r}")
        if self.update not in UPDATES:
            raise ValueError(f"model.plastic_update must be one of {UPDATES}, got {self.update!r}")
        if self.learn_every not in LEARN_EVERY:
            raise ValueError(f"model.learn_every must be one of {LEARN_EVERY}, got {self.learn_every!r}")


def plastic_update(spec: SFNNSpec, v: jax.Array, h: jax.Array) -> jax.Array:
    """A plastic vector ``v`` after its GRU proposed ``h`` = GRU(x, v).

    ``add`` (the authors' rule) adds η·h: vectors are unbounded, and a GRU whose output follows
    its state (update gate open) makes them grow by (1+η) per pass until they overflow; keeping
    them still needs h = 0 exactly. ``lerp`` moves v a fraction η towards h: since h is a convex
    mix of tanh(·) and v, vectors stay within [-max(1, |v₀|), max(1, |v₀|)] for a whole lifetime,
    and keeping them still only needs the update gate shut (z → 1, one saturated bias).
    """
    if spec.update == "lerp":
        return v + spec.plastic_lr * (h - v)
    return v + spec.plastic_lr * h


class PlasticState(NamedTuple):
    """Everything that changes within a lifetime; reset only when a new lifetime starts."""

    masks: dict[str, jax.Array]  # wiring blocks, 0/1, see topology.BLOCKS
    plastic: dict[str, jax.Array]  # synapse: block -> (pre, post, M); neuron: group -> (n, M)
    y: dict[str, jax.Array]  # group -> activations (n, M)
    prev_action: jax.Array  # (n_out,) one-hot of the last action taken (continuous: its values)


def init_state(key: jax.Array, spec: SFNNSpec) -> PlasticState:
    """A new lifetime: fresh wiring, plastic vectors U(±init_scale), silent neurons."""
    k_mask, k_vec = jax.random.split(key)
    topo, m = spec.topo, spec.channels
    masks = sample_masks(k_mask, topo, spec.connect_prob)
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
    return PlasticState(masks, plastic, y, jnp.zeros((topo.n_out,)))


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
        new_edges[b] = plastic_update(spec, edges[b], h) * masks[b][..., None]
    return new_edges


def _synapse_pass(genome, spec, masks, edges, y, obs, reward, prev_action, learn):
    m = spec.channels
    y_i = neuron_unit(genome, 0, jnp.broadcast_to(obs[:, None], (obs.shape[0], m)))
    s_h = _messages(y_i, edges["ih"]) + _messages(y["h"], edges["hh"]) + _messages(y["o"], edges["oh"])
    y_h = neuron_unit(genome, 1, s_h)
    s_o = _messages(y_h, edges["ho"]) + prev_action[:, None]
    y_o = neuron_unit(genome, 2, s_o)
    y_new = {"i": y_i, "h": y_h, "o": y_o}
    if learn:
        edges = synapse_plasticity(genome, spec, masks, edges, y_new, y_new, reward)
    return edges, y_new


def _neuron_pass(genome, spec, masks, w, y, obs, reward, prev_action, learn):
    m = spec.channels
    s = {"i": jnp.broadcast_to(obs[:, None], (obs.shape[0], m))}
    post = {"i": s["i"] * w["i"]}
    y_new = {"i": neuron_unit(genome, 0, post["i"])}
    s["h"] = masks["ih"].T @ y_new["i"] + masks["hh"].T @ y["h"] + masks["oh"].T @ y["o"]
    post["h"] = s["h"] * w["h"]
    y_new["h"] = neuron_unit(genome, 1, post["h"])
    s["o"] = masks["ho"].T @ y_new["h"] + prev_action[:, None]
    post["o"] = s["o"] * w["o"]
    y_new["o"] = neuron_unit(genome, 2, post["o"])
    if learn:
        new_w = {}
        for g in "iho":
            t = GROUP_TYPE[g]
            a, c, shared = gru_input_terms(genome, t, s[g], post[g], reward)
            h = gru_cell(genome, t, a + c + shared, w[g])
            new_w[g] = plastic_update(spec, w[g], h)
        w = new_w
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

    Returns the output neurons' channel-0 values (argmax is the discrete action; continuous:
    the action in [-1, 1]) and the new plastic state. ``learn=False`` freezes the plastic
    vectors (the ablation that shows how much of the behaviour is learned within the lifetime).
    """
    obs = jnp.asarray(obs, jnp.float32).reshape(-1)
    reward = jnp.asarray(reward, jnp.float32)
    one_pass = _synapse_pass if spec.plasticity == "synapse" else _neuron_pass
    plastic, y = state.plastic, state.y
    for k in range(spec.passes):
        plastic, y = one_pass(genome, spec, state.masks, plastic, y, obs, reward, state.prev_action, learns_in_pass(spec, k, learn))
    if learns_after_passes(spec, learn):
        plastic = synapse_plasticity(genome, spec, state.masks, plastic, state.y, y, reward)
    out = y["o"][:, 0]
    prev_action = out if spec.continuous else jax.nn.one_hot(jnp.argmax(out), spec.topo.n_out)
    return out, PlasticState(state.masks, plastic, y, prev_action)

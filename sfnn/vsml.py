"""VSML: variable shared meta learning (Kirsch & Schmidhuber, "Meta Learning Backpropagation
And Improving It", 2021), as pure JAX functions.

Why: it is the learned-learning-rule family that fixes the least by hand, the far end of the
range that SFNN and BLUR are compared along. Every weight of a layered network is replaced by a small LSTM, and *one*
set of LSTM parameters (the genome) is shared by every synapse of every layer, so the genome
(608 parameters at S=8, m=4) does not depend on input, hidden or output sizes, and both the
inference and the learning algorithm of the network live in the synapses' LSTM states.

Network. Layers 0..L have sizes [d_in, h1, ..., n_out]; the synapses between layer l and l+1
hold LSTM states h, c of shape (n_l, n_{l+1}, S). Every neuron carries a forward and a backward
message of m channels.

A tick updates every synapse (a, b) of a layer with the shared LSTM,
    (h_ab, c_ab) ← LSTM((h_ab, c_ab), [→m_a, ←m_b]),
where →m_a is the forward message of its pre-neuron and ←m_b the backward message of its
post-neuron. Messages to the next neurons are sums over synapses of linear projections of the
new hidden states:
    →m_b = n_l^(-1/2) · Σ_a P_f h_ab        (to the post-neurons, next layer's input)
    ←m_a = n_{l+1}^(-1/2) · Σ_b P_b h_ab    (to the pre-neurons, previous layer's feedback)
The input x enters channel 0 of the input neurons' forward messages (other channels 0); the
network's output is channel 0 of the output neurons' forward messages.

One learning step is one forward tick (layers 0 → L, feedback inputs 0) and one backward tick
(layers L → 0, each synapse seeing again the forward message of this step and the feedback of
its post-neuron). Feedback enters at the output neurons' backward messages:
  * supervised: channel 0 the label one-hot, channel 1 the error softmax(logits) − one-hot;
  * RL: channel 0 the last reward, channel 1 the previous action (one-hot, or its value for
    continuous actions), channel 2 whether the last step terminated the episode. In RL the
    feedback about action t−1 arrives with observation t, so a step is the backward tick for
    the previous action (with the forward messages that produced it, kept in the state),
    then the forward tick that chooses the next action.

Genome: ``wx_f`` (m, 4S), ``wx_b`` (m, 4S) input weights of the forward and backward message,
``wh`` (S, 4S) recurrent weights, ``b`` (4S,) gate biases (order i, f, g, o), ``p_f``, ``p_b``
(S, m) the message projections: 8mS + 4S² + 4S + 2Sm = 608 parameters at S=8, m=4.

Initial synapse states are random, N(0, init_scale²) per entry, drawn from a key for every new
network (a new lifetime, a new task): they play the part of random initial weights and break
the symmetry between synapses that share one LSTM.

Where this departs from or simplifies the paper:
  * one LSTM for the synapses of every layer (the simplest form: per-layer LSTMs would tie the
    genome to the network's depth);
  * message sums are scaled by fan-in^(-1/2), our choice, so that one genome sees messages of
    the same order at any width;
  * mini-batches: every example makes its own forward and backward tick from the same shared
    state, and the new state is the batch mean of the examples' new states (the analogue of
    averaging a gradient over a batch; with batch size 1 it is plain online learning);
  * exactly one forward and one backward tick per learning step;
  * meta-training uses this project's machinery: ES with the shared trainer, or, on datasets,
    gradients through the unrolled inner loop (``agents.supervised.learners``, ``supervised.meta=gradient``).

Layouts: ``step``/``rl_step`` are single-network functions (vmap them over a population);
``population_rl_step`` is the RL step with the population as the last axis, which is how
environment runs use it (about 2× faster on CPU), checked against ``rl_step`` by the tests.

``learn=False`` (the "frozen" ablation): the synapse states are never updated, so the network
stays at its random initial states and acts as a fixed random function of its input (every
step computes its output by a forward tick from those states and then discards the new ones).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from sfnn import blur
from sfnn.baselines import fed_back_action
from sfnn.population import pmm

Genome = dict[str, jax.Array]
State = dict[str, Any]  # {"h": [per layer (n_in, n_out, S)], "c": [...]} (RL adds "fwd", "prev_action")

MIN_MESSAGE = 3  # RL feedback uses channels 0-2 (reward, previous action, termination)


def init_genome(key: jax.Array, state_size: int = 8, message_size: int = 4, scale: float = 1.0) -> Genome:
    """A random genome: LeCun-normal weights times ``scale``, forget-gate bias 1 (remember by default)."""
    S, m = state_size, message_size
    if m < MIN_MESSAGE:
        raise ValueError(f"VSML needs messages of at least {MIN_MESSAGE} channels (got {m})")
    k = jax.random.split(key, 5)
    n = lambda k, shape: scale * jax.random.normal(k, shape) / jnp.sqrt(shape[0])  # noqa: E731
    return {
        "wx_f": n(k[0], (m, 4 * S)),
        "wx_b": n(k[1], (m, 4 * S)),
        "wh": n(k[2], (S, 4 * S)),
        "b": jnp.zeros((4 * S,), jnp.float32).at[S : 2 * S].set(1.0),
        "p_f": n(k[3], (S, m)),
        "p_b": n(k[4], (S, m)),
    }


def sizes_of(genome: Genome) -> tuple[int, int]:
    """(state size S, message size m) of a genome."""
    return genome["wh"].shape[0], genome["p_f"].shape[1]


def init_state(key: jax.Array, layer_sizes: Sequence[int], state_size: int, scale: float = 0.5) -> State:
    """Random per-synapse LSTM states, N(0, scale²) per entry: they are the initial 'weights'."""
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    keys = jax.random.split(key, 2 * len(pairs)).reshape(len(pairs), 2)
    return {
        "h": [scale * jax.random.normal(k[0], (a, b, state_size)) for k, (a, b) in zip(keys, pairs)],
        "c": [scale * jax.random.normal(k[1], (a, b, state_size)) for k, (a, b) in zip(keys, pairs)],
    }


def _cell(genome: Genome, h: jax.Array, c: jax.Array, fwd: jax.Array, bwd: jax.Array | None):
    """The shared LSTM on every synapse of one layer.

    h, c (..., n_in, n_out, S), fwd (..., n_in, m), bwd (..., n_out, m) or None (no feedback).
    The input terms are computed per neuron, not per synapse (a synapse's input is its pre- and
    post-neuron's messages), and the recurrent term on whatever batch shape the state has: a
    state shared by a mini-batch costs one recurrent product, not one per example.
    """
    S = genome["wh"].shape[0]
    gates = h @ genome["wh"] + genome["b"] + (fwd @ genome["wx_f"])[..., :, None, :]
    if bwd is not None:
        gates = gates + (bwd @ genome["wx_b"])[..., None, :, :]
    i, f, g, o = (gates[..., k * S : (k + 1) * S] for k in range(4))
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def input_message(x: jax.Array, m: int) -> jax.Array:
    """Forward messages of the input neurons, (..., d, m): x in channel 0, the rest 0."""
    return jnp.zeros(x.shape + (m,), jnp.float32).at[..., 0].set(x)


def forward(genome: Genome, state: State, x: jax.Array) -> tuple[State, list[jax.Array]]:
    """The forward tick: layers 0 → L, each fed by the messages of the layer before.

    Returns the new states (with x's batch axes in front when x has them) and the forward
    messages entering every layer, the last being the output neurons' (..., n_out, m).
    """
    _, m = sizes_of(genome)
    fwd = input_message(x, m)
    fwds, hs, cs = [fwd], [], []
    for h, c in zip(state["h"], state["c"]):
        h, c = _cell(genome, h, c, fwd, None)
        fwd = jnp.sum(h, axis=-3) @ genome["p_f"] * h.shape[-3] ** -0.5
        fwds.append(fwd)
        hs.append(h)
        cs.append(c)
    return {"h": hs, "c": cs}, fwds


def backward(genome: Genome, state: State, fwds: Sequence[jax.Array], top: jax.Array) -> State:
    """The backward tick: layers L → 0; ``top`` (..., n_out, m) is the output neurons' feedback,
    ``fwds`` the forward messages that entered each layer in this step's forward tick."""
    bwd = top
    hs, cs = list(state["h"]), list(state["c"])
    for l in range(len(hs) - 1, -1, -1):
        hs[l], cs[l] = _cell(genome, hs[l], cs[l], fwds[l], bwd)
        bwd = jnp.sum(hs[l], axis=-2) @ genome["p_b"] * hs[l].shape[-2] ** -0.5
    return {"h": hs, "c": cs}


def outputs(fwds: Sequence[jax.Array]) -> jax.Array:
    """The network's output values: channel 0 of the output neurons' forward messages."""
    return fwds[-1][..., 0]


# ------------------------------------------------------------------------- supervised learning


def readout(genome: Genome, state: State, x: jax.Array) -> jax.Array:
    """Logits (batch, n_classes) of x (batch, d_in): a forward tick whose new states are dropped."""
    return outputs(forward(genome, state, x)[1])


def predict(genome: Genome, state: State, x: jax.Array) -> jax.Array:
    return jnp.argmax(readout(genome, state, x), axis=-1)


def supervised_feedback(logits: jax.Array, y: jax.Array, m: int) -> jax.Array:
    """Output feedback (batch, n_classes, m): the label one-hot (channel 0) and the error
    softmax(logits) − one-hot (channel 1)."""
    onehot = jax.nn.one_hot(y, logits.shape[-1], dtype=jnp.float32)
    top = jnp.zeros(logits.shape + (m,), jnp.float32)
    return top.at[..., 0].set(onehot).at[..., 1].set(jax.nn.softmax(logits, axis=-1) - onehot)


def step(
    genome: Genome, state: State, x: jax.Array, y: jax.Array, learn: bool = True
) -> tuple[State, dict[str, jax.Array]]:
    """One learning step on a batch x (B, d_in), integer labels y (B,); metrics are pre-update.

    Every example makes a forward and a backward tick from the shared state; the new state is
    the batch mean. ``learn=False`` returns the state unchanged.
    """
    _, m = sizes_of(genome)
    fwd_state, fwds = forward(genome, state, x)
    logits = outputs(fwds)
    if learn:
        new = backward(genome, fwd_state, fwds[:-1], supervised_feedback(logits, y, m))
        state = jax.tree.map(lambda a: jnp.mean(a, axis=0), new)
    return state, blur.metrics(logits, y)


# ------------------------------------------------------------------------------ reinforcement


def init_rl_state(key: jax.Array, layer_sizes: Sequence[int], state_size: int, message_size: int,
                  scale: float = 0.5) -> State:  # fmt: skip
    """A new lifetime's state: random synapse states, no forward messages or action yet."""
    state = init_state(key, layer_sizes, state_size, scale)
    state["fwd"] = [jnp.zeros((n, message_size), jnp.float32) for n in layer_sizes[:-1]]
    state["prev_action"] = jnp.zeros((layer_sizes[-1],), jnp.float32)
    return state


def rl_feedback(reward: jax.Array, prev_action: jax.Array, terminated: jax.Array, m: int) -> jax.Array:
    """Output feedback (n_out, m): reward, previous action, termination flag in channels 0-2."""
    top = jnp.zeros(prev_action.shape + (m,), jnp.float32)
    top = top.at[..., 0].set(reward).at[..., 1].set(prev_action)
    return top.at[..., 2].set(terminated.astype(jnp.float32))


def rl_step(
    genome: Genome,
    state: State,
    obs: jax.Array,
    reward: jax.Array,
    terminated: jax.Array,
    valid_actions: int,
    learn: bool = True,
    continuous: bool = False,
) -> tuple[jax.Array, State]:
    """One environment step of one agent: (output values (n_out,), new state).

    ``reward`` and ``terminated`` are the outcome of the previous action; the backward tick
    delivers them, with that action, to the synapses, then the forward tick reads ``obs``.
    ``valid_actions`` is the environment's action count (the argmax for the remembered action
    is over those); ``continuous`` bounds the outputs to [-1, 1] with tanh.
    """
    _, m = sizes_of(genome)
    net = {"h": state["h"], "c": state["c"]}
    if learn:
        top = rl_feedback(reward, state["prev_action"], terminated, m)
        net = backward(genome, net, state["fwd"], top)
    new, fwds = forward(genome, net, obs)
    out, action = fed_back_action(outputs(fwds), valid_actions, continuous, axis=-1)
    keep = new if learn else net
    return out, {"h": keep["h"], "c": keep["c"], "fwd": fwds[:-1], "prev_action": action}


# ------------------------------------------------------- reinforcement, population last (fast path)
# The same RL step for P agents at once with the population as the last axis of every array
# (genome leaves (..., P), states (n_in, n_out, S, P)). Tiny products are written as explicit
# multiply-adds, which XLA vectorises across agents; ``vmap`` of ``rl_step`` instead gives
# batched micro-matmuls (the layout lesson of sfnn/population.py). tests/test_vsml.py checks
# that both give the same numbers.


def _pcell(genome: Genome, h: jax.Array, c: jax.Array, fwd: jax.Array, bwd: jax.Array | None):
    """``_cell`` for h, c (n_in, n_out, S, P), fwd (n_in, m, P), bwd (n_out, m, P) or None."""
    S = genome["wh"].shape[0]
    gates = pmm(h, genome["wh"]) + genome["b"] + pmm(fwd, genome["wx_f"])[:, None]
    if bwd is not None:
        gates = gates + pmm(bwd, genome["wx_b"])[None]
    i, f, g, o = (gates[..., k * S : (k + 1) * S, :] for k in range(4))
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def population_rl_step(
    genome: Genome,
    state: State,
    obs: jax.Array,
    reward: jax.Array,
    terminated: jax.Array,
    valid_actions: int,
    learn: bool = True,
    continuous: bool = False,
) -> tuple[jax.Array, State]:
    """``rl_step`` for P agents, population last: obs (d, P), reward and terminated (P,);
    genome and state as ``sfnn.population.to_population_last`` makes them. Returns (outputs (n_out, P), state)."""
    m = genome["p_f"].shape[1]
    hs, cs = list(state["h"]), list(state["c"])
    if learn:  # backward tick: feedback about the previous action
        top = jnp.zeros(state["prev_action"].shape[:1] + (m,) + reward.shape, jnp.float32)
        top = top.at[:, 0].set(jnp.broadcast_to(reward, state["prev_action"].shape)).at[:, 1].set(state["prev_action"])
        bwd = top.at[:, 2].set(jnp.broadcast_to(terminated.astype(jnp.float32), state["prev_action"].shape))
        for l in range(len(hs) - 1, -1, -1):
            hs[l], cs[l] = _pcell(genome, hs[l], cs[l], state["fwd"][l], bwd)
            bwd = pmm(jnp.sum(hs[l], axis=1), genome["p_b"]) * hs[l].shape[1] ** -0.5
    fwd = jnp.zeros(obs.shape[:1] + (m,) + obs.shape[1:], jnp.float32).at[:, 0].set(obs)
    fwds, new_h, new_c = [fwd], [], []
    for h, c in zip(hs, cs):  # forward tick: read the observation
        h, c = _pcell(genome, h, c, fwd, None)
        fwd = pmm(jnp.sum(h, axis=0), genome["p_f"]) * h.shape[0] ** -0.5
        fwds.append(fwd)
        new_h.append(h)
        new_c.append(c)
    out, action = fed_back_action(fwds[-1][:, 0], valid_actions, continuous)  # out (n_out, P)
    keep_h, keep_c = (new_h, new_c) if learn else (hs, cs)
    return out, {"h": keep_h, "c": keep_c, "fwd": fwds[:-1], "prev_action": action}

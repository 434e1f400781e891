"""The learners an SFNN is compared with, as single-agent pure functions like ``sfnn.network``.

* ``mlp``: a static tanh MLP; evolution sets every weight and nothing changes in a lifetime.
* ``hebbian``: Najarro & Risi (2020) ABCD plasticity. Weights start random in every lifetime
  and change after every step by Δw_ij = η_ij (A_ij o_i o_j + B_ij o_i + C_ij o_j + D_ij);
  evolution sets the five coefficients of every synapse (no reward input, no biases).
* ``rnn``: memory-based meta-learning (RL²-style). A GRU sees the observation, the last
  reward, whether the last step terminated the episode and the previous action (one-hot, or
  for continuous actions the action values in [-1, 1]); its hidden state is kept across the
  episodes of a lifetime, so it can learn from its own history.

For continuous actions ``step`` returns values in [-1, 1]: the mlp's and rnn's linear outputs
pass through tanh, the hebbian network's last layer is tanh already.

Unlike an SFNN genome, these genomes are shaped by the input and output sizes. A run fixes
``n_in`` and ``n_out`` as the largest observation and action counts of its environments;
smaller observations are zero-padded and surplus outputs ignored, so one genome can serve
several environments and be meta-tested on any environment no larger than those.

``learn=False`` is each learner's ablation of within-lifetime learning: Hebbian weights stay at
their random start, the RNN's memory is cleared before every step; the MLP has nothing to switch off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

BASELINES = ("mlp", "hebbian", "rnn")
Params = dict[str, Any]


@dataclass(frozen=True)
class BaselineSpec:
    """Static shape of a baseline network (hashable, like ``SFNNSpec``)."""

    kind: str
    n_in: int  # observation inputs (padded to this size)
    n_out: int  # output units (the first n_actions of an environment are used)
    hidden: tuple[int, ...] = (16,)
    init_scale: float = 0.1  # hebbian: lifetime weights start U(±init_scale)

    def __post_init__(self) -> None:
        if self.kind not in BASELINES:
            raise ValueError(f"baseline kind must be one of {BASELINES}, got {self.kind!r}")
        if not self.hidden:
            raise ValueError("baselines need at least one hidden layer (model.hidden)")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.n_in, *self.hidden, self.n_out)

    @property
    def rnn_inputs(self) -> int:
        """obs, last reward, last-terminated flag, previous action (one-hot or values)."""
        return self.n_in + 2 + self.n_out


def init_params(key: jax.Array, spec: BaselineSpec) -> Params:
    """A random genome: LeCun-normal weights (mlp, rnn), or small random ABCD coefficients (hebbian)."""
    lecun = jax.nn.initializers.lecun_normal()
    if spec.kind == "hebbian":
        pairs = list(zip(spec.sizes[:-1], spec.sizes[1:]))
        keys = jax.random.split(key, len(pairs))
        # coefficients A, B, C, D and the rate η on a trailing axis of 5, one set per synapse
        return {"abcd": [0.1 * jax.random.normal(k, (a, b, 5)) for k, (a, b) in zip(keys, pairs)]}
    if spec.kind == "mlp":
        pairs = list(zip(spec.sizes[:-1], spec.sizes[1:]))
        keys = jax.random.split(key, len(pairs))
        return {"layers": [{"w": lecun(k, (a, b)), "b": jnp.zeros((b,))} for k, (a, b) in zip(keys, pairs)]}
    h = spec.hidden[0]
    k = jax.random.split(key, 3)
    return {
        "gru": {
            "wi": lecun(k[0], (spec.rnn_inputs, 3 * h)),
            "wh": jax.nn.initializers.orthogonal()(k[1], (h, 3 * h)),
            "b": jnp.zeros((3 * h,)),
        },
        "out": {"w": lecun(k[2], (h, spec.n_out)), "b": jnp.zeros((spec.n_out,))},
    }


def init_state(key: jax.Array, spec: BaselineSpec) -> Any:
    """What changes within one lifetime: Hebbian weights, or the RNN memory and last action."""
    if spec.kind == "hebbian":
        pairs = list(zip(spec.sizes[:-1], spec.sizes[1:]))
        keys = jax.random.split(key, len(pairs))
        return {"w": [jax.random.uniform(k, (a, b), minval=-spec.init_scale, maxval=spec.init_scale)
                      for k, (a, b) in zip(keys, pairs)]}  # fmt: skip
    if spec.kind == "rnn":
        return {"h": jnp.zeros((spec.hidden[0],)), "prev_action": jnp.zeros((spec.n_out,))}
    return {}


def _gru(p: Params, x: jax.Array, h: jax.Array) -> jax.Array:
    n = h.shape[-1]
    gx, gh = x @ p["wi"] + p["b"], h @ p["wh"]
    r = jax.nn.sigmoid(gx[:n] + gh[:n])
    z = jax.nn.sigmoid(gx[n : 2 * n] + gh[n : 2 * n])
    c = jnp.tanh(gx[2 * n :] + r * gh[2 * n :])
    return (1.0 - z) * c + z * h


def fed_back_action(out: jax.Array, valid_actions: int, continuous: bool, axis: int = 0) -> tuple[jax.Array, jax.Array]:
    """(outputs, the action to feed back next step) for learners that remember their action.

    ``axis`` is the output axis of ``out``; outputs beyond ``valid_actions`` are ignored.
    Continuous: outputs pass through tanh and the action is their values (0 where invalid);
    discrete: the action is the one-hot of the argmax over the valid outputs.
    """
    axis = axis % out.ndim
    n_out = out.shape[axis]
    valid = jnp.expand_dims(jnp.arange(n_out) < valid_actions, tuple(range(1, out.ndim - axis)))
    if continuous:
        out = jnp.tanh(out)
        return out, jnp.where(valid, out, 0.0)
    return out, jax.nn.one_hot(jnp.argmax(jnp.where(valid, out, -jnp.inf), axis=axis), n_out, axis=axis)


def hebbian_update(w: jax.Array, abcd: jax.Array, pre: jax.Array, post: jax.Array) -> jax.Array:
    """One ABCD step for a weight matrix (pre, post) given its layer's activations."""
    a, b, c, d, eta = (abcd[..., i] for i in range(5))
    return w + eta * (a * pre[:, None] * post[None, :] + b * pre[:, None] + c * post[None, :] + d)


def step(
    params: Params,
    spec: BaselineSpec,
    state: Any,
    obs: jax.Array,
    reward: jax.Array,
    terminated: jax.Array,
    valid_actions: int,
    learn: bool = True,
    continuous: bool = False,
) -> tuple[jax.Array, Any]:
    """One environment step of one agent: (output values (n_out,), new state).

    ``obs`` is already padded to ``n_in``; ``valid_actions`` is the environment's action count
    (continuous: action dimensions), used by the RNN to remember which action it took (the
    argmax over the valid outputs, or their values). ``continuous`` bounds outputs to [-1, 1].
    """
    if spec.kind == "mlp":
        x = obs
        for i, layer in enumerate(params["layers"]):
            x = x @ layer["w"] + layer["b"]
            x = jnp.tanh(x) if i < len(params["layers"]) - 1 or continuous else x
        return x, state
    if spec.kind == "hebbian":
        acts, x = [obs], obs
        for w in state["w"]:
            x = jnp.tanh(x @ w)
            acts.append(x)
        if learn:
            state = {"w": [hebbian_update(w, c, acts[i], acts[i + 1])
                           for i, (w, c) in enumerate(zip(state["w"], params["abcd"]))]}  # fmt: skip
        return x, state
    h = state["h"] if learn else jnp.zeros_like(state["h"])
    x = jnp.concatenate([obs, reward[None], terminated.astype(jnp.float32)[None], state["prev_action"]])
    h = _gru(params["gru"], x, h)
    out = h @ params["out"]["w"] + params["out"]["b"]
    out, action = fed_back_action(out, valid_actions, continuous)
    return out, {"h": h, "prev_action": action}

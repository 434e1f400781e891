"""The network that gradient-based learners train: a bias-free tanh MLP under squared error.

Why one module: SGD, Adam, the learned optimizer, MAML and Reptile all train this same
network, and BLUR's backprop genome reproduces SGD on it exactly, so every supervised
comparison differs only in *how* the weights are changed. Layer sums are scaled by
n_in ** -fan_in_pow (0.5: activations of order one whatever the width, as in BLUR).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Weights = list[jax.Array]  # per layer (n_in, n_out)
FAN_IN_POW = 0.5


def logits(ws: Weights, x: jax.Array, fan_in_pow: float = FAN_IN_POW) -> jax.Array:
    """Outputs (batch, n_out): tanh hidden layers, linear last layer, no biases."""
    for l, w in enumerate(ws):
        x = (x @ w) * w.shape[0] ** -fan_in_pow
        if l < len(ws) - 1:
            x = jnp.tanh(x)
    return x


def loss(ws: Weights, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean over the batch of ½‖z − t‖² with t = ±1 targets (2·onehot − 1)."""
    t = 2.0 * jax.nn.one_hot(y, ws[-1].shape[1]) - 1.0
    return 0.5 * jnp.mean(jnp.sum((logits(ws, x) - t) ** 2, -1))


def sgd_steps(ws: Weights, xs: jax.Array, ys: jax.Array, lr: jax.Array | float, first_order: bool = False) -> Weights:
    """T plain SGD steps on batches xs (T, B, d), ys (T, B), as one ``lax.scan``.

    Differentiable in ``ws`` (and ``lr``): the gradient of a loss of the result is MAML's
    second-order meta-gradient. ``first_order`` treats each step's gradient as a constant,
    which makes d(result)/d(ws) the identity (first-order MAML).
    """

    def body(w, batch):
        g = jax.grad(loss)(w, *batch)
        if first_order:
            g = jax.lax.stop_gradient(g)
        return [wi - lr * gi for wi, gi in zip(w, g)], None

    out, _ = jax.lax.scan(body, list(ws), (xs, ys))
    return out

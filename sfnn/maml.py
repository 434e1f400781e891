"""MAML and Reptile: a learned initialisation, adapted by plain SGD at test time.

Why: the gradient-based meta-learning reference. What is meta-learned is only where SGD
starts (Finn et al. 2017; Nichol et al. 2018); the learning rule stays SGD, so these set the
bar a learned *rule* (BLUR, the learned optimizer) must clear. The network is the shared
optimizee (``sfnn.optimizee``); an initialisation is its list of weight matrices, shaped by
input size, hidden sizes and output count.

- MAML's meta-gradient is the gradient of the query loss after T support steps with respect
  to the initialisation, through the steps (second order), or treating each step's gradient
  as a constant (first order: the query gradient at the adapted weights).
- Reptile needs no differentiation: its pseudo-gradient θ − φ_T points from the adapted
  weights back to the initialisation; descending it moves θ towards φ_T.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from sfnn import optimizee

Weights = list[jax.Array]


def init_params(key: jax.Array, sizes: list[int], scale: float = 1.0) -> Weights:
    """N(0, scale²) weights for layers [inputs, *hidden, outputs] (the optimizee's own scaling applies)."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [scale * jax.random.normal(k, (i, o)) for k, i, o in zip(keys, sizes[:-1], sizes[1:])]


def adapt(init: Weights, xs: jax.Array, ys: jax.Array, lr: float | jax.Array, first_order: bool = False) -> Weights:
    """The initialisation after T SGD steps on the support batches xs (T, B, d), ys (T, B)."""
    return optimizee.sgd_steps(init, xs, ys, lr, first_order)


def reptile_direction(init: Weights, xs: jax.Array, ys: jax.Array, lr: float | jax.Array) -> tuple[Weights, Weights]:
    """(θ − φ_T, φ_T): Reptile's pseudo-gradient and the adapted weights."""
    adapted = adapt(init, xs, ys, lr)
    return [a - b for a, b in zip(init, adapted)], adapted


def fit_outputs(ws: Weights, n_out: int) -> Weights:
    """The initialisation for a task with ``n_out`` classes.

    Fewer classes than meta-trained: the first ``n_out`` output units. More: extra units
    start as the mean of the learned output columns. Meta-training permutes labels, so no
    output unit stands for a particular class and the mean column is an unbiased start.
    """
    last = ws[-1]
    if n_out <= last.shape[1]:
        return [*ws[:-1], last[:, :n_out]]
    extra = jnp.repeat(jnp.mean(last, axis=1, keepdims=True), n_out - last.shape[1], axis=1)
    return [*ws[:-1], jnp.concatenate([last, extra], axis=1)]

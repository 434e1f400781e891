"""A learned optimizer: one small LSTM applied to every parameter coordinate (Andrychowicz et al., 2016).

Why: instead of a hand-written update (SGD, Adam), the map from a parameter's gradient
history to its update is itself learned, shared by all parameters of any network, so one
set of optimizer weights trains networks of any shape ("learning to learn by gradient
descent by gradient descent"). Each coordinate carries its own LSTM state (h, c); the
weights of the LSTM are shared.

Input per coordinate: the paper's gradient preprocessing with p = ``preprocess`` (10),
    (log|g| / p, sign g)      if |g| ≥ e^{−p}
    (−1, e^{p} · g)           otherwise,
which makes gradients of any magnitude look alike to the LSTM.
Update per coordinate:  Δθ = −exp(log_lr) · g + out_scale · (w_out · h + b_out).
The first term is SGD with a learned step size; the LSTM learns a correction on top of it.
With w_out = 0 and b_out = 0 (how ``init_params`` starts) the optimizer *is* SGD with step
``lr``, exactly: meta-training starts from a working optimizer, not from noise.
Gradients entering the optimizer are treated as constants during meta-training (the paper's
choice: no second derivatives of the optimizee's loss).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

Params = dict[str, jax.Array]
FEATURES = 2  # preprocessed gradient: (log-magnitude, sign) or (−1, scaled gradient)


def init_params(key: jax.Array, hidden: int, lr: float, scale: float = 1.0) -> Params:
    """LSTM weights N(0, scale²/fan_in), forget-gate bias 1, zero output layer: SGD at step ``lr``."""
    kx, kh = jax.random.split(key)
    b = jnp.zeros((4 * hidden,), jnp.float32).at[hidden : 2 * hidden].set(1.0)
    return {
        "w_x": scale * jax.random.normal(kx, (FEATURES, 4 * hidden)) / np.sqrt(FEATURES),
        "w_h": scale * jax.random.normal(kh, (hidden, 4 * hidden)) / np.sqrt(hidden),
        "b": b,
        "w_out": jnp.zeros((hidden,), jnp.float32),
        "b_out": jnp.zeros((), jnp.float32),
        "log_lr": jnp.asarray(np.log(lr), jnp.float32),
    }


def preprocess(g: jax.Array, p: float = 10.0) -> jax.Array:
    """Gradient → (..., 2) features (Andrychowicz et al., appendix A)."""
    big = jnp.abs(g) >= np.exp(-p)
    safe = jnp.where(big, jnp.abs(g), 1.0)
    first = jnp.where(big, jnp.log(safe) / p, -1.0)
    second = jnp.where(big, jnp.sign(g), np.exp(p) * g)
    return jnp.stack([first, second], -1)


def lstm(params: Params, x: jax.Array, h: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One LSTM step for every coordinate at once: x (..., F), h and c (..., H)."""
    z = x @ params["w_x"] + h @ params["w_h"] + params["b"]
    i, f, o, u = jnp.split(z, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(u)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def transformation(
    params: Params, preprocess_p: float = 10.0, out_scale: float = 0.1, second_order: bool = False
) -> optax.GradientTransformation:
    """The learned optimizer as an optax transformation (its state: (h, c) per coordinate).

    ``params`` may be traced: the transformation is differentiable in them, which is how
    meta-training reaches the optimizer's weights through an unrolled inner run. Incoming
    gradients are constants to that differentiation unless ``second_order``.
    """
    hidden = params["w_out"].shape[0]

    def init(updates):
        zeros = lambda x: jnp.zeros(x.shape + (hidden,), jnp.float32)  # noqa: E731
        return jax.tree.map(lambda x: (zeros(x), zeros(x)), updates)

    def update(grads, state, _params=None):
        if not second_order:
            grads = jax.lax.stop_gradient(grads)
        leaves, treedef = jax.tree.flatten(grads)
        states = treedef.flatten_up_to(state)
        out, new_state = [], []
        for g, (h, c) in zip(leaves, states):
            h, c = lstm(params, preprocess(g, preprocess_p), h, c)
            out.append(-jnp.exp(params["log_lr"]) * g + out_scale * (h @ params["w_out"] + params["b_out"]))
            new_state.append((h, c))
        return treedef.unflatten(out), treedef.unflatten(new_state)

    return optax.GradientTransformation(init, update)

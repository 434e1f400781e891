"""BLUR: bidirectional learned update rules (Sandler et al., 2021), as pure JAX functions.

Why: the whole learning algorithm of a layered network is a small genome (four K×K matrices
and a few scalars) shared by every neuron and synapse, so evolution or meta-gradients can
search over *learning rules*, and one genome runs on any input size and layer sizes.

Network. Layers 0..L have sizes [d_in, h1, ..., n_classes]; every neuron holds K states.
``weights[l]`` has shape (n_l, n_{l+1}, K): one weight w_ij^c per synapse and state (channel c
of a synapse carries state c). s_l = n_l ** -fan_in_pow scales each layer's sums
(fan_in_pow = 0: a plain MLP; 0.5: activations of order one whatever the width).

Forward (the input x enters state 0 of layer 0; its other states are 0):
    h_j^c = s_l · Σ_i w_ij^c · Σ_e a_i^e ν^{ec}
    a_j^c = tanh(h_j^c) on hidden layers, h_j^c on the last layer.
Backward (label t_j = ±1, i.e. 2·onehot − 1, enters state K−1 of the last layer):
    b_j^c = f · a_j^c + η · t_j · [c = K−1]                     last layer
    b_i^c = tanh'(h_i^c) · s_l · Σ_j w_ij^c · Σ_d b_j^d μ^{dc}    hidden layers
  The output neuron keeps a fraction f of its forward state and takes in the label at rate η;
  hidden neurons receive the downstream backward states through the same synapses, gated by
  the slope of their own non-linearity (1 − a²): the one non-genome ingredient, and what lets
  a local rule carry the chain rule's σ'(h) factor. The input layer has no backward state.
Synapse update (a Hebbian product of forward and backward states, averaged over the batch):
    w_ij^c ← f̃ · w_ij^c + η̃ · s_l · mean_batch[(Σ_e a_i^e ν̃^{ec}) · (Σ_d μ̃^{cd} b_j^d)]
The network's output (logits) is state 0 of the last layer; the prediction is its argmax.
Genome keys: nu=ν, mu=μ, nu_b=ν̃, mu_b=μ̃ (K×K); f, eta, f_b=f̃, eta_b=η̃, fan_in_pow (scalars).

Backprop as a special case (``backprop_genome``; state 0 = activation, state K−1 = error):
ν sends state 0 into states 0 and K−1 (both see the same h, so the error state has the right
slope), μ passes only the error state back, f = 1 and η = −1 make the output's error state
z − t, and ν̃, μ̃ make Δw^c = a^0 · b^{K−1} for c ∈ {0, K−1}, with f̃ = 1, η̃ = −lr. With tied
initial weights (w^0 = w^{K−1}, ``init_weights(tied=True)``) this is exactly SGD with step lr on
the bias-free MLP z = s_{L−1} tanh(… tanh(s_0 x W_0) …) W_{L−1} under the loss
mean_batch ½‖z − t‖². Untied, the error flows back through w^{K−1}, separate feedback weights
that receive the same updates as the forward weights.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

Genome = dict[str, jax.Array]
Weights = list[jax.Array]

MATRICES = ("nu", "mu", "nu_b", "mu_b")
SCALARS = ("f", "eta", "f_b", "eta_b", "fan_in_pow")


def _scalars(**values: float) -> Genome:
    return {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}


def init_genome(key: jax.Array, K: int, scale: float = 1.0) -> Genome:
    """A random genome: N(0, scale²/K) matrices, scalars at backprop-like values.

    The scalars start where a working learner has them (keep the weights, learn slowly)
    so that search begins from stable networks rather than exploding ones.
    """
    draws = scale * jax.random.normal(key, (len(MATRICES), K, K)) / jnp.sqrt(K)
    g = dict(zip(MATRICES, draws))
    g.update(_scalars(f=1.0, eta=-1.0, f_b=1.0, eta_b=-0.05, fan_in_pow=0.5))
    return g


def backprop_genome(K: int = 2, lr: float = 0.1, fan_in_pow: float = 0.0) -> Genome:
    """The genome under which the rule is SGD (step ``lr``) on a tanh MLP with squared error.

    States 1..K−2 (if any) stay zero and their weights never change.
    """
    if K < 2:
        raise ValueError(f"backprop needs K >= 2 states per neuron (got K={K}): use K=2")
    act, err = np.eye(K, dtype=np.float32)[[0, K - 1]]
    both = act + err
    g = {
        "nu": np.outer(act, both),  # ν[e, c]: forward state 0 feeds states 0 and K−1
        "mu": np.outer(err, err),  # μ[d, c]: only the error goes back, via channel K−1
        "nu_b": np.outer(act, both),  # ν̃[e, c]: presynaptic activation, for channels 0, K−1
        "mu_b": np.outer(both, err),  # μ̃[c, d]: postsynaptic error, for channels 0, K−1
    }
    g = {k: jnp.asarray(v) for k, v in g.items()}
    g.update(_scalars(f=1.0, eta=-1.0, f_b=1.0, eta_b=-lr, fan_in_pow=fan_in_pow))
    return g


def init_weights(
    key: jax.Array, layer_sizes: list[int], K: int, scale: float = 1.0, tied: bool = False
) -> Weights:
    """N(0, scale²) weights (n_in, n_out, K); ``tied`` gives all K states the same matrix."""
    keys = jax.random.split(key, len(layer_sizes) - 1)
    weights = []
    for k, n_in, n_out in zip(keys, layer_sizes[:-1], layer_sizes[1:]):
        w = scale * jax.random.normal(k, (n_in, n_out, 1 if tied else K))
        weights.append(jnp.repeat(w, K, axis=-1) if tied else w)
    return weights


def _fan_in(genome: Genome, n_in: int) -> jax.Array:
    return jnp.power(jnp.float32(n_in), -genome["fan_in_pow"])


def forward(genome: Genome, weights: Weights, x: jax.Array) -> list[jax.Array]:
    """Forward states of every layer, each (batch, n_l, K); x is (batch, d_in)."""
    K = weights[0].shape[-1]
    a = jnp.zeros(x.shape + (K,), jnp.float32).at[..., 0].set(x)
    acts = [a]
    for l, w in enumerate(weights):
        h = jnp.einsum("bic,ijc->bjc", a @ genome["nu"], w) * _fan_in(genome, w.shape[0])
        a = h if l == len(weights) - 1 else jnp.tanh(h)
        acts.append(a)
    return acts


def backward(
    genome: Genome, weights: Weights, acts: list[jax.Array], y_onehot: jax.Array
) -> list[jax.Array]:
    """Backward states; entry l belongs to layer l+1, the neurons that ``weights[l]`` feeds."""
    top = acts[-1]
    label = jnp.zeros_like(top).at[..., -1].set(2.0 * y_onehot.astype(top.dtype) - 1.0)
    b = genome["f"] * top + genome["eta"] * label
    bwd = [b]
    for l in range(len(weights) - 1, 0, -1):
        w = weights[l]
        msg = jnp.einsum("bjc,ijc->bic", b @ genome["mu"], w) * _fan_in(genome, w.shape[0])
        b = (1.0 - acts[l] ** 2) * msg
        bwd.insert(0, b)
    return bwd


def update(
    genome: Genome, weights: Weights, acts: list[jax.Array], bwd: list[jax.Array]
) -> Weights:
    """One synapse update, w ← f̃·w + η̃·s·mean_batch(pre ⊗ post), every layer at once."""
    new = []
    for w, a, b in zip(weights, acts[:-1], bwd):
        pre = a @ genome["nu_b"]  # Σ_e a_i^e ν̃^{ec}
        post = b @ genome["mu_b"].T  # Σ_d μ̃^{cd} b_j^d
        hebb = jnp.einsum("bic,bjc->ijc", pre, post) / a.shape[0]
        new.append(genome["f_b"] * w + genome["eta_b"] * _fan_in(genome, w.shape[0]) * hebb)
    return new


def readout(genome: Genome, weights: Weights, x: jax.Array) -> jax.Array:
    """Logits (batch, n_classes): state 0 of the last layer."""
    return forward(genome, weights, x)[-1][..., 0]


def predict(genome: Genome, weights: Weights, x: jax.Array) -> jax.Array:
    """Predicted class per example."""
    return jnp.argmax(readout(genome, weights, x), axis=-1)


def metrics(logits: jax.Array, y: jax.Array) -> dict[str, jax.Array]:
    """Accuracy, the squared-error loss the backprop genome descends, and cross-entropy."""
    onehot = jax.nn.one_hot(y, logits.shape[-1], dtype=logits.dtype)
    return {
        "acc": jnp.mean(jnp.argmax(logits, -1) == y),
        "loss": 0.5 * jnp.mean(jnp.sum((logits - (2.0 * onehot - 1.0)) ** 2, -1)),
        "xent": -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(logits), -1)),
    }


def step(
    genome: Genome, weights: Weights, x: jax.Array, y: jax.Array
) -> tuple[Weights, dict[str, jax.Array]]:
    """Forward, backward and update on one batch (integer labels y); metrics are pre-update."""
    acts = forward(genome, weights, x)
    onehot = jax.nn.one_hot(y, weights[-1].shape[1], dtype=jnp.float32)
    new = update(genome, weights, acts, backward(genome, weights, acts, onehot))
    return new, metrics(acts[-1][..., 0], y)



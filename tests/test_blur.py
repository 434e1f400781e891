"""BLUR: the backprop genome reproduces SGD exactly; genomes are size-free, matter, and learn.

Multi-step runs go through what training runs: ``blur.step`` scanned over batches, and the
registry's ``curve`` (``agents.supervised.learners.SUPERVISED["blur"]``) for held-out scores.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.config import load_config
from agents.supervised.learners import SUPERVISED
from agents.supervised.tasks import BASELINE_FAN_IN_POW, Task, mlp_run
from sfnn import blur

CFG = load_config("configs/blur_digits.yaml", check=False)


def mlp(ws, x, fan_in_pow):
    """Reference: bias-free tanh MLP, linear output, matching blur's fan-in scaling."""
    for l, w in enumerate(ws):
        x = (x @ w) * w.shape[0] ** -fan_in_pow
        if l < len(ws) - 1:
            x = jnp.tanh(x)
    return x


def mlp_loss(ws, x, y, fan_in_pow):
    t = 2.0 * jax.nn.one_hot(y, ws[-1].shape[1]) - 1.0
    return 0.5 * jnp.mean(jnp.sum((mlp(ws, x, fan_in_pow) - t) ** 2, -1))


@jax.jit
def inner_loop(genome, weights, xs, ys):
    """T steps of ``blur.step`` over batches (T, B, d): the final weights and each batch's metrics."""
    return jax.lax.scan(lambda w, b: blur.step(genome, w, *b), weights, (xs, ys))


step = jax.jit(blur.step)
curve = jax.jit(lambda g, task: SUPERVISED["blur"].curve(CFG, g, task))
grad = jax.jit(jax.grad(mlp_loss), static_argnums=3)


predict = jax.jit(blur.predict)


def batches(seed, steps, batch, d, n_classes):
    """Random batches from numpy (eager jax.random would compile a kernel per shape)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, d)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(rng.integers(0, n_classes, (steps, batch)), jnp.int32)


@pytest.mark.parametrize("fan_in_pow", [0.0, 0.5])
def test_single_step_is_minus_lr_grad(fan_in_pow):
    sizes, lr = [5, 7, 3], 0.1
    w = blur.init_weights(jax.random.PRNGKey(0), sizes, 2, scale=0.5, tied=True)
    xs, ys = batches(1, 1, 8, 5, 3)
    g = blur.backprop_genome(2, lr, fan_in_pow)
    new, _ = step(g, w, xs[0], ys[0])
    grads = grad([wl[..., 0] for wl in w], xs[0], ys[0], fan_in_pow)
    for wl, nl, gl in zip(w, new, grads):
        for c in range(2):
            np.testing.assert_allclose(nl[..., c] - wl[..., c], -lr * gl, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("K", [2, 3])
def test_ten_steps_match_sgd(K):
    sizes, lr, steps = [5, 7, 3], 0.1, 10
    w = blur.init_weights(jax.random.PRNGKey(0), sizes, K, scale=0.5, tied=True)
    xs, ys = batches(2, steps, 8, 5, 3)
    ref = [wl[..., 0] for wl in w]
    for s in range(steps):
        grads = grad(ref, xs[s], ys[s], 0.0)
        ref = [r - lr * gr for r, gr in zip(ref, grads)]
    final, m = inner_loop(blur.backprop_genome(K, lr), w, xs, ys)
    assert m["loss"].shape == (steps,)
    for r, f, w0 in zip(ref, final, w):
        for c in (0, K - 1):
            np.testing.assert_allclose(f[..., c], r, rtol=1e-5, atol=1e-6)
        for c in range(1, K - 1):  # inert middle states never change
            np.testing.assert_array_equal(f[..., c], w0[..., c])
    assert not np.allclose(final[0][..., 0], w[0][..., 0])  # it did learn something


def test_backprop_genome_needs_two_states():
    with pytest.raises(ValueError, match="K >= 2"):
        blur.backprop_genome(1)


def test_genome_is_independent_of_layer_sizes():
    g = blur.init_genome(jax.random.PRNGKey(3), K=3)
    assert all(v.shape in {(3, 3), ()} for v in g.values())
    for sizes in ([4, 8, 3], [64, 16, 10]):
        w = blur.init_weights(jax.random.PRNGKey(4), sizes, 3)
        xs, ys = batches(5, 4, 6, sizes[0], sizes[-1])
        final, m = inner_loop(g, w, xs, ys)
        assert [f.shape for f in final] == [wl.shape for wl in w]
        assert np.isfinite(m["loss"]).all()
        assert predict(g, final, xs[0]).shape == (6,)


def test_perturbed_genome_gives_different_weights():
    w = blur.init_weights(jax.random.PRNGKey(0), [5, 7, 3], 2, scale=0.5, tied=True)
    xs, ys = batches(6, 5, 8, 5, 3)
    g = blur.backprop_genome(2, 0.1)
    bad = dict(g, mu_b=g["mu_b"].at[0, 0].add(0.1))
    a, _ = inner_loop(g, w, xs, ys)
    b, _ = inner_loop(bad, w, xs, ys)
    assert max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(a, b)) > 1e-3


def test_vmap_over_genomes():
    gs = jax.vmap(lambda k: blur.init_genome(k, 2))(jax.random.split(jax.random.PRNGKey(0), 3))
    w = blur.init_weights(jax.random.PRNGKey(1), [4, 6, 3], 2)
    xs, ys = batches(7, 3, 5, 4, 3)
    final, m = jax.jit(jax.vmap(inner_loop, in_axes=(0, None, None, None)))(gs, w, xs, ys)
    assert final[0].shape == (3, 4, 6, 2) and m["acc"].shape == (3, 3)


def test_backprop_genome_learns_separable_task():
    d, n_classes, steps = 8, 3, 200
    rng = np.random.default_rng(0)
    teacher = rng.standard_normal((d, n_classes))
    xs = rng.standard_normal((steps, 16, d)).astype(np.float32)
    x_eval = rng.standard_normal((256, d)).astype(np.float32)
    ys, y_eval = np.argmax(xs @ teacher, -1), np.argmax(x_eval @ teacher, -1)
    g = blur.backprop_genome(2, lr=0.2, fan_in_pow=0.5)
    w = blur.init_weights(jax.random.PRNGKey(1), [d, 16, n_classes], 2, tied=True)
    m = curve(g, Task(xs, ys, x_eval, y_eval, w))  # held-out scores before and after each step
    assert m["acc"].shape == (steps + 1,)
    assert float(m["acc"][0]) < 0.7
    assert float(m["acc"][-10:].mean()) > 0.9
    assert float(m["loss"][-1]) < float(m["loss"][0])


@pytest.mark.parametrize("K", [2, 3])
def test_the_registry_curve_of_the_backprop_genome_is_the_sgd_baseline(K):
    """What meta-training and meta-testing run for BLUR (the registry's curve) from the backprop
    genome equals the SGD baseline (``jax.grad`` and optax) on the same task, step by step."""
    rng = np.random.default_rng(4)
    xs = jnp.asarray(rng.standard_normal((12, 8, 6)), jnp.float32)
    ys = jnp.asarray(rng.integers(0, 3, (12, 8)), jnp.int32)
    x_val = jnp.asarray(rng.standard_normal((40, 6)), jnp.float32)
    y_val = jnp.asarray(rng.integers(0, 3, 40), jnp.int32)
    w = blur.init_weights(jax.random.PRNGKey(2), [6, 9, 3], K, scale=0.5, tied=True)
    task = Task(xs, ys, x_val, y_val, w)
    ours = curve(blur.backprop_genome(K, 0.3, BASELINE_FAN_IN_POW), task)
    ref = jax.jit(lambda t: mlp_run("sgd", 0.3, t))(task)
    np.testing.assert_allclose(ours["loss"], ref["loss"], rtol=1e-5, atol=1e-6)
    assert float(ref["loss"][-1]) < float(ref["loss"][0])  # it did learn

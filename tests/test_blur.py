"""BLUR: the backprop genome reproduces SGD exactly; genomes are size-free, matter, and learn."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sfnn import blur


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


inner_loop = jax.jit(blur.inner_loop)
step = jax.jit(blur.step)
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
    final, m = jax.jit(jax.vmap(blur.inner_loop, in_axes=(0, None, None, None)))(gs, w, xs, ys)
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
    _, m = inner_loop(g, w, xs, ys, x_eval, y_eval)
    assert float(m["eval_acc"][0]) < 0.7
    assert float(m["eval_acc"][-10:].mean()) > 0.9
    assert float(m["eval_loss"][-1]) < float(m["eval_loss"][0])

"""The lifetime loop's speed changes (envs/lifetime.py) keep every random number and every return."""

import jax
import jax.numpy as jnp
import numpy as np
from jax._src.interpreters import mlir
from jax._src.random import threefry2x32 as threefry

from envs.lifetime import run_lifetimes, unroll_threefry_on_cpu
from envs.registry import make_env


def _draws(seed):
    key = jax.random.key(seed)
    k1, k2 = jax.random.split(key)
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(k2, jnp.arange(37))
    return (
        jax.random.key_data(keys),
        jax.random.uniform(k1, (5, 131)),
        jax.random.normal(keys[3], (64,)),
        jax.random.bernoulli(keys[7], 0.5, (26, 26)),
    )


def test_unrolled_threefry_gives_the_same_bits_as_jaxs_rolled_loop():
    mlir.register_lowering(threefry.threefry2x32_p, threefry._threefry2x32_cpu_lowering_rule, platform="cpu")
    rolled = jax.jit(lambda s: _draws(s))(3)
    assert unroll_threefry_on_cpu()
    mlir.register_lowering(threefry.threefry2x32_p, threefry._threefry2x32_lowering_rule, platform="cpu")
    unrolled = jax.jit(lambda s: _draws(s))(3)  # a new function: lowered afresh
    for a, b in zip(rolled, unrolled):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    hlo = jax.jit(lambda s: _draws(s)).lower(3).as_text()
    assert "stablehlo.while" not in hlo  # the hash is straight-line code now


def test_lifetime_keys_are_each_steps_fold_in_of_the_agents_key():
    """Precomputed step keys = folding the step index in at each step (the loop before)."""
    env = make_env("CartPole-v1", 30)
    keys = jax.random.split(jax.random.key(0), 8)

    def policy(state, obs, r, term):  # push the way the pole leans only late: short, varied episodes
        return (obs[:, 2] > 0.1).astype(jnp.int32), state

    res = jax.jit(lambda k: run_lifetimes(env, policy, (), k, 2))(keys)

    # The same lifetimes stepped by hand with a per-step fold_in.
    k_reset, k_steps = jax.vmap(jax.random.split, out_axes=1)(keys)
    obs, st = jax.vmap(env.reset)(k_reset)
    total = np.zeros(8)
    ep = np.zeros(8, int)
    rets = np.zeros((8, 2))
    for t in range(2 * env.max_steps):
        a, _ = policy((), obs, None, None)
        ks = jax.vmap(jax.random.fold_in, in_axes=(0, None))(k_steps, t)
        obs, st, r, term, trunc = jax.vmap(env.step)(ks, st, a)
        total += np.asarray(r)
        for i in np.flatnonzero(np.asarray(term | trunc)):
            if ep[i] < 2:
                rets[i, ep[i]] = total[i]
            ep[i] += 1
            total[i] = 0
    assert len(np.unique(rets)) >= 3  # episodes that depend on their start states
    np.testing.assert_array_equal(np.asarray(res.returns), rets)

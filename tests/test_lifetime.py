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


def _counting_env(fail_after: int, t_max: int):
    """A toy environment: reward 1 per step, terminates every ``fail_after`` steps (then auto-resets);
    the observation is the step within the current attempt, so a policy can see the resets."""
    from envs.registry import EnvAdapter

    def reset(key):
        return jnp.zeros((1,)), jnp.int32(0)

    def step(key, t, action):
        t = t + 1
        term = t >= fail_after
        t = jnp.where(term, 0, t)
        return t.astype(jnp.float32)[None], t, jnp.float32(1.0), term, jnp.zeros((), bool)

    return EnvAdapter(name=f"count{fail_after}", obs_size=1, n_actions=2, max_steps=t_max, reset=reset, step=step)


def _counting_policy(state, obs, reward, terminated):
    """Its state counts every step it acts and every reward and termination it is told of."""
    steps, rewards, terms = state
    return jnp.zeros(obs.shape[0], jnp.int32), (steps + 1, rewards + reward, terms + terminated)


def test_window_episode_scores_the_first_attempt_and_the_agent_lives_the_whole_window():
    """``mode="window"``: each episode is ``max_steps`` steps from a reset; its return is the first
    attempt's (to the first termination) however many attempts follow, and the agent acts through
    all of them, so its state counts every step of every window, and the last reward of one window
    is what it is told at the start of the next. Back-to-back episodes score one attempt each."""
    env = _counting_env(fail_after=7, t_max=50)
    keys = jax.random.split(jax.random.key(0), 3)
    zeros = (jnp.zeros(3, jnp.int32), jnp.zeros(3), jnp.zeros(3, jnp.int32))
    win = jax.jit(lambda k: run_lifetimes(env, _counting_policy, zeros, k, 4, mode="window"))(keys)
    np.testing.assert_array_equal(np.asarray(win.returns), np.full((3, 4), 7.0))
    np.testing.assert_array_equal(np.asarray(win.lengths), np.full((3, 4), 7))
    steps, rewards, terms = win.final_agent_state
    np.testing.assert_array_equal(np.asarray(steps), np.full(3, 4 * 50))  # the whole of every window
    np.testing.assert_array_equal(np.asarray(terms), np.full(3, 4 * (50 // 7)))  # every attempt's end, told
    np.testing.assert_array_equal(np.asarray(rewards), np.full(3, 4 * 50 - 1.0))  # all but the very last reward
    back = jax.jit(lambda k: run_lifetimes(env, _counting_policy, zeros, k, 4))(keys)
    np.testing.assert_array_equal(np.asarray(back.returns), np.full((3, 4), 7.0))
    assert int(back.final_agent_state[2][0]) == 4 * 50 // 7  # the same loop length, attempts one after another


def test_learning_off_after_window_k_keeps_the_state_it_had_then():
    """``learn_windows`` = K: windows 1..K are lived as in a lifetime of K windows (the same
    state at their end), and from window K+1 the frozen step acts on that state unchanged; the
    resets and returns of every window stay those of the whole lifetime."""
    import pytest

    env = _counting_env(fail_after=7, t_max=50)
    keys = jax.random.split(jax.random.key(0), 3)
    zeros = (jnp.zeros(3, jnp.int32), jnp.zeros(3), jnp.zeros(3, jnp.int32))
    frozen = lambda s, obs, r, term: (jnp.zeros(obs.shape[0], jnp.int32), s)  # noqa: E731
    res = jax.jit(lambda k: run_lifetimes(env, _counting_policy, zeros, k, 4, mode="window", frozen_step=frozen,
                                          learn_windows=2))(keys)  # fmt: skip
    two = jax.jit(lambda k: run_lifetimes(env, _counting_policy, zeros, k, 2, mode="window"))(keys)
    for mine, learned in zip(res.final_agent_state, two.final_agent_state):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(learned))
    assert int(res.final_agent_state[0][0]) == 2 * 50
    np.testing.assert_array_equal(np.asarray(res.returns), np.full((3, 4), 7.0))
    for k in (0, 4):  # never learning, learning throughout
        state = run_lifetimes(env, _counting_policy, zeros, keys, 4, mode="window", frozen_step=frozen,
                              learn_windows=k).final_agent_state  # fmt: skip
        assert int(state[0][0]) == k * 50
    with pytest.raises(ValueError, match="needs windows"):
        run_lifetimes(env, _counting_policy, zeros, keys, 4, frozen_step=frozen, learn_windows=2)
    with pytest.raises(ValueError, match="0 <= K <= 4"):
        run_lifetimes(env, _counting_policy, zeros, keys, 4, mode="window", frozen_step=frozen, learn_windows=5)
    with pytest.raises(ValueError, match="go together"):
        run_lifetimes(env, _counting_policy, zeros, keys, 4, mode="window", learn_windows=2)


def test_window_return_is_capped_by_the_window():
    """An agent that never fails scores the whole window (truncation ends the first attempt)."""
    env = make_env("CartPole-v1", 20)

    def balance(state, obs, r, term):  # push the way the pole leans: survives 20 steps
        return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(jnp.int32), state

    res = jax.jit(lambda k: run_lifetimes(env, balance, (), k, 3, mode="window"))(jax.random.split(jax.random.key(1), 4))
    np.testing.assert_array_equal(np.asarray(res.returns), np.full((4, 3), 20.0))


def test_unknown_episode_mode_is_refused():
    import pytest

    with pytest.raises(ValueError, match="episode_mode"):
        run_lifetimes(make_env("CartPole-v1", 5), _counting_policy, (), jax.random.split(jax.random.key(0), 1), 1, mode="x")

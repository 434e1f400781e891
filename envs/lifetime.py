"""Lifetimes: several episodes of one environment per agent, the agent's state kept throughout.

A batch of B agents lives at once (the population, times lifetimes per member). The loop is
one ``lax.scan`` of fixed length (episodes × max episode steps) so that every agent runs the
same program. Two ways to cut that loop into episodes (``mode``):

* ``consecutive``: an episode that ends early lets the next one start (the environment
  auto-resets), and once an agent has lived its episodes further steps are not recorded;
* ``window`` (the authors' lifetime): episode k is a window of exactly ``max_steps`` steps
  that starts from a reset; its return counts up to the window's first termination or
  truncation, and the agent goes on acting and learning through the auto-resets until the
  window ends. Episode k is thus scored after k windows of practice.

The agent is two pure functions and learns of episode boundaries only through what it is told:
observation, last reward, and whether the last step ended the episode by termination
(truncation is kept apart and not reported as failure).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from envs.adapter import EnvAdapter

# policy_step(agent_state, obs (B, d), last_reward (B,), last_terminated (B,)) -> (actions (B,), agent_state)
PolicyStep = Callable[[Any, jax.Array, jax.Array, jax.Array], tuple[jax.Array, Any]]
# freeze(active (B,), new_state, old_state) -> state: keeps old_state where an agent is done
Freeze = Callable[[jax.Array, Any, Any], Any]


@functools.cache
def unroll_threefry_on_cpu() -> bool:
    """Lower JAX's threefry hash on CPU as straight-line code instead of a rolled loop.

    JAX emits threefry2x32 on CPU as a 5-iteration while loop (to keep compile times short).
    Inside a lifetime's step loop the hash runs three times per step (the step's key and the
    environment's auto-reset split and uniform), and each loop iteration is several tiny XLA
    thunks: 13 % of a ``synapse`` step and 7 % of a ``neuron`` step at population 64
    (docs/PERFORMANCE.md). Unrolled (JAX's own lowering for GPUs) the hash is one fused
    elementwise loop: the same function, the same bits (``tests/test_lifetime.py``).

    JAX has no per-program switch, so this replaces the CPU lowering for the whole process; it
    is applied the first time a lifetime is traced, i.e. before that program is lowered.
    Returns False, changing nothing, where this JAX lacks the internals it relies on.
    """
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as threefry

        rule = threefry._threefry2x32_lowering_rule
        mlir.register_lowering(threefry.threefry2x32_p, rule, platform="cpu")
    except (ImportError, AttributeError):
        return False
    return True


MODES = ("consecutive", "window")


class LifetimeResult(NamedTuple):
    returns: jax.Array  # (B, episodes) return of each episode, in order
    lengths: jax.Array  # (B, episodes) steps of each episode
    final_agent_state: Any


def run_lifetimes(
    env: EnvAdapter,
    policy_step: PolicyStep,
    agent_state: Any,
    keys: jax.Array,
    episodes: int,
    freeze: Freeze | None = None,
    mode: str = "consecutive",
    frozen_step: PolicyStep | None = None,
    learn_windows: int | None = None,
) -> LifetimeResult:
    """Run ``episodes`` episodes (``mode``, see the module doc) for each of B agents; keys (B,)
    seed each agent's environment, so an agent's trajectory does not depend on which others
    share the batch.

    Without ``freeze`` an agent keeps acting after its last consecutive episode (nothing is
    recorded then) and ``final_agent_state`` is its state at the end of the loop; freezing
    costs a select over the whole state every step (measured: half the throughput of a
    lifetime). Windows fill the loop exactly, so ``freeze`` changes nothing there.

    ``learn_windows`` = K with ``frozen_step`` (the same policy with learning off; windows only):
    the agent learns through windows 1..K and acts with what it has learned, its plastic state
    kept as it stands, from window K+1 on: whether a learner needs to keep learning, or unlearns.
    """
    if mode not in MODES:
        raise ValueError(f"lifetime.episode_mode must be one of {MODES}, got {mode!r}")
    if (learn_windows is None) != (frozen_step is None):
        raise ValueError("learn_windows and frozen_step go together")
    if learn_windows is not None and not (mode == "window" and 0 <= learn_windows <= episodes):
        raise ValueError(f"learning off after window {learn_windows}: needs windows (episode_mode=window) "
                         f"and 0 <= K <= {episodes} episodes")
    if mode == "window":
        return _run_windows(env, policy_step, agent_state, keys, episodes, frozen_step, learn_windows)
    unroll_threefry_on_cpu()
    b = keys.shape[0]
    k_reset, k_steps = jax.vmap(jax.random.split, out_axes=1)(keys)
    obs, env_state = jax.vmap(env.reset)(k_reset)
    step_keys = _fold_each(k_steps, episodes * env.max_steps)
    step_env = jax.vmap(env.step)

    def body(carry, k_step):
        env_state, obs, agent_state, last_r, last_term, ep, ep_ret, ep_len, rets, lens = carry
        action, new_agent_state = policy_step(agent_state, obs, last_r, last_term)
        obs2, env_state2, r, term, trunc = step_env(k_step, env_state, action)
        active = ep < episodes
        ep_ret = ep_ret + r
        ep_len = ep_len + 1
        done = jnp.logical_or(term, trunc)
        record = jnp.logical_and(done, active)
        slot = jax.nn.one_hot(jnp.minimum(ep, episodes - 1), episodes, dtype=bool) & record[:, None]
        rets = jnp.where(slot, ep_ret[:, None], rets)
        lens = jnp.where(slot, ep_len[:, None], lens)
        ep = ep + record.astype(ep.dtype)
        ep_ret = jnp.where(done, 0.0, ep_ret)
        ep_len = jnp.where(done, 0, ep_len)
        agent_state = new_agent_state if freeze is None else freeze(active, new_agent_state, agent_state)
        return (env_state2, obs2, agent_state, r, term, ep, ep_ret, ep_len, rets, lens), None

    init = (
        env_state,
        obs,
        agent_state,
        jnp.zeros((b,), jnp.float32),
        jnp.zeros((b,), bool),
        jnp.zeros((b,), jnp.int32),
        jnp.zeros((b,), jnp.float32),
        jnp.zeros((b,), jnp.int32),
        jnp.zeros((b, episodes), jnp.float32),
        jnp.zeros((b, episodes), jnp.int32),
    )
    carry, _ = jax.lax.scan(body, init, step_keys)
    return LifetimeResult(carry[8], carry[9], carry[2])


def _run_windows(env: EnvAdapter, policy_step: PolicyStep, agent_state: Any, keys: jax.Array, episodes: int,
                 frozen_step: PolicyStep | None = None, learn_windows: int | None = None) -> LifetimeResult:
    """``run_lifetimes`` with ``mode="window"``: a scan over windows of a scan over steps.

    Each window starts from a fresh reset (its key folded from the agent's key and the window
    index); the agent state, the last reward and the last termination flag carry from one
    window into the next, as they do across the auto-resets inside a window. With
    ``learn_windows`` = K, the windows after the K-th run ``frozen_step`` (one switch for the
    whole batch: both step loops are compiled, each window runs one).
    """
    unroll_threefry_on_cpu()
    b, t_max = keys.shape[0], env.max_steps
    k_reset, k_steps = jax.vmap(jax.random.split, out_axes=1)(keys)
    reset_keys = _fold_each(k_reset, episodes)  # = window_reset_keys(keys, episodes)
    step_keys = _fold_each(k_steps, episodes * t_max).reshape(episodes, t_max, b)
    step_env = jax.vmap(env.step)

    def stepper(act: PolicyStep):
        def step(carry, k_step):
            env_state, obs, agent_state, last_r, last_term, running, ret, length = carry
            action, agent_state = act(agent_state, obs, last_r, last_term)
            obs, env_state, r, term, trunc = step_env(k_step, env_state, action)
            ret = ret + jnp.where(running, r, 0.0)
            length = length + running.astype(length.dtype)
            running = running & ~(term | trunc)
            return (env_state, obs, agent_state, r, term, running, ret, length), None

        return step

    loops = [functools.partial(jax.lax.scan, stepper(act)) for act in (policy_step, frozen_step) if act is not None]

    def window(carry, xs):
        agent_state, last_r, last_term = carry
        keys_r, keys_w, *frozen = xs
        obs, env_state = jax.vmap(env.reset)(keys_r)
        init = (env_state, obs, agent_state, last_r, last_term, jnp.ones((b,), bool),
                jnp.zeros((b,), jnp.float32), jnp.zeros((b,), jnp.int32))  # fmt: skip
        run = functools.partial(jax.lax.switch, frozen[0], loops) if frozen else loops[0]
        (_, _, agent_state, last_r, last_term, _, ret, length), _ = run(init, keys_w)
        return (agent_state, last_r, last_term), (ret, length)

    init = (agent_state, jnp.zeros((b,), jnp.float32), jnp.zeros((b,), bool))
    xs = (reset_keys, step_keys)
    if learn_windows is not None:  # 0 while learning, 1 after window K
        xs += ((jnp.arange(episodes) >= learn_windows).astype(jnp.int32),)
    (agent_state, _, _), (rets, lens) = jax.lax.scan(window, init, xs)
    return LifetimeResult(rets.T, lens.T, agent_state)


def _fold_each(keys: jax.Array, n: int) -> jax.Array:
    """(n, B): each of ``keys`` (B,) folded with 0..n-1 (every step's or window's keys at once:
    one vectorised hash instead of one per step in the loop)."""
    fold = jax.vmap(jax.random.fold_in, in_axes=(0, None))
    return jax.vmap(lambda i: fold(keys, i))(jnp.arange(n))


def window_reset_keys(keys: jax.Array, episodes: int) -> jax.Array:
    """(episodes, B) keys of each window's reset for agents with ``keys`` (B,) (``mode="window"``)."""
    return _fold_each(jax.vmap(jax.random.split, out_axes=1)(keys)[0], episodes)

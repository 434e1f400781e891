"""One registry of task names: gymnax environments (discrete and continuous actions) and brax.

An adapter hides gymnax's or brax's specifics (observation shapes, auto-reset, params) behind
three pure functions, so the lifetime loop and the learners never see an environment class.
Continuous environments take a vector of ``n_actions`` values within [action_low, action_high].
"""

from __future__ import annotations

import difflib
import warnings
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# the adapter type and name parsing live below the registry (envs.adapter); importable from here too
from envs.adapter import EnvAdapter, UnknownEnvError, obs_permutation, parse_env_name, random_actions, task_name  # noqa: F401
from envs.energy import ENERGIES
from envs.observations import with_fixed_obs_norm

# Return ranges of the authors' min-max normalised fitness (their scripts/sfnn/main.py).
RETURN_RANGES: dict[str, tuple[float, float]] = {
    "CartPole-v1": (8.0, 500.0),
    "Acrobot-v1": (-500.0, -80.0),
    "MountainCar-v0": (-200.0, -110.0),
}

# What an episode's termination (not truncation) means, where the environment says: a failure
# (the pole fell, the robot is unhealthy) or a success (the goal was reached). A reward shown
# to the network after a termination (``lifetime.terminal_reward``) must mean failure, so it
# is given only where termination is failure. Unlisted gymnax environments end episodes by
# their own rules (a bandit's last pull, a caught ball): "end", neither.
TERMINATION: dict[str, str] = {
    "CartPole-v1": "failure",
    "Acrobot-v1": "success",
    "MountainCar-v0": "success",
    "MountainCarContinuous-v0": "success",
}
TERMINATIONS = ("failure", "success", "end")

# gymnax environments that run offline with a discrete action space; their observations
# are flattened to one vector, one input neuron per dimension.
GYMNAX_DISCRETE = (
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "Catch-bsuite",
    "DeepSea-bsuite",
    "MemoryChain-bsuite",
    "UmbrellaChain-bsuite",
    "DiscountingChain-bsuite",
    "SimpleBandit-bsuite",
    "BernoulliBandit-misc",
    "GaussianBandit-misc",
    "MetaMaze-misc",
    "FourRooms-misc",
    "FrozenLake-misc",
    "Asterix-MinAtar",
    "Breakout-MinAtar",
    "Freeway-MinAtar",
    "SpaceInvaders-MinAtar",
)
# gymnax environments with a continuous (Box) action space
GYMNAX_CONTINUOUS = ("Pendulum-v1", "MountainCarContinuous-v0", "PointRobot-misc")  # PointRobot: a 2-D velocity


def env_names() -> list[str]:
    """Every registered environment name."""
    from envs.brax_env import brax_names

    return [*GYMNAX_DISCRETE, *GYMNAX_CONTINUOUS, *brax_names()]


def check_env_name(name: str) -> None:
    """Raise UnknownEnvError with the closest registered names as a suggestion."""
    base, opts = parse_env_name(name)
    if "obs_norm" in opts:
        mode = opts.pop("obs_norm")
        if mode != "fixed":
            raise UnknownEnvError(f"{name}: obs_norm={mode!r}; the variant is obs_norm=fixed (per-lifetime statistics: lifetime.obs_norm=running)")
        return check_env_name(task_name(name))
    if base in GYMNAX_DISCRETE or base in GYMNAX_CONTINUOUS:
        return
    if base.startswith("brax/"):
        from envs.brax_env import check_brax_name

        return check_brax_name(name)
    close = difflib.get_close_matches(base, env_names(), n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else "run `sfnn envs` to list them"
    raise UnknownEnvError(f"unknown environment {base!r}: {hint}")


def _with_overrides(params: Any, opts: dict[str, str], name: str) -> Any:
    fields = {f for f in params.__dataclass_fields__ if f != "max_steps_in_episode"}
    changes = {}
    for key, value in opts.items():
        if key not in fields:
            raise UnknownEnvError(f"{name}: {key!r} is not a parameter; choose from {', '.join(sorted(fields))}, perm or obs_norm")
        try:
            changes[key] = type(getattr(params, key))(float(value)) if not isinstance(getattr(params, key), bool) else value == "true"
        except (TypeError, ValueError):
            raise UnknownEnvError(f"{name}: {key}={value!r} is not a number") from None
    params = params.replace(**changes)
    # CartPole caches two derived quantities: keep them consistent with what was changed
    if {"total_mass", "polemass_length"} <= fields and not {"total_mass", "polemass_length"} & set(changes):
        params = params.replace(
            total_mass=params.masspole + params.masscart, polemass_length=params.masspole * params.length
        )
    return params


@lru_cache(maxsize=None)
def make_env(name: str, max_steps: int | None = None) -> EnvAdapter:
    """Build the adapter for a registered name (with variants); ``max_steps`` overrides the episode cap."""
    check_env_name(name)
    base, opts = parse_env_name(name)
    if "obs_norm" in opts:
        return _obs_normed(name, max_steps)
    if base.startswith("brax/"):
        from envs.brax_env import make_brax_env

        return make_brax_env(name, max_steps)
    perm_seed = opts.pop("perm", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import gymnax

        env, params = gymnax.make(base)
    params = _with_overrides(params, opts, name)
    if max_steps is not None:
        # keep gymnax's own type (BernoulliBandit's cap is a float; an int there breaks its observation_space)
        params = params.replace(max_steps_in_episode=type(params.max_steps_in_episode)(int(max_steps)))
    obs_shape = env.observation_space(params).shape
    obs_size = int(np.prod(obs_shape)) if len(obs_shape) else 1
    perm = obs_permutation(name, perm_seed, obs_size)

    def flat(obs):
        return jnp.asarray(obs, jnp.float32).reshape(-1)[perm]

    energy = None
    if base in ENERGIES:
        raw_energy, unperm = ENERGIES[base](params), jnp.argsort(perm)

        def energy(obs):  # of an observation as the agent gets it (permuted by a perm= variant)
            return raw_energy(obs[unperm])

    def reset(key):
        obs, state = env.reset(key, params)
        return flat(obs), state

    def step(key, state, action):
        obs, state, reward, terminated, truncated, _ = env.step(key, state, action, params)
        return flat(obs), state, jnp.asarray(reward, jnp.float32), jnp.asarray(terminated, bool), jnp.asarray(truncated, bool)

    bounds: dict[str, Any] = {"n_actions": int(env.num_actions)}
    if base in GYMNAX_CONTINUOUS:
        space = env.action_space(params)
        dims = int(np.prod(space.shape)) if len(space.shape) else 1
        low, high = (np.broadcast_to(np.asarray(b, np.float32), (dims,)) for b in (space.low, space.high))
        bounds = {"n_actions": dims, "continuous": True,
                  "action_low": tuple(map(float, low)), "action_high": tuple(map(float, high))}  # fmt: skip
    return EnvAdapter(
        name=name,
        obs_size=obs_size,
        max_steps=int(params.max_steps_in_episode),
        reset=reset,
        step=step,
        return_range=RETURN_RANGES.get(base),
        termination=TERMINATION.get(base, "end"),
        energy=energy,
        **bounds,
    )


def _obs_normed(name: str, max_steps: int | None) -> EnvAdapter:
    """The ``obs_norm=fixed`` variant (its value checked by check_env_name): the environment
    without it (``task_name``), its observations scaled by the mean and s.d. of random play in
    that environment (as ``lifetime.obs_norm=fixed`` does for every environment of a run)."""
    raw = make_env(task_name(name), max_steps)
    _, mean, std = random_play(raw)
    return with_fixed_obs_norm(raw, name, mean, std)


@lru_cache(maxsize=None)
def random_play(env: EnvAdapter, episodes: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Episodes of a uniformly random policy: (returns (episodes,), observation mean, observation std).

    One rollout serves both estimates a run may need for an environment without known
    figures: the return range of the normalised fitness and ``lifetime.obs_norm=fixed``.
    The statistics cover every observation the random agents saw, over the whole loop.
    """
    from envs.lifetime import run_lifetimes

    def random_policy(state, obs, reward, terminated):
        key, n, total, sq = state
        key, sub = jax.vmap(jax.random.split, out_axes=1)(key)
        return jax.vmap(lambda k: random_actions(env, k))(sub), (key, n + 1, total + obs, sq + obs * obs)

    with jax.ensure_compile_time_eval():  # concrete numbers even when first asked inside a jit trace
        keys = jax.random.split(jax.random.key(seed), episodes)
        policy_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
        zeros = jnp.zeros((episodes, env.obs_size))
        state = (policy_keys, jnp.zeros((episodes, 1)), zeros, zeros)
        res = jax.jit(lambda s, k: run_lifetimes(env, random_policy, s, k, 1))(state, keys)
        _, n, total, sq = res.final_agent_state
        count = jnp.sum(n)
        mean = jnp.sum(total, 0) / count
        var = jnp.maximum(jnp.sum(sq, 0) / count - mean * mean, 0.0)
        return np.asarray(res.returns[:, 0]), np.asarray(mean), np.asarray(jnp.sqrt(var))


@lru_cache(maxsize=None)
def estimate_return_range(env: EnvAdapter, episodes: int = 64, seed: int = 0) -> tuple[float, float]:
    """A return range for an environment without a known one: (random-policy mean, best random episode).

    The fitness of an SFNN is min–max normalised per environment; with this estimate a random
    agent scores about 0 and one as good as the luckiest random episode about 1. If every
    random episode has the same return, the range is one unit wide.
    """
    res = jnp.asarray(random_play(env, episodes, seed)[0])
    low, high = float(jnp.mean(res)), float(jnp.max(res))
    return (low, high) if high - low > 1e-6 else (low, low + 1.0)

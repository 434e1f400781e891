"""One registry of task names: gymnax environments with flat observations and discrete actions.

An adapter hides gymnax's specifics (observation shapes, auto-reset, params) behind three
pure functions, so the lifetime loop and the learners never see an environment class.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

# Return ranges for the authors' min-max normalised fitness (DESIGN.md).
RETURN_RANGES: dict[str, tuple[float, float]] = {
    "CartPole-v1": (8.0, 500.0),
    "Acrobot-v1": (-500.0, -80.0),
    "MountainCar-v0": (-200.0, -110.0),
}

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
    "PointRobot-misc",
    "FourRooms-misc",
    "FrozenLake-misc",
    "Asterix-MinAtar",
    "Breakout-MinAtar",
    "Freeway-MinAtar",
    "SpaceInvaders-MinAtar",
)


class UnknownEnvError(ValueError):
    """An environment name that the registry does not know."""


@dataclass(frozen=True)
class EnvAdapter:
    """A task as pure functions; hashable by name so jitted code can close over it."""

    name: str
    obs_size: int
    n_actions: int
    max_steps: int
    reset: Callable[[jax.Array], tuple[jax.Array, Any]]
    step: Callable[[jax.Array, Any, jax.Array], tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array]]
    return_range: tuple[float, float] | None = None

    def __hash__(self) -> int:
        return hash((self.name, self.max_steps))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnvAdapter) and (self.name, self.max_steps) == (other.name, other.max_steps)


def env_names() -> list[str]:
    """Every registered environment name."""
    return list(GYMNAX_DISCRETE)


def parse_env_name(name: str) -> tuple[str, dict[str, str]]:
    """``Base-v1:key=value,key=value`` -> (base name, {key: value}).

    Variants change environment parameters (``CartPole-v1:length=1.0,gravity=12``) or
    permute the observation dimensions with a fixed seed (``CartPole-v1:perm=3``), so a
    meta-test can meet dynamics and input orders it never saw in training.
    """
    base, _, rest = name.partition(":")
    opts: dict[str, str] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq or not key or not value:
            raise UnknownEnvError(f"bad environment variant {part!r} in {name!r}: write NAME:key=value,key=value")
        opts[key.strip()] = value.strip()
    return base, opts


def check_env_name(name: str) -> None:
    """Raise UnknownEnvError with the closest registered names as a suggestion."""
    base, _ = parse_env_name(name)
    if base in GYMNAX_DISCRETE:
        return
    close = difflib.get_close_matches(base, env_names(), n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else "run `sfnn envs` to list them"
    raise UnknownEnvError(f"unknown environment {base!r}: {hint}")


def _with_overrides(params: Any, opts: dict[str, str], name: str) -> Any:
    fields = {f for f in params.__dataclass_fields__ if f != "max_steps_in_episode"}
    changes = {}
    for key, value in opts.items():
        if key not in fields:
            raise UnknownEnvError(f"{name}: {key!r} is not a parameter; choose from {', '.join(sorted(fields))} or perm")
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
    perm_seed = opts.pop("perm", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import gymnax

        env, params = gymnax.make(base)
    params = _with_overrides(params, opts, name)
    if max_steps is not None:
        params = params.replace(max_steps_in_episode=int(max_steps))
    obs_shape = env.observation_space(params).shape
    obs_size = int(np.prod(obs_shape)) if len(obs_shape) else 1
    if perm_seed is not None:
        try:
            perm = jnp.asarray(np.random.default_rng(int(perm_seed)).permutation(obs_size))
        except ValueError:
            raise UnknownEnvError(f"{name}: perm={perm_seed!r} must be an integer seed") from None
    else:
        perm = jnp.arange(obs_size)

    def flat(obs):
        return jnp.asarray(obs, jnp.float32).reshape(-1)[perm]

    def reset(key):
        obs, state = env.reset(key, params)
        return flat(obs), state

    def step(key, state, action):
        obs, state, reward, terminated, truncated, _ = env.step(key, state, action, params)
        return flat(obs), state, jnp.asarray(reward, jnp.float32), jnp.asarray(terminated, bool), jnp.asarray(truncated, bool)

    return EnvAdapter(
        name=name,
        obs_size=obs_size,
        n_actions=int(env.num_actions),
        max_steps=int(params.max_steps_in_episode),
        reset=reset,
        step=step,
        return_range=RETURN_RANGES.get(base),
    )


@lru_cache(maxsize=None)
def estimate_return_range(env: EnvAdapter, episodes: int = 64, seed: int = 0) -> tuple[float, float]:
    """A return range for an environment without a known one: (random-policy mean, best random episode).

    The fitness of an SFNN is min–max normalised per environment; with this estimate a random
    agent scores about 0 and one as good as the luckiest random episode about 1. If every
    random episode has the same return, the range is one unit wide.
    """
    from envs.lifetime import run_lifetimes

    def random_policy(key, obs, reward, terminated):
        key, sub = jax.vmap(jax.random.split, out_axes=1)(key)
        return jax.vmap(lambda k: jax.random.randint(k, (), 0, env.n_actions))(sub), key

    keys = jax.random.split(jax.random.key(seed), episodes)
    policy_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
    res = jax.jit(lambda pk, k: run_lifetimes(env, random_policy, pk, k, 1).returns)(policy_keys, keys)
    low, high = float(jnp.mean(res)), float(jnp.max(res))
    return (low, high) if high - low > 1e-6 else (low, low + 1.0)

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


def check_env_name(name: str) -> None:
    """Raise UnknownEnvError with the closest registered names as a suggestion."""
    if name in GYMNAX_DISCRETE:
        return
    close = difflib.get_close_matches(name, env_names(), n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else "run `sfnn envs` to list them"
    raise UnknownEnvError(f"unknown environment {name!r}: {hint}")


@lru_cache(maxsize=None)
def make_env(name: str, max_steps: int | None = None) -> EnvAdapter:
    """Build the adapter for a registered name; ``max_steps`` overrides the episode cap."""
    check_env_name(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import gymnax

        env, params = gymnax.make(name)
    if max_steps is not None:
        params = params.replace(max_steps_in_episode=int(max_steps))
    obs_shape = env.observation_space(params).shape
    obs_size = int(jnp.prod(jnp.array(obs_shape))) if len(obs_shape) else 1

    def reset(key):
        obs, state = env.reset(key, params)
        return jnp.asarray(obs, jnp.float32).reshape(-1), state

    def step(key, state, action):
        obs, state, reward, terminated, truncated, _ = env.step(key, state, action, params)
        return (
            jnp.asarray(obs, jnp.float32).reshape(-1),
            state,
            jnp.asarray(reward, jnp.float32),
            jnp.asarray(terminated, bool),
            jnp.asarray(truncated, bool),
        )

    return EnvAdapter(
        name=name,
        obs_size=obs_size,
        n_actions=int(env.num_actions),
        max_steps=int(params.max_steps_in_episode),
        reset=reset,
        step=step,
        return_range=RETURN_RANGES.get(name),
    )

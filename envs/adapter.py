"""What every environment looks like to the lifetime loop: an ``EnvAdapter`` of pure functions.

The registry (gymnax) and the brax wrapper both build adapters, and the lifetime loop only
runs them, so this module sits below all three and imports none of them. Environment names
with variants (``CartPole-v1:perm=3``) are parsed here for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np


class UnknownEnvError(ValueError):
    """An environment name that the registry does not know."""


@dataclass(frozen=True)
class EnvAdapter:
    """A task as pure functions; hashable by name so jitted code can close over it.

    Discrete: ``n_actions`` choices, an action is an integer. Continuous: ``n_actions`` is the
    action dimension and an action is a float vector within ``action_low``/``action_high``
    (tuples, so the adapter stays hashable).
    """

    name: str
    obs_size: int
    n_actions: int
    max_steps: int
    reset: Callable[[jax.Array], tuple[jax.Array, Any]]
    step: Callable[[jax.Array, Any, jax.Array], tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array]]
    return_range: tuple[float, float] | None = None
    termination: str = "end"  # what a termination means here: failure | success | end (see ``TERMINATION``)
    continuous: bool = False
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()
    # one observation (d,) -> its state's mechanical energy, 0 at rest at the bottom, 1 at a reference
    # (Acrobot: both links level; MountainCar: resting at the goal); None where there is no such notion
    energy: Callable[[jax.Array], jax.Array] | None = None

    def __hash__(self) -> int:
        return hash((self.name, self.max_steps))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnvAdapter) and (self.name, self.max_steps) == (other.name, other.max_steps)


def parse_env_name(name: str) -> tuple[str, dict[str, str]]:
    """``Base-v1:key=value,key=value`` -> (base name, {key: value}).

    Variants change environment parameters (``CartPole-v1:length=1.0,gravity=12``) or
    permute the observation dimensions with a fixed seed (``CartPole-v1:perm=3``), so a
    meta-test can meet dynamics and input orders it never saw in training; ``obs_norm=fixed``
    scales one environment's observations by those of random play.
    """
    base, _, rest = name.partition(":")
    opts: dict[str, str] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq or not key or not value:
            raise UnknownEnvError(f"bad environment variant {part!r} in {name!r}: write NAME:key=value,key=value")
        opts[key.strip()] = value.strip()
    return base, opts


def variant_name(base: str, opts: dict[str, str]) -> str:
    """The inverse of ``parse_env_name``: (base, {key: value}) -> ``Base-v1:key=value,...``."""
    return f"{base}:{','.join(f'{k}={v}' for k, v in opts.items())}" if opts else base


AGENT_SIDE_OPTIONS = ("obs_norm",)  # variant options that change what the agent sees, not the task


def task_name(name: str) -> str:
    """The environment a variant plays, without the options that only rescale what the agent
    sees (``obs_norm``): ``MountainCar-v0:obs_norm=fixed`` plays ``MountainCar-v0``, with the same
    rewards and returns, so runs that differ only there are compared on one plot. (``perm=``
    stays: it is a meta-test's unseen input order, another task for the learner.)"""
    base, opts = parse_env_name(name)
    return variant_name(base, {k: v for k, v in opts.items() if k not in AGENT_SIDE_OPTIONS})


def obs_permutation(name: str, perm_seed: str | None, obs_size: int) -> jax.Array:
    """The fixed observation order of a ``perm=SEED`` variant (identity without one).

    Never the identity when there are two or more observations: a seed's first draw can be
    the identity (``default_rng(1)`` on 4 items is), which would make the variant a silent
    copy of the original environment, so draws repeat until the order changes.
    """
    if perm_seed is None:
        return jnp.arange(obs_size)
    try:
        rng = np.random.default_rng(int(perm_seed))
    except ValueError:
        raise UnknownEnvError(f"{name}: perm={perm_seed!r} must be an integer seed") from None
    order = rng.permutation(obs_size)
    while obs_size > 1 and np.array_equal(order, np.arange(obs_size)):
        order = rng.permutation(obs_size)
    return jnp.asarray(order)


def random_actions(env: EnvAdapter, key: jax.Array) -> jax.Array:
    """One uniformly random action: an integer below ``n_actions``, or a vector within the bounds."""
    if env.continuous:
        return jax.random.uniform(key, (env.n_actions,), minval=jnp.asarray(env.action_low),
                                  maxval=jnp.asarray(env.action_high))  # fmt: skip
    return jax.random.randint(key, (), 0, env.n_actions)

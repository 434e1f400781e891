"""Fitness from per-episode returns: the authors' normalised, improvement-weighted score, or the mean.

Evolution maximises these numbers; the sign flip that evosax (a minimiser) needs happens in
exactly one place, ``trainer.evosax_fitness``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp


def episode_weights(episodes: int) -> jax.Array:
    """Weights k/Σk for episodes k = 0..E-1: the first episode counts for nothing, so a
    genome is rewarded for what it learns within the lifetime, not for where it starts."""
    k = jnp.arange(episodes, dtype=jnp.float32)
    total = jnp.sum(k)
    return jnp.where(total > 0, k / jnp.maximum(total, 1.0), jnp.ones_like(k) / episodes)


def normalize_returns(returns: jax.Array, low: float, high: float) -> jax.Array:
    """Min–max normalisation of returns to the environment's [low, high] range."""
    return (returns - low) / (high - low)


def lifetime_fitness(returns: jax.Array, kind: str, return_range: tuple[float, float] | None) -> jax.Array:
    """Fitness of one lifetime (returns has shape (..., episodes))."""
    if kind == "mean":
        return jnp.mean(returns, axis=-1)
    if kind == "normalized_weighted":
        if return_range is None:
            raise ValueError("normalized_weighted fitness needs a return range")
        w = episode_weights(returns.shape[-1])
        return jnp.sum(normalize_returns(returns, *return_range) * w, axis=-1)
    raise ValueError(f"unknown fitness kind {kind!r}")


def over_lifetimes(fit: jax.Array, worst_fraction: float = 1.0) -> jax.Array:
    """One environment's fitness from its lifetimes (last axis): the mean of the worst
    ``ceil(worst_fraction * lifetimes)`` of them (1.0: the plain mean; 0.5: the worse half).

    Why: in Acrobot and MountainCar a genome reaches a good controller in about half of its
    lifetimes, and which half is chance inside the lifetime; the mean pays as much for a better
    lucky lifetime as for a failing one lifted, the worse half only for the latter.
    """
    n = fit.shape[-1]
    k = max(1, math.ceil(worst_fraction * n - 1e-9))
    if k >= n:
        return jnp.mean(fit, axis=-1)
    return jnp.mean(jnp.sort(fit, axis=-1)[..., :k], axis=-1)


GEOMEAN_FLOOR = 1e-3


def combine_envs(per_env: jax.Array, how: str, weights: Sequence[float] | None = None) -> jax.Array:
    """Combine fitness across environments (last axis): the authors' product, the mean, or the
    geometric mean of factors floored at GEOMEAN_FLOOR. The geometric mean ranks members as the
    product does (every environment must improve) but without its zero trap: an environment at
    the bottom of its range for the whole population no longer makes every fitness 0, it only
    stops mattering until a member lifts it off the floor. The mean lets evolution neglect an
    environment whose normalised score moves little.

    ``weights`` (one per environment, positive; None: all equal) say how much each environment
    counts: the weighted mean, the weighted geometric mean (exponents w / sum w), or the product
    of factors raised to w. Why: once every environment is solved in most lifetimes, a run can
    trade a few CartPole lifetimes that never learn for a little more Acrobot, and a larger weight
    on the environment whose margin is thin is meant to move the trade the other way (for CartPole
    in the three-environment recipe it did not: docs/RESULTS.md).
    """
    if how not in ("product", "mean", "geomean"):
        raise ValueError(f"unknown combination {how!r}")
    if weights is None:  # the unweighted formulas, bit for bit as runs recorded before weights existed
        if how == "product":
            return jnp.prod(per_env, axis=-1)
        if how == "mean":
            return jnp.mean(per_env, axis=-1)
        return jnp.exp(jnp.mean(jnp.log(jnp.maximum(per_env, GEOMEAN_FLOOR)), axis=-1))
    w = jnp.asarray(weights, dtype=per_env.dtype)
    if w.shape != per_env.shape[-1:]:
        raise ValueError(f"{w.shape[0]} weights for {per_env.shape[-1]} environments")
    if how == "product":
        return jnp.prod(per_env**w, axis=-1)
    if how == "mean":
        return jnp.sum(per_env * w, axis=-1) / jnp.sum(w)
    return jnp.exp(jnp.sum(w * jnp.log(jnp.maximum(per_env, GEOMEAN_FLOOR)), axis=-1) / jnp.sum(w))


def env_weights(weights: dict[str, float], envs: Sequence[str]) -> list[float] | None:
    """The configured ``fitness.weights`` in the order of ``envs`` (an environment not named
    counts 1); None when none is set, so the unweighted formulas run unchanged."""
    if not weights:
        return None
    return [float(weights.get(e, 1.0)) for e in envs]

"""Observation scaling shared by the learners' preprocessing and the environment variants.

Two places scale observations by a mean and a variance: a run's ``lifetime.obs_norm`` (every
environment of the run alike) and an environment variant ``NAME:obs_norm=fixed`` (that
environment alone). Environments want opposite things here (MountainCar learns faster on
scaled positions and velocities, Acrobot slower), so a run over several environments needs the
per-environment form; both use this one formula, so a variant is exactly the run-wide option.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np

from envs.adapter import EnvAdapter

OBS_CLIP = 5.0  # normalised observations are clipped to ±5 standard deviations
OBS_VAR_EPS = 1e-4  # keeps a near-constant dimension from being blown up


def normalise_obs(obs: jax.Array, mean: jax.Array, var: jax.Array) -> jax.Array:
    """(obs − mean) / √(var + ε), clipped to ±OBS_CLIP."""
    return jnp.clip((obs - mean) / jnp.sqrt(var + OBS_VAR_EPS), -OBS_CLIP, OBS_CLIP)


def with_fixed_obs_norm(env: EnvAdapter, name: str, mean: np.ndarray, std: np.ndarray) -> EnvAdapter:
    """``env`` under another name whose observations are scaled by a fixed mean and s.d. (those
    of random play, for the ``obs_norm=fixed`` variant); rewards, terminations and the return
    range are the raw environment's, so fitness is unchanged."""
    m, v = jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32) ** 2

    def reset(key):
        obs, state = env.reset(key)
        return normalise_obs(obs, m, v), state

    def step(key, state, action):
        obs, state, reward, terminated, truncated = env.step(key, state, action)
        return normalise_obs(obs, m, v), state, reward, terminated, truncated

    energy = None
    if env.energy is not None:
        raw_energy = env.energy

        def energy(obs):  # of the raw observation the scaled one came from
            return raw_energy(obs * jnp.sqrt(v + OBS_VAR_EPS) + m)  # exact unless the obs was clipped

    return replace(env, name=name, reset=reset, step=step, energy=energy)

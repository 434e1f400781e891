"""Policies: a learner from ``sfnn`` made into a batch of agents for one environment.

This is where observations are scaled, the reward the network sees is chosen, output values
become actions, and the population layout is decided: the fast path keeps the population
as the last axis (``sfnn.population``); ``impl="reference"`` vmaps the readable
single-agent ``sfnn.network.step`` and exists to check the fast path.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from agents.config import TrainConfig
from envs.registry import EnvAdapter
from sfnn import Genome, SFNNSpec, Topology, init_genome, init_state, step
from sfnn.population import init_population_state, population_step, to_population_last


def sfnn_spec(cfg: TrainConfig, env: EnvAdapter) -> SFNNSpec:
    """The network for ``env``: one input neuron per observation dimension, one output per action."""
    m = cfg.model
    topo = Topology.from_total(m.neurons, env.obs_size, env.n_actions)
    return SFNNSpec(
        topo=topo,
        channels=m.channels,
        connect_prob=m.connect_prob,
        passes=m.passes,
        plasticity=m.plasticity,
        plastic_lr=m.plastic_lr,
        init_scale=m.init_scale,
    )


def genome_template(cfg: TrainConfig, key: jax.Array | None = None) -> Genome:
    """A genome of the configured shape; the same template serves every environment."""
    return init_genome(jax.random.key(0) if key is None else key, cfg.model.channels)


class BatchPolicy:
    """B agents with genomes (leading axis B): ``init(keys)`` and ``step(state, obs, reward, terminated)``."""

    def __init__(self, cfg: TrainConfig, env: EnvAdapter, genomes: Genome, learn: bool = True, impl: str = "fast"):
        self.spec = sfnn_spec(cfg, env)
        self.lt = cfg.lifetime
        self.learn = learn
        self.impl = impl
        # the genome is re-laid out once per lifetime, never inside the step loop
        self.genomes = to_population_last(genomes) if impl == "fast" else genomes

    def init(self, keys: jax.Array) -> Any:
        if self.impl == "fast":
            return init_population_state(keys, self.spec)
        return jax.vmap(lambda k: init_state(k, self.spec))(keys)

    def _reward(self, reward: jax.Array, terminated: jax.Array) -> jax.Array:
        if self.lt.terminal_reward is None:
            return reward
        return jnp.where(terminated, jnp.float32(self.lt.terminal_reward), reward)

    def step(self, state: Any, obs: jax.Array, reward: jax.Array, terminated: jax.Array):
        obs = obs * self.lt.obs_scale
        reward = self._reward(reward, terminated)
        if self.impl == "fast":
            out, state = population_step(self.genomes, self.spec, state, obs.T, reward, self.learn)
            return jnp.argmax(out, axis=0), state
        out, state = jax.vmap(lambda g, s, o, r: step(g, self.spec, s, o, r, self.learn))(
            self.genomes, state, obs, reward
        )
        return jnp.argmax(out, axis=-1), state

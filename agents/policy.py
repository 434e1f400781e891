"""Policies: a learner from ``sfnn`` made into a batch of agents for one environment.

This is where observations are scaled, the reward the network sees is chosen, output values
become actions, and the population layout is decided: the fast path keeps the population
as the last axis (``sfnn.population``); ``impl="reference"`` vmaps the readable
single-agent ``sfnn.network.step`` and exists to check the fast path. The baselines
(``sfnn.baselines``: mlp, hebbian, rnn) are small enough to be vmapped as they are.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from agents.config import TrainConfig
from envs.registry import EnvAdapter
from sfnn import Genome, SFNNSpec, Topology, baselines, init_genome, init_state, step
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


def baseline_io(cfg: TrainConfig) -> tuple[int, int]:
    """A baseline's (inputs, outputs): ``model.inputs/outputs``, else the largest of the run's envs.

    ``sfnn train`` writes the resolved sizes into the run's config.yaml, so that a meta-test on
    other environments rebuilds the genome of the training environments.
    """
    from envs.registry import make_env

    m = cfg.model
    if m.inputs is not None and m.outputs is not None:
        return m.inputs, m.outputs
    envs = [make_env(name, cfg.lifetime.max_steps) for name in cfg.envs]
    return m.inputs or max(e.obs_size for e in envs), m.outputs or max(e.n_actions for e in envs)


def resolve_sizes(cfg: TrainConfig) -> None:
    """Fix a baseline's input and output sizes in ``cfg`` (no-op for other learners)."""
    if cfg.model.kind in baselines.BASELINES:
        cfg.model.inputs, cfg.model.outputs = baseline_io(cfg)


def baseline_spec(cfg: TrainConfig) -> baselines.BaselineSpec:
    """A baseline's shape (see ``baseline_io``)."""
    n_in, n_out = baseline_io(cfg)
    return baselines.BaselineSpec(
        kind=cfg.model.kind,
        n_in=n_in,
        n_out=n_out,
        hidden=tuple(cfg.model.hidden),
        init_scale=cfg.model.init_scale,
    )


def genome_template(cfg: TrainConfig, key: jax.Array | None = None) -> Genome:
    """A genome of the configured learner; an SFNN's serves every environment, a baseline's
    is shaped by the run's largest observation and action sizes."""
    key = jax.random.key(0) if key is None else key
    if cfg.model.kind in baselines.BASELINES:
        return baselines.init_params(key, baseline_spec(cfg))
    return init_genome(key, cfg.model.channels)


def make_policy(cfg: TrainConfig, env: EnvAdapter, genomes: Genome, learn: bool = True, impl: str = "fast"):
    """The batch policy of the configured learner for ``env``."""
    if cfg.model.kind in baselines.BASELINES:
        return BaselinePolicy(cfg, env, genomes, learn)
    return BatchPolicy(cfg, env, genomes, learn, impl)


def shaped_reward(lt, reward: jax.Array, terminated: jax.Array) -> jax.Array:
    """The reward a learner is shown: the environment's, or ``lifetime.terminal_reward`` after a termination."""
    if lt.terminal_reward is None:
        return reward
    return jnp.where(terminated, jnp.float32(lt.terminal_reward), reward)


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

    def step(self, state: Any, obs: jax.Array, reward: jax.Array, terminated: jax.Array):
        obs = obs * self.lt.obs_scale
        reward = shaped_reward(self.lt, reward, terminated)
        if self.impl == "fast":
            out, state = population_step(self.genomes, self.spec, state, obs.T, reward, self.learn)
            return jnp.argmax(out, axis=0), state
        out, state = jax.vmap(lambda g, s, o, r: step(g, self.spec, s, o, r, self.learn))(
            self.genomes, state, obs, reward
        )
        return jnp.argmax(out, axis=-1), state


class BaselinePolicy:
    """B baseline agents (``sfnn.baselines``), vmapped; same interface as ``BatchPolicy``."""

    def __init__(self, cfg: TrainConfig, env: EnvAdapter, genomes: Genome, learn: bool = True):
        self.spec = baseline_spec(cfg)
        if env.obs_size > self.spec.n_in or env.n_actions > self.spec.n_out:
            raise ValueError(
                f"this {cfg.model.kind} genome has {self.spec.n_in} inputs and {self.spec.n_out} outputs, "
                f"too few for {env.name} ({env.obs_size} observations, {env.n_actions} actions)"
            )
        self.env, self.lt, self.learn, self.genomes = env, cfg.lifetime, learn, genomes

    def init(self, keys: jax.Array) -> Any:
        return jax.vmap(lambda k: baselines.init_state(k, self.spec))(keys)

    def step(self, state: Any, obs: jax.Array, reward: jax.Array, terminated: jax.Array):
        obs = jnp.pad(obs * self.lt.obs_scale, ((0, 0), (0, self.spec.n_in - obs.shape[1])))
        reward = shaped_reward(self.lt, reward, terminated)
        n = self.env.n_actions
        out, state = jax.vmap(
            lambda g, s, o, r, t: baselines.step(g, self.spec, s, o, r, t, n, self.learn)
        )(self.genomes, state, obs, reward, terminated)
        return jnp.argmax(out[:, :n], axis=-1), state

"""Policies: a learner from ``sfnn`` made into a batch of agents for one environment.

This is where observations are normalised and scaled, the reward the network sees is chosen,
output values become actions (the argmax; one output's value binned onto ordered actions under
``model.action_readout=ordinal``; or for continuous actions the values in [-1, 1] scaled to the
environment's bounds), and the population layout is decided: the fast path
keeps the population as the last axis (``sfnn.population``); ``impl="reference"`` vmaps the
readable single-agent ``sfnn.network.step`` and exists to check the fast path. The baselines
(``sfnn.baselines``: mlp, hebbian, rnn) are vmapped as they are; VSML (``sfnn.vsml``) has both
a population-last fast path and a vmapped reference.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from agents.config import TrainConfig
from envs.observations import normalise_obs
from envs.registry import EnvAdapter, random_play
from sfnn import Genome, SFNNSpec, Topology, baselines, init_genome, init_state, step, vsml
from sfnn.population import init_population_state, population_step, to_population_last


def ordinal_readout(cfg: TrainConfig, env: EnvAdapter) -> bool:
    """Whether ``env``'s discrete actions are read as one ordered scale (``model.action_readout=ordinal``)."""
    return cfg.model.kind == "sfnn" and cfg.model.action_readout == "ordinal" and not env.continuous


def sfnn_spec(cfg: TrainConfig, env: EnvAdapter) -> SFNNSpec:
    """The network for ``env``: one input neuron per observation dimension, one output per action.

    Under ``model.action_readout=ordinal`` a discrete environment gets a single output neuron
    instead, run as a one-dimensional continuous action (its value fed back, no one-hot) and
    binned by ``ordinal_actions``; its hidden neurons are as many as the one-per-action network's,
    so that the two readouts compare at equal size.
    """
    m = cfg.model
    topo = Topology.from_total(m.neurons, env.obs_size, env.n_actions)
    one_output = ordinal_readout(cfg, env)
    if one_output:
        if m.initial_action is not None:
            raise ValueError(f"model.action_readout=ordinal starts a lifetime from no previous action (the middle of "
                             f"the scale); set model.initial_action=null, not {m.initial_action}")
        topo = Topology(topo.n_in, topo.n_hidden, 1)
    return SFNNSpec(
        topo=topo,
        channels=m.channels,
        connect_prob=m.connect_prob,
        passes=m.passes,
        plasticity=m.plasticity,
        plastic_lr=m.plastic_lr,
        update=m.plastic_update,
        rescale=m.plastic_rescale,
        bound=m.plastic_max,
        learn_every=m.learn_every,
        propagation=m.propagation,
        prev_action=m.prev_action,
        action_feedback_from=m.action_feedback_from,
        initial_action=m.initial_action,
        action_readout="value" if m.action_readout == "ordinal" else m.action_readout,
        self_loops=m.self_loops,
        init_scale=m.init_scale,
        continuous=env.continuous or one_output,
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
    """Fix the learner's input and output sizes in ``cfg`` where its genome depends on them (a
    baseline's); a no-op for learners whose genome serves any environment."""
    fix = env_learner(cfg).resolve_sizes
    if fix is not None:
        fix(cfg)


def _fix_baseline_io(cfg: TrainConfig) -> None:
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
    return env_learner(cfg).template(cfg, jax.random.key(0) if key is None else key)


def make_policy(cfg: TrainConfig, env: EnvAdapter, genomes: Genome, learn: bool = True, impl: str = "fast"):
    """The batch policy of the configured learner for ``env``."""
    return env_learner(cfg).policy(cfg, env, genomes, learn, impl)


def population_last(cfg: TrainConfig, impl: str = "fast") -> bool:
    """Whether ``make_policy`` lays the population out as the last axis (SFNN and VSML fast paths),
    where XLA's CPU loops vectorise across agents; the baselines are vmapped, population first."""
    return impl == "fast" and env_learner(cfg).population_last


def scale_actions(values: jax.Array, low: tuple[float, ...], high: tuple[float, ...]) -> jax.Array:
    """Output values (..., d) read as actions in [-1, 1], mapped linearly onto [low, high] per
    dimension; clipped on both sides so that no output, however large, leaves the bounds."""
    lo, hi = jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32)
    u = jnp.clip(values, -1.0, 1.0)
    return jnp.clip(lo + (u + 1.0) * 0.5 * (hi - lo), lo, hi)


def ordinal_actions(value: jax.Array, n: int) -> jax.Array:
    """One output value per agent (B,) in [-1, 1] -> one of ``n`` ordered actions: [-1, 1] cut into
    ``n`` equal bins (n = 3: below -1/3 the first action, above 1/3 the last), so that a value and
    its negative pick mirrored actions and a saturated output (exactly ±1) picks an end."""
    return jnp.clip(jnp.floor((value + 1.0) * 0.5 * n), 0, n - 1).astype(jnp.int32)


def env_actions(env: EnvAdapter, values: jax.Array, ordinal: bool = False) -> jax.Array:
    """Output values (B, n_out) -> the environment's actions: argmax over the first
    ``n_actions`` (discrete), the first value binned onto the actions (discrete, ``ordinal``:
    ``ordinal_actions``), or the values scaled to the bounds (continuous)."""
    if ordinal and not env.continuous:
        return ordinal_actions(values[:, 0], env.n_actions)
    values = values[:, : env.n_actions]
    if env.continuous:
        return scale_actions(values, env.action_low, env.action_high)
    return jnp.argmax(values, axis=-1)


class ObsStats(NamedTuple):
    """Running observation statistics of B agents (Welford), kept within one lifetime."""

    count: jax.Array  # (B,)
    mean: jax.Array  # (B, d)
    m2: jax.Array  # (B, d) sum of squared deviations


class NormedState(NamedTuple):
    """A learner's state plus its running observation statistics (``lifetime.obs_norm=running``)."""

    net: Any
    obs: ObsStats


def update_obs_stats(stats: ObsStats, obs: jax.Array) -> ObsStats:
    count = stats.count + 1.0
    delta = obs - stats.mean
    mean = stats.mean + delta / count[:, None]
    return ObsStats(count, mean, stats.m2 + delta * (obs - mean))


class ObsPipeline:
    """Observation preprocessing of a batch policy, following ``lifetime.obs_norm``.

    ``running``: mean and variance of what this agent has seen so far in this lifetime
    (updated with the current observation first), so a lifetime starts knowing nothing, as
    its plastic state does. ``fixed``: the mean and variance of random play in the
    environment, computed once (``envs.registry.random_play``). Then ``obs_scale`` applies.
    """

    def __init__(self, lt, env: EnvAdapter):
        self.mode, self.scale = lt.obs_norm, lt.obs_scale
        if self.mode == "fixed":
            _, mean, std = random_play(env)
            self.mean, self.var = jnp.asarray(mean), jnp.asarray(std) ** 2

    def init(self, net_state: Any, b: int, d: int) -> Any:
        if self.mode != "running":
            return net_state
        zeros = jnp.zeros((b, d), jnp.float32)
        return NormedState(net_state, ObsStats(jnp.zeros((b,), jnp.float32), zeros, zeros))

    def __call__(self, state: Any, obs: jax.Array) -> tuple[Any, jax.Array, Any]:
        """(the learner's state, preprocessed obs, a function putting a new learner state back)."""
        if self.mode == "running":
            stats = update_obs_stats(state.obs, obs)
            obs = normalise_obs(obs, stats.mean, stats.m2 / stats.count[:, None])
            return state.net, obs * self.scale, lambda net: NormedState(net, stats)
        if self.mode == "fixed":
            obs = normalise_obs(obs, self.mean, self.var)
        return state, obs * self.scale, lambda net: net


def shaped_reward(lt, env: EnvAdapter, reward: jax.Array, terminated: jax.Array, obs: jax.Array) -> jax.Array:
    """The reward a learner is shown (never the one its fitness counts).

    The environment's, or ``lifetime.terminal_reward`` after a termination that is a failure
    (``env.termination``); where terminating means reaching the goal (Acrobot, MountainCar) or
    just the episode's end, the raw reward is shown. ``lifetime.energy_reward`` k adds k times
    the mechanical energy of the state just reached (``env.energy`` of ``obs`` (B, d), as the
    environment gives it: 0 at rest at the bottom), where the environment defines one: Acrobot
    and MountainCar say -1 on every step until the goal, so their raw reward cannot tell a
    learner whether its swinging is working; the energy it has pumped in can.
    """
    if lt.terminal_reward is not None and env.termination == "failure":
        reward = jnp.where(terminated, jnp.float32(lt.terminal_reward), reward)
    if lt.energy_reward is not None and env.energy is not None:
        reward = reward + jnp.float32(lt.energy_reward) * jax.vmap(env.energy)(obs)
    return reward


class BatchPolicy:
    """B agents with genomes (leading axis B): ``init(keys)`` and ``step(state, obs, reward, terminated)``."""

    def __init__(self, cfg: TrainConfig, env: EnvAdapter, genomes: Genome, learn: bool = True, impl: str = "fast"):
        self.spec = sfnn_spec(cfg, env)
        self.ordinal = ordinal_readout(cfg, env)
        self.env = env
        self.lt = cfg.lifetime
        self.learn = learn
        self.impl = impl
        self.pre = ObsPipeline(cfg.lifetime, env)
        # the genome is re-laid out once per lifetime, never inside the step loop
        self.genomes = to_population_last(genomes) if impl == "fast" else genomes

    def init(self, keys: jax.Array) -> Any:
        if self.impl == "fast":
            net = init_population_state(keys, self.spec)
        else:
            net = jax.vmap(lambda k: init_state(k, self.spec))(keys)
        return self.pre.init(net, keys.shape[0], self.env.obs_size)

    def step(self, state: Any, obs: jax.Array, reward: jax.Array, terminated: jax.Array):
        reward = shaped_reward(self.lt, self.env, reward, terminated, obs)
        state, obs, wrap = self.pre(state, obs)
        if self.impl == "fast":
            out, state = population_step(self.genomes, self.spec, state, obs.T, reward, self.learn)
            return env_actions(self.env, out.T, self.ordinal), wrap(state)
        out, state = jax.vmap(lambda g, s, o, r: step(g, self.spec, s, o, r, self.learn))(
            self.genomes, state, obs, reward
        )
        return env_actions(self.env, out, self.ordinal), wrap(state)


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
        self.pre = ObsPipeline(cfg.lifetime, env)

    def init(self, keys: jax.Array) -> Any:
        net = jax.vmap(lambda k: baselines.init_state(k, self.spec))(keys)
        return self.pre.init(net, keys.shape[0], self.env.obs_size)

    def step(self, state: Any, obs: jax.Array, reward: jax.Array, terminated: jax.Array):
        reward = shaped_reward(self.lt, self.env, reward, terminated, obs)
        state, obs, wrap = self.pre(state, obs)
        obs = jnp.pad(obs, ((0, 0), (0, self.spec.n_in - obs.shape[1])))
        n, cont = self.env.n_actions, self.env.continuous
        out, state = jax.vmap(
            lambda g, s, o, r, t: baselines.step(g, self.spec, s, o, r, t, n, self.learn, cont)
        )(self.genomes, state, obs, reward, terminated)
        return env_actions(self.env, out), wrap(state)


class VsmlPolicy:
    """B VSML agents (``sfnn.vsml``); same interface as ``BatchPolicy``.

    The network is [obs size, *vsml.hidden, action count] for this environment: the genome (the
    shared LSTM) fits any sizes, so no padding is needed. Every lifetime starts from random
    synapse states drawn from its wiring key (so ``lifetime.wiring`` decides whether lifetimes
    share them, as it does for SFNN wirings); ``learn=False`` keeps them there (sfnn/vsml.py).
    The fast path keeps the population last (``vsml.population_rl_step``); ``impl="reference"``
    vmaps the single-agent ``vsml.rl_step``.
    """

    def __init__(self, cfg: TrainConfig, env: EnvAdapter, genomes: Genome, learn: bool = True, impl: str = "fast"):
        v = cfg.vsml
        self.sizes = (env.obs_size, *v.hidden, env.n_actions)
        self.v, self.env, self.lt, self.learn, self.impl = v, env, cfg.lifetime, learn, impl
        self.pre = ObsPipeline(cfg.lifetime, env)
        # re-laid out once per lifetime, never inside the step loop
        self.genomes = to_population_last(genomes) if impl == "fast" else genomes

    def init(self, keys: jax.Array) -> Any:
        v = self.v
        net = jax.vmap(lambda k: vsml.init_rl_state(k, self.sizes, v.state_size, v.message_size, v.init_scale))(keys)
        if self.impl == "fast":
            net = to_population_last(net)
        return self.pre.init(net, keys.shape[0], self.env.obs_size)

    def step(self, state: Any, obs: jax.Array, reward: jax.Array, terminated: jax.Array):
        reward = shaped_reward(self.lt, self.env, reward, terminated, obs)
        state, obs, wrap = self.pre(state, obs)
        n, cont = self.env.n_actions, self.env.continuous
        if self.impl == "fast":
            out, state = vsml.population_rl_step(self.genomes, state, obs.T, reward, terminated, n, self.learn, cont)
            return env_actions(self.env, out.T), wrap(state)
        out, state = jax.vmap(lambda g, s, o, r, t: vsml.rl_step(g, s, o, r, t, n, self.learn, cont))(
            self.genomes, state, obs, reward, terminated
        )
        return env_actions(self.env, out), wrap(state)


class EnvLearner(NamedTuple):
    """One learner kind in environments: everything the environment wing asks of it.

    ``template(cfg, key)`` the genome; ``policy(cfg, env, genomes, learn, impl)`` a batch policy
    with ``init(keys)`` and ``step(state, obs, reward, terminated) -> (actions, state)``;
    ``population_last`` whether its fast path keeps the population as the last axis;
    ``sizes(cfg)`` its size fields for ``sfnn bench``; ``check_env(cfg, env)`` raises ValueError
    where it cannot be built for ``env``; ``resolve_sizes(cfg)`` fixes sizes its genome depends on.
    """

    template: Callable[[TrainConfig, jax.Array], Genome]
    policy: Callable[..., Any]
    population_last: bool
    sizes: Callable[[TrainConfig], dict[str, Any]]
    check_env: Optional[Callable[[TrainConfig, EnvAdapter], None]] = None
    resolve_sizes: Optional[Callable[[TrainConfig], None]] = None


def _sfnn_template(cfg: TrainConfig, key: jax.Array) -> Genome:
    m = cfg.model
    return init_genome(key, m.channels, neuron_bias=m.neuron_bias, evolve_plastic_lr=m.evolve_plastic_lr)


def _sfnn_sizes(cfg: TrainConfig) -> dict[str, Any]:
    m = cfg.model
    return {"neurons": m.neurons, "channels": m.channels, "plasticity": m.plasticity, "passes": m.passes,
            "learn_every": m.learn_every, "propagation": m.propagation, "episode_mode": cfg.lifetime.episode_mode}


def _check_sfnn(cfg: TrainConfig, env: EnvAdapter) -> None:
    sfnn_spec(cfg, env)  # raises ValueError where model.neurons cannot hold the environment's inputs and outputs


_BASELINE = EnvLearner(
    template=lambda cfg, key: baselines.init_params(key, baseline_spec(cfg)),
    policy=lambda cfg, env, genomes, learn, impl: BaselinePolicy(cfg, env, genomes, learn),
    population_last=False,
    sizes=lambda cfg: {"hidden": list(cfg.model.hidden)},
    resolve_sizes=_fix_baseline_io,
)

# model.kind -> its learner in environments: a new kind is one entry here and its module in sfnn/
ENV_LEARNERS: dict[str, EnvLearner] = {
    "sfnn": EnvLearner(
        template=_sfnn_template,
        policy=BatchPolicy,
        population_last=True,
        sizes=_sfnn_sizes,
        check_env=_check_sfnn,
    ),
    "vsml": EnvLearner(  # one shared LSTM: serves every environment, like an SFNN genome
        template=lambda cfg, key: vsml.init_genome(key, cfg.vsml.state_size, cfg.vsml.message_size, cfg.vsml.genome_scale),
        policy=VsmlPolicy,
        population_last=True,
        sizes=lambda cfg: {"hidden": list(cfg.vsml.hidden), "state_size": cfg.vsml.state_size,
                           "message_size": cfg.vsml.message_size},
    ),
    **{kind: _BASELINE for kind in baselines.BASELINES},
}


def env_learner(cfg: TrainConfig) -> EnvLearner:
    """The configured ``model.kind``'s entry of ``ENV_LEARNERS``."""
    return ENV_LEARNERS[cfg.model.kind]

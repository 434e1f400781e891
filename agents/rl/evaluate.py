"""Lifetime evaluation of genomes: which wiring and which environment seeds each lifetime gets,
and how per-episode returns become one fitness number per genome.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from agents.config import ConfigError, TrainConfig
from agents.cpu import ACCELERATOR_LANES, cpu_layout, padded_batch
from agents.fitness import combine_envs, env_weights, lifetime_fitness, over_lifetimes
from agents.rl.policy import env_learner, make_policy, population_last
from envs.lifetime import run_lifetimes
from envs.registry import EnvAdapter, estimate_return_range, make_env
from sfnn import Genome


@dataclass(frozen=True)
class EnvTask:
    """One environment of a run, with the return range its fitness is normalised by."""

    env: EnvAdapter
    return_range: tuple[float, float] | None
    range_source: str = "built-in"  # built-in | config | estimated (random policy) | none


def env_tasks(cfg: TrainConfig, names: list[str] | None = None) -> list[EnvTask]:
    """Adapters for the configured environments; checks that each can be scored and wired.

    Return ranges for the normalised fitness come from ``fitness.ranges``, else the built-in
    table, else an estimate from random play (stated in the CLI output and summary.json).
    """
    tasks = []
    for name in names if names is not None else cfg.envs:
        env = make_env(name, cfg.lifetime.max_steps)
        if name in cfg.fitness.ranges:
            rng, source = tuple(cfg.fitness.ranges[name]), "config"
        elif env.return_range is not None:
            rng, source = env.return_range, "built-in"
        elif cfg.fitness.kind == "normalized_weighted":
            rng, source = estimate_return_range(env), "estimated"
        else:
            rng, source = None, "none"
        try:
            check = env_learner(cfg).check_env
            if check is not None:
                check(cfg, env)
        except ValueError as e:
            raise ConfigError(f"{name}: {e}") from None
        tasks.append(EnvTask(env, rng, source))
    return tasks


def padding_lanes(cfg: TrainConfig) -> int:
    """Lifetime batches are padded to a multiple of this (and to at least ``agents.cpu.MIN_BATCH``):
    ``parallel.lanes``, else the float32 lanes of this CPU's vectors (``agents.cpu``: 16 on
    AVX-512, 8 on AVX2, 4 on SSE/NEON), else 16 on an accelerator."""
    if cfg.parallel.lanes is not None:
        return cfg.parallel.lanes
    return cpu_layout().lanes if jax.default_backend() == "cpu" else ACCELERATOR_LANES


def lifetime_returns(
    cfg: TrainConfig,
    task: EnvTask,
    genomes: Genome,
    wiring_keys: jax.Array,
    env_keys: jax.Array,
    learn: bool = True,
    impl: str = "fast",
    learn_windows: int | None = None,
) -> jax.Array:
    """Per-episode returns (B, episodes) of B lifetimes; genomes have a leading axis B.
    ``learn_windows`` = K: learning on for the first K windows only (``envs.lifetime.run_lifetimes``).

    With the population as the last axis (``population_last``), a batch that is not a multiple
    of ``padding_lanes`` lifetimes, or shorter than 16, is padded with copies of the last one,
    whose returns are dropped: XLA's CPU loops run whole vectors of agents and the rest as scalar
    code, 4-8× slower per agent (``agents.cpu``, docs/PERFORMANCE.md). Lifetimes never interact,
    so the returns are the same bits either way (tests/test_parallel.py).
    """
    b = env_keys.shape[0]
    extra = padded_batch(b, padding_lanes(cfg)) - b
    if extra and population_last(cfg, impl):
        pad = lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], extra, axis=0)])  # noqa: E731
        genomes, wiring_keys, env_keys = jax.tree.map(pad, (genomes, wiring_keys, env_keys))
    policy = make_policy(cfg, task.env, genomes, learn=learn, impl=impl)
    frozen = None if learn_windows is None else make_policy(cfg, task.env, genomes, learn=False, impl=impl).step
    res = run_lifetimes(task.env, policy.step, policy.init(wiring_keys), env_keys, cfg.lifetime.episodes,
                        mode=cfg.lifetime.episode_mode, frozen_step=frozen, learn_windows=learn_windows)
    return res.returns[:b]


def lifetime_keys(cfg: TrainConfig, run_key: jax.Array, gen_key: jax.Array, member: jax.Array):
    """(wiring keys, env keys), each (lifetimes,), following ``lifetime.wiring``.

    fresh: every member and lifetime gets its own wiring (the authors' setting);
    shared: all members of a generation meet the same wirings and seeds (common random numbers);
    fixed: one set of wirings for the whole run, so only the environment seeds vary.
    """
    n = cfg.lifetime.lifetimes
    member_key = jax.random.fold_in(gen_key, member)
    scheme = cfg.lifetime.wiring
    if scheme == "shared":
        base = jax.random.split(jax.random.fold_in(gen_key, 2**30), 2)
        return jax.random.split(base[0], n), jax.random.split(base[1], n)
    env_keys = jax.random.split(jax.random.fold_in(member_key, 1), n)
    if scheme == "fixed":
        return fixed_wiring_keys(run_key, n), env_keys
    return jax.random.split(jax.random.fold_in(member_key, 0), n), env_keys


def fixed_wiring_keys(env_run_key: jax.Array, n: int) -> jax.Array:
    """The (n,) wiring keys of a ``lifetime.wiring=fixed`` run in one environment, from the run key
    folded with the environment's index: one place, so that evaluation and rendering can live
    the wirings training used."""
    return jax.random.split(jax.random.fold_in(env_run_key, 7), n)


def own_wiring_key(cfg: TrainConfig, env_index: int) -> jax.Array:
    """The wiring key of a ``lifetime.wiring=fixed`` run's (first) lifetime in ``cfg.envs[env_index]``,
    as training draws it: what rendering and the run's figures use to show the network it evolved on."""
    return fixed_wiring_keys(jax.random.fold_in(jax.random.key(cfg.seed), env_index), cfg.lifetime.lifetimes)[0]


def population_fitness(
    cfg: TrainConfig,
    tasks: list[EnvTask],
    genomes: Genome,
    members: jax.Array,
    run_key: jax.Array,
    gen_key: jax.Array,
    learn: bool = True,
    impl: str = "fast",
    learn_windows: int | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Fitness (P,) of P genomes and their returns per environment (P, lifetimes, episodes).

    Each member's lifetimes depend only on (run, generation, member index), never on the
    rest of the batch, so sharding or chunking the population cannot change a result.
    """
    n_life = cfg.lifetime.lifetimes
    pop = members.shape[0]
    flat = jax.tree.map(lambda x: jnp.repeat(x, n_life, axis=0), genomes)
    per_env, returns = [], {}
    for i, task in enumerate(tasks):
        wk, ek = jax.vmap(
            lambda m: lifetime_keys(cfg, jax.random.fold_in(run_key, i), jax.random.fold_in(gen_key, i), m)
        )(members)
        rets = lifetime_returns(cfg, task, flat, wk.reshape(-1), ek.reshape(-1), learn, impl, learn_windows)
        rets = rets.reshape(pop, n_life, -1)
        fit = lifetime_fitness(rets, cfg.fitness.kind, task.return_range)  # (P, lifetimes)
        per_env.append(over_lifetimes(fit, cfg.fitness.worst_fraction))
        returns[task.env.name] = rets
    return combine_task_fitness(cfg, tasks, per_env), returns


def combine_task_fitness(cfg: TrainConfig, tasks: list[EnvTask], per_env: list[jax.Array]) -> jax.Array:
    """One fitness from each task's (same-shaped) fitness, combined as ``cfg.fitness`` says
    (``combine`` and ``weights``): the one place training and the final evaluation share, so
    neither can combine environments differently from the other."""
    weights = env_weights(cfg.fitness.weights, [t.env.name for t in tasks])
    return combine_envs(jnp.stack(per_env, axis=-1), cfg.fitness.combine, weights)

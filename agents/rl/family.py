"""The environment family (``agents.family.Family``): genomes from ``agents.rl.policy``, fitness
from lifetimes (``agents.rl.evaluate``), the final genome chosen on fresh wirings
(``agents.rl.finish``), meta-tests in any environment, and the agent-steps benchmark."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from agents.config import ConfigError, TrainConfig
from agents.family import Family
from agents.rl.bench import bench_envs
from agents.rl.evaluate import EnvTask, env_tasks, population_fitness
from agents.rl.finish import finish, score_genomes
from agents.rl.metatest import meta_test_envs
from agents.rl.policy import genome_template, resolve_sizes
from agents.trainer import sharded_evaluator


def check(cfg: TrainConfig, announce: bool) -> None:
    """Every environment builds with this learner (its return range known or estimated now, and
    said so when ``announce``); a baseline's input and output sizes are fixed into the config.
    ``lifetime.energy_reward`` with no environment that has an energy would change nothing, so it
    is refused rather than ignored."""
    tasks = env_tasks(cfg)
    if cfg.lifetime.energy_reward is not None and all(t.env.energy is None for t in tasks):
        from envs.energy import ENERGIES

        raise ConfigError(f"lifetime.energy_reward={cfg.lifetime.energy_reward:g} would change nothing: none of "
                          f"{', '.join(t.env.name for t in tasks)} has a mechanical energy (those that do: "
                          f"{', '.join(ENERGIES)})")
    for task in tasks:
        if task.range_source == "estimated" and announce:
            lo, hi = task.return_range
            print(f"{task.env.name}: return range for fitness estimated as [{lo:.1f}, {hi:.1f}] "
                  "(random-policy mean, best random episode); set fitness.ranges to fix it")
    resolve_sizes(cfg)  # a baseline's genome shape is saved with the run


def evaluator(cfg: TrainConfig, tasks: list[EnvTask], run_key: jax.Array, devices: list[jax.Device]) -> Callable:
    """Fitness from each member's lifetimes, and returns per environment for the log."""
    per_member = sharded_evaluator(cfg, devices, lambda pop, members, k_eval: population_fitness(
        cfg, tasks, pop, members, run_key, k_eval))

    def evaluate(pop: Any, members: jax.Array, gen: jax.Array, k_eval: jax.Array, data: Any):
        fitness, returns = per_member(pop, members, k_eval)
        metrics = {}
        for name, rets in returns.items():  # rets: (pop, lifetimes, episodes)
            metrics[f"return/{name}"] = jnp.mean(rets)
            metrics[f"best_return/{name}"] = jnp.max(jnp.mean(rets, axis=(1, 2)))
            metrics[f"episode_returns/{name}"] = jnp.mean(rets, axis=(0, 1))
        return fitness, metrics

    return evaluate


FAMILY = Family(
    name="rl",
    template=genome_template,
    check=check,
    tasks=env_tasks,
    data=lambda tasks: (),
    evaluator=evaluator,
    gradient=lambda cfg, tasks, run_key: None,
    finish=finish,
    score=score_genomes,
    meta_test=meta_test_envs,
    bench=bench_envs,
)

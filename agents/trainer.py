"""The evolution-strategy trainer: one jitted function per generation (ask → evaluate → tell).

A generation's randomness is ``fold_in(run_key, generation)``, so the whole run is a pure
function of (seed, config) and a resumed run repeats an uninterrupted one exactly. evosax
minimises; ``evosax_fitness`` is the one place where the sign is flipped.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from evosax.algorithms import distribution_based_algorithms
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from agents.config import ConfigError, TrainConfig
from agents.evaluate import EnvTask, env_tasks, population_fitness
from agents.policy import genome_template
from sfnn import Genome, genome_size

UNSUPPORTED = {"RandomSearch", "SV_CMA_ES", "SV_Open_ES", "LES", "CMAAnchoredLES", "EvoTF_ES"}


def evosax_fitness(fitness: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Maximised fitness -> what evosax minimises; non-finite values become the worst.

    Returns (values for evosax, count of non-finite members). A non-finite member is given
    a value just worse than the worst finite one, so rank-based updates treat it as last.
    """
    finite = jnp.isfinite(fitness)
    worst = jnp.min(jnp.where(finite, fitness, jnp.inf))
    worst = jnp.where(jnp.isfinite(worst), worst, 0.0)
    clean = jnp.where(finite, fitness, worst - 1.0)
    return -clean, jnp.sum(~finite)


def make_strategy(name: str, population: int, template: Genome, sigma: float):
    """An evosax distribution-based algorithm by name, with its initial scale set to ``sigma``."""
    if name not in distribution_based_algorithms or name in UNSUPPORTED:
        ok = ", ".join(sorted(set(distribution_based_algorithms) - UNSUPPORTED))
        raise ConfigError(f"strategy.name={name!r} is not supported; choose one of {ok}")
    cls = distribution_based_algorithms[name]
    kwargs: dict[str, Any] = {}
    if "std_schedule" in inspect.signature(cls.__init__).parameters:
        kwargs["std_schedule"] = optax.constant_schedule(sigma)
    es = cls(population_size=population, solution=template, **kwargs)
    params = es.default_params
    if hasattr(params, "std_init"):
        params = params.replace(std_init=jnp.asarray(sigma, jnp.float32))
    return es, params


def local_devices(requested: int) -> list[jax.Device]:
    devs = jax.local_devices()
    n = len(devs) if requested == 0 else requested
    if n > len(devs):
        raise ConfigError(
            f"parallel.devices={requested} but only {len(devs)} local device(s) exist; on CPU set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={requested}"
        )
    return devs[:n]


@dataclass
class Trainer:
    cfg: TrainConfig
    tasks: list[EnvTask]
    es: Any
    es_params: Any
    template: Genome
    run_key: jax.Array
    devices: list[jax.Device]
    generation: Callable[[Any, jax.Array], tuple[Any, dict[str, jax.Array]]]

    @classmethod
    def build(cls, cfg: TrainConfig) -> "Trainer":
        tasks = env_tasks(cfg)
        template = genome_template(cfg)
        es, es_params = make_strategy(cfg.strategy.name, cfg.strategy.population, template, cfg.strategy.sigma_init)
        run_key = jax.random.key(cfg.seed)
        devices = local_devices(cfg.parallel.devices)
        if cfg.strategy.population % len(devices):
            raise ConfigError(
                f"strategy.population={cfg.strategy.population} must be divisible by parallel.devices={len(devices)}"
            )
        gen_fn = _generation_fn(cfg, tasks, es, es_params, run_key, devices)
        return cls(cfg, tasks, es, es_params, template, run_key, devices, gen_fn)

    @property
    def num_params(self) -> int:
        return genome_size(self.template)

    def init_state(self) -> Any:
        """ES state at generation 0: the search starts from a random genome of the template's scale."""
        k_init, k_mean = jax.random.split(jax.random.fold_in(self.run_key, 2**31 - 1))
        mean = genome_template(self.cfg, k_mean)
        return self.es.init(k_init, mean, self.es_params)

    def unravel(self, flat: jax.Array) -> Genome:
        return self.es._unravel_solution(flat)

    def mean_genome(self, es_state: Any) -> Genome:
        return self.es.get_mean(es_state)

    def best_genome(self, es_state: Any) -> Genome:
        return self.unravel(es_state.best_solution)


def _generation_fn(cfg, tasks, es, es_params, run_key, devices):
    pop_size = cfg.strategy.population
    shard = None
    if len(devices) > 1:
        mesh = Mesh(np.array(devices), ("pop",))
        shard = NamedSharding(mesh, PartitionSpec("pop"))

    def generation(es_state, gen):
        gen_key = jax.random.fold_in(run_key, gen)
        k_ask, k_eval, k_tell = jax.random.split(gen_key, 3)
        pop, es_state = es.ask(k_ask, es_state, es_params)
        members = jnp.arange(pop_size)
        if shard is not None:
            pop = jax.lax.with_sharding_constraint(pop, shard)
            members = jax.lax.with_sharding_constraint(members, shard)
        fitness, returns = population_fitness(cfg, tasks, pop, members, run_key, k_eval)
        values, n_bad = evosax_fitness(fitness)
        es_state, _ = es.tell(k_tell, pop, values, es_state, es_params)
        finite_fit = jnp.where(jnp.isfinite(fitness), fitness, jnp.nan)
        metrics = {
            "best_fitness": jnp.nanmax(finite_fit),
            "mean_fitness": jnp.nanmean(finite_fit),
            "std_fitness": jnp.nanstd(finite_fit),
            "best_ever_fitness": -es_state.best_fitness,
            "nonfinite": n_bad,
        }
        for name, rets in returns.items():  # rets: (pop, lifetimes, episodes)
            metrics[f"return/{name}"] = jnp.mean(rets)
            metrics[f"best_return/{name}"] = jnp.max(jnp.mean(rets, axis=(1, 2)))
            metrics[f"episode_returns/{name}"] = jnp.mean(rets, axis=(0, 1))
        return es_state, metrics

    return jax.jit(generation)


def metrics_to_host(metrics: dict[str, jax.Array]) -> dict[str, Any]:
    """Device metrics -> JSON-ready Python values (NaN becomes None)."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        a = np.asarray(v)
        if a.ndim == 0:
            x = a.item()
            out[k] = None if isinstance(x, float) and not np.isfinite(x) else x
        else:
            out[k] = [None if not np.isfinite(x) else float(x) for x in a.tolist()]
    return out

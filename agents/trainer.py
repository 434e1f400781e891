"""The evolution-strategy trainer: one jitted function per generation (ask → evaluate → tell).

A generation's randomness is ``fold_in(run_key, generation)``, so the whole run is a pure
function of (seed, config) and a resumed run repeats an uninterrupted one exactly. evosax
minimises; ``evosax_fitness`` is the one place where the sign is flipped.

The learner decides only how a population is evaluated: SFNN lifetimes in environments
(``agents.rl.evaluate``) or inner learning runs on dataset tasks (``agents.supervised.meta``, for
every learner of ``agents.supervised.learners``). ``supervised.meta=gradient`` replaces ask/tell by an
Adam step on the learner's meta-gradient, behind the same ``generation(state, gen)`` so that
runs, checkpoints and resume are shared.
"""

from __future__ import annotations

import functools
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from evosax.algorithms import distribution_based_algorithms
from evosax.core import fitness_shaping as shaping
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from agents.config import ConfigError, StrategyConfig, TrainConfig, check_strategy, default_shaping, is_supervised
from agents.cpu import cpu_layout
from agents.devices import cpu_device_count, splittable_members
from agents.family import family
from sfnn import Genome, genome_size

# strategy.fitness_shaping: what a gradient-style algorithm's update sees of the (minimised) fitness
SHAPING = {
    "centered_rank": shaping.centered_rank_fitness_shaping_fn,  # ranks mapped to [-0.5, 0.5]
    "standardize": shaping.standardize_fitness_shaping_fn,  # z-scores
    "normalize": shaping.normalize_fitness_shaping_fn,  # min-max to [0, 1]
    "raw": shaping.identity_fitness_shaping_fn,
}


def _ordinal_ranks(fitness: jax.Array) -> jax.Array:
    """0 for the best (smallest) value up; equal values ranked in population order, NaN last."""
    rankable = jnp.where(jnp.isnan(fitness), jnp.inf, fitness)
    return jax.scipy.stats.rankdata(rankable, method="ordinal", axis=-1).astype(jnp.int32) - 1


def ordinal_weights_fitness_shaping_fn(population: Any, fitness: jax.Array, state: Any, params: Any) -> jax.Array:
    """CMA-ES-style recombination weights, one rank per member even where fitness ties.

    evosax >= 0.2 gives tied members their average rank, so a population of equal fitness
    (every member scoring zero under a product of environments) is recombined with one small
    weight for all: the step is a mean of the whole population, its evolution path shrinks and
    CMA-ES's sigma falls by ~5 % a generation until the search stops. evosax 0.1.4 (the
    authors' pin) sorted with ``argsort``: tied members took consecutive ranks in population
    order, an unbiased random step, so a plateau is searched at a steady sigma.
    """
    weights = params.weights[..., _ordinal_ranks(fitness)]
    all_failed = jnp.all(jnp.isnan(fitness), axis=-1, keepdims=True)
    return jnp.where(all_failed, jnp.zeros_like(weights), weights)


def ordinal_centered_rank_fitness_shaping_fn(population: Any, fitness: jax.Array, state: Any, params: Any) -> jax.Array:
    """Centered ranks in [-0.5, 0.5] with ties ranked in population order (see above)."""
    return _ordinal_ranks(fitness) / (fitness.shape[-1] - 1) - 0.5


# strategy.ties=ordinal: the rank-based shaping each algorithm would use (agents.config's
# RANK_BASED_SHAPING, by the same names), ties ranked one by one
ORDINAL_SHAPING = {
    "weights": ordinal_weights_fitness_shaping_fn,
    "centered_rank": ordinal_centered_rank_fitness_shaping_fn,
}


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


def make_strategy(name: str, population: int, template: Genome, sigma: float, **options: Any):
    """An evosax distribution-based algorithm by name, with its initial scale set to ``sigma``.

    ``options`` are the other ``strategy`` fields (``fitness_shaping``, ``optimizer``, ``lr``,
    ``ties``); left out or null, the algorithm keeps its own.
    """
    s = StrategyConfig(name=name, population=population, sigma_init=sigma, **options)
    check_strategy(s)
    cls = distribution_based_algorithms[name]
    kwargs: dict[str, Any] = {}
    if "std_schedule" in inspect.signature(cls.__init__).parameters:
        kwargs["std_schedule"] = optax.constant_schedule(sigma)
    if s.fitness_shaping is not None:
        kwargs["fitness_shaping_fn"] = SHAPING[s.fitness_shaping]
    if s.ties == "ordinal":
        kwargs["fitness_shaping_fn"] = ORDINAL_SHAPING[s.fitness_shaping or default_shaping(cls)]
    if s.lr is not None:
        kwargs["optimizer"] = {"sgd": optax.sgd, "adam": optax.adam}[s.optimizer or "sgd"](s.lr)
    es = cls(population_size=population, solution=template, **kwargs)
    params = es.default_params
    if hasattr(params, "std_init"):
        params = params.replace(std_init=jnp.asarray(sigma, jnp.float32))
    return es, params


def template_genome(cfg: TrainConfig, key: jax.Array | None = None) -> Any:
    """A genome of the configured learner (``model.kind``); with ``key``, a random starting one."""
    return family(cfg).template(cfg, key)


def read_genome(path: Path, cfg: TrainConfig, which: str = "best") -> Genome:
    """The genome ``which`` of a run's ``genomes.npz`` (or a directory holding one), checked
    against this config's genome: a start or a meta-test must not silently reinterpret values."""
    path = path / "genomes.npz" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            flat = data[which]
    except Exception as e:
        raise ValueError(f"{path} is unreadable ({type(e).__name__})") from None
    ref, unravel = ravel_pytree(template_genome(cfg))
    if flat.shape != ref.shape or not np.all(np.isfinite(flat)):
        raise ValueError(f"{path} holds a genome of {flat.size} values, expected {ref.size} finite ones for this config")
    return unravel(jnp.asarray(flat, jnp.float32))


def start_genome_from(cfg: TrainConfig) -> Genome:
    """``strategy.init_from``'s best genome, or a ConfigError that says why it cannot start this run."""
    try:
        return read_genome(Path(cfg.strategy.init_from), cfg)
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(f"strategy.init_from={cfg.strategy.init_from!r}: {e}") from None


def local_devices(requested: int) -> list[jax.Device]:
    devs = jax.local_devices()
    n = len(devs) if requested == 0 else requested
    if n > len(devs):
        raise ConfigError(
            f"parallel.devices={requested} but only {len(devs)} local device(s) exist (on a CPU the sfnn "
            f"command makes up to one per core, {os.cpu_count()} here; from Python, set XLA_FLAGS="
            f"--xla_force_host_platform_device_count={requested} before JAX starts)"
        )
    return devs[:n]


def default_devices(cfg: TrainConfig) -> int:
    """``parallel.devices``, with null resolved: on a CPU, ``cpu_device_count`` of the
    ``splittable_members`` over the CPU devices there are (the command line made one per core
    if they would be used, ``agents.devices``); one elsewhere."""
    if cfg.parallel.devices is not None:
        return cfg.parallel.devices
    local = jax.local_devices()
    return cpu_device_count(splittable_members(cfg), len(local)) if local[0].platform == "cpu" else 1


def population_devices(cfg: TrainConfig) -> list[jax.Device]:
    """The devices the population is split over: the first ``parallel.devices`` of every process.

    One process: its local devices. Several: every process lists the same global devices in
    the same order (by process, then local order), so all of them build the same mesh.
    """
    devices = local_devices(default_devices(cfg))
    procs = jax.process_count()
    if procs > 1:
        per: dict[int, list[jax.Device]] = {}
        for d in jax.devices():
            per.setdefault(d.process_index, []).append(d)
        fewest = min(len(ds) for ds in per.values())
        n = fewest if cfg.parallel.devices == 0 else len(devices)
        if fewest < n:
            raise ConfigError(f"parallel.devices={n} but some process has only {fewest} device(s)")
        devices = [d for p in sorted(per) for d in per[p][:n]]
    uses_es = not is_supervised(cfg) or cfg.supervised.meta == "es"
    if uses_es and cfg.strategy.population % len(devices):
        n = len(devices)
        where = f"parallel.devices={n // procs} on each of {procs} processes" if procs > 1 else f"parallel.devices={n}"
        raise ConfigError(f"strategy.population={cfg.strategy.population} must be divisible by the {n} devices "
                          f"it is split over ({where})")
    return devices


@dataclass
class Trainer:
    """What a run needs from its learner: a starting state, a generation step, and the genomes in a state.

    ``tasks`` are the SFNN environments (``EnvTask``) or the datasets (``TaskSource``) of a
    supervised learner; ``es`` is None for gradient meta-training, whose state holds the genome itself.
    """

    cfg: TrainConfig
    tasks: list[Any]
    es: Any
    es_params: Any
    template: Genome
    run_key: jax.Array
    devices: list[jax.Device]
    generation: Callable[[Any, jax.Array], tuple[Any, dict[str, jax.Array]]]
    gradient_init: Callable[[TrainConfig, Genome], Any] | None = None  # the meta-gradient's state from a genome

    @classmethod
    def build(cls, cfg: TrainConfig) -> "Trainer":
        single_threaded_blas()
        fam = family(cfg)
        template = fam.template(cfg, None)
        run_key = jax.random.key(cfg.seed)
        devices = population_devices(cfg)
        tasks = fam.tasks(cfg)
        data = fam.data(tasks)
        gradient = fam.gradient(cfg, tasks, run_key)
        if gradient is not None:
            grad_step, grad_init = gradient
            return cls(cfg, tasks, None, None, template, run_key, devices,
                       lambda s, g: grad_step(s, g, data), grad_init)  # fmt: skip
        evaluate = fam.evaluator(cfg, tasks, run_key, devices)
        st = cfg.strategy
        es, es_params = make_strategy(st.name, st.population, template, st.sigma_init,
                                      fitness_shaping=st.fitness_shaping, optimizer=st.optimizer, lr=st.lr,
                                      ties=st.ties)
        step = _generation_fn(cfg.strategy.population, es, es_params, run_key, devices, evaluate)
        return cls(cfg, tasks, es, es_params, template, run_key, devices, lambda s, g: step(s, g, data))

    @property
    def num_params(self) -> int:
        return genome_size(self.template)

    def start_genome(self) -> Genome:
        """The genome the search starts from: random, of the template's scale, keyed by the seed;
        or all zeros (``strategy.init_mean=zeros``, the authors' start: evosax's default mean);
        or another run's best genome (``strategy.init_from``: a warm start, e.g. from a solved task)."""
        if self.cfg.strategy.init_from is not None:
            return start_genome_from(self.cfg)
        genome = template_genome(self.cfg, self._start_keys()[1])
        if self.cfg.strategy.init_mean == "zeros":
            return jax.tree.map(jnp.zeros_like, genome)
        return genome

    def _start_keys(self) -> tuple[jax.Array, jax.Array]:
        k_init, k_mean = jax.random.split(jax.random.fold_in(self.run_key, 2**31 - 1))
        return k_init, k_mean

    def init_state(self) -> Any:
        """State at generation 0: ES state around the start genome, or the meta-gradient state."""
        mean = self.start_genome()
        if self.es is None:
            state = self.gradient_init(self.cfg, mean)
        else:
            state = self.es.init(self._start_keys()[0], mean, self.es_params)
        # strong types, as every later (and every restored) state has: else generation 1 compiles again
        return jax.tree.map(_strong, state)

    def unravel(self, flat: jax.Array) -> Genome:
        return self.es._unravel_solution(flat)

    def mean_genome(self, state: Any) -> Genome:
        """The search's current genome: the ES mean, or the meta-gradient's genome."""
        return state["genome"] if self.es is None else self.es.get_mean(state)

    def best_genome(self, state: Any) -> Genome:
        """The best single evaluation so far (ES), or the genome of the best generation (gradient)."""
        return state["best_genome"] if self.es is None else self.unravel(state.best_solution)


@functools.cache
def single_threaded_blas() -> None:
    """Run LAPACK and BLAS (CMA-ES's eigendecomposition, through SciPy's OpenBLAS) on one thread.

    OpenBLAS divides an eigendecomposition's work by its thread count, which is the number of
    cores it sees, and rounds differently for each: the same run on one and on two cores had
    equal first generations and different ones from the second on (docs/RELIABILITY.md). On one
    thread a run's numbers depend on its config alone. The ES's matrices are small (the genome's
    size squared), so nothing measurable is lost; it applies to the whole process.
    """
    import scipy.linalg  # noqa: F401 - loads the OpenBLAS whose LAPACK jaxlib's CPU kernels call
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


# XLA CPU options for the population evaluation alone (docs/PERFORMANCE.md): 512-bit vectors
# make the lifetime loop 1.1-1.5× faster on AVX-512 machines (other CPUs and backends ignore
# the option). The ES ask/tell are compiled apart with XLA's defaults, so an option that suits
# the many small fused loops of a lifetime can never slow the ES's linear algebra.
EVAL_COMPILER_OPTIONS = {"xla_cpu_prefer_vector_width": 512}


def member_chunk(chunk: int | None, platform: str) -> int:
    """Members a device evaluates at once: ``parallel.chunk``, or by default on a CPU the chunk
    of its vector ISA's layout (``agents.cpu``; throughput peaks near 64 members, docs/PERFORMANCE.md,
    population sweep), and every member at once on an accelerator, which needs thousands of
    agents in flight; 0 = all."""
    if chunk is not None:
        return chunk
    return cpu_layout().chunk if platform == "cpu" else 0


def _mesh(devices: list[jax.Device]) -> Mesh | None:
    """The population's device mesh (axis ``pop``), or None on one device."""
    return Mesh(np.array(devices), ("pop",)) if len(devices) > 1 else None


def sharded_evaluator(cfg: TrainConfig, devices: list[jax.Device], member_fitness: Callable) -> Callable:
    """``member_fitness(pop, members, k_eval)`` (outputs with a leading member axis) run over
    ``devices`` and ``parallel.chunk`` members at a time, with the same numbers as one call.

    With several devices the population is split over them with ``shard_map``: each device
    scores its own members (which depend only on their indices), and the results are gathered
    before any reduction, so every number equals the one-device run.
    """

    def per_member(pop, members, k_eval):
        """The members of one device, ``parallel.chunk`` at a time when that divides them: a
        member's score depends only on its index, so chunking changes no result, and a
        chunk's working set stays in cache (docs/PERFORMANCE.md, population sweep)."""
        n, c = members.shape[0], member_chunk(cfg.parallel.chunk, devices[0].platform)
        if c == 0 or n <= c or n % c:
            return member_fitness(pop, members, k_eval)
        split = lambda x: x.reshape(n // c, c, *x.shape[1:])  # noqa: E731
        out = jax.lax.map(lambda xs: member_fitness(xs[0], xs[1], k_eval), (jax.tree.map(split, pop), split(members)))
        return jax.tree.map(lambda x: x.reshape(n, *x.shape[2:]), out)

    mesh = _mesh(devices)
    if mesh is None:
        return per_member
    replicated = NamedSharding(mesh, PartitionSpec())
    sharded = jax.shard_map(
        per_member, mesh=mesh, in_specs=(PartitionSpec("pop"), PartitionSpec("pop"), PartitionSpec()),
        out_specs=PartitionSpec("pop"), check_vma=False,
    )
    return lambda pop, members, k_eval: jax.lax.with_sharding_constraint(sharded(pop, members, k_eval), replicated)


def _generation_fn(pop_size, es, es_params, run_key, devices, evaluate):
    """One generation (es_state, gen, data) -> (es_state, metrics) as three compiled programs:
    ask, evaluate (with ``EVAL_COMPILER_OPTIONS``) and tell. ``data`` are the tasks' arrays,
    passed as an argument so large datasets are not compiled in as constants."""

    @jax.jit
    def ask(es_state, gen):
        k_ask, k_eval, k_tell = jax.random.split(jax.random.fold_in(run_key, gen), 3)
        pop, es_state = es.ask(k_ask, es_state, es_params)
        return pop, es_state, k_eval, k_tell

    evaluate_all = jax.jit(
        lambda pop, gen, k_eval, data: evaluate(pop, jnp.arange(pop_size), gen, k_eval, data),
        compiler_options=EVAL_COMPILER_OPTIONS,
    )

    @jax.jit
    def tell(es_state, pop, fitness, extra, k_tell):
        values, n_bad = evosax_fitness(fitness)
        es_state, _ = es.tell(k_tell, pop, values, es_state, es_params)
        finite_fit = jnp.where(jnp.isfinite(fitness), fitness, jnp.nan)
        metrics = {
            "best_fitness": jnp.nanmax(finite_fit),
            "mean_fitness": jnp.nanmean(finite_fit),
            "std_fitness": jnp.nanstd(finite_fit),
            "best_ever_fitness": -es_state.best_fitness,
            "nonfinite": n_bad,
            # the search's step size (CMA-ES's sigma; averaged where it is per dimension): a run
            # that stalls with sigma collapsed is told apart from one that wanders with it large
            **({"search_std": jnp.mean(es_state.std)} if hasattr(es_state, "std") else {}),
            **extra,
        }
        return es_state, metrics

    mesh = _mesh(devices)  # one placement for the ES state throughout, so nothing recompiles
    place = None if mesh is None else NamedSharding(mesh, PartitionSpec())

    def generation(es_state, gen, data):
        if place is not None:
            es_state = jax.tree.map(lambda x: replicate(x, place), es_state)
        pop, es_state, k_eval, k_tell = ask(es_state, gen)
        fitness, extra = evaluate_all(pop, gen, k_eval, data)
        return tell(es_state, pop, fitness, extra, k_tell)

    return generation


def replicate(x: Any, place: NamedSharding) -> jax.Array:
    """``x`` copied whole onto every device of ``place``'s mesh (a no-op if it is there already).

    Built from each process's own copy, not with ``device_put``: across processes that
    compares the copies for equality, which NaN entries of a fresh ES state fail.
    """
    if isinstance(x, jax.Array) and x.sharding == place:
        return x
    a = np.asarray(x)
    return jax.make_array_from_callback(a.shape, place, lambda index: a[index])


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


def _strong(x: Any) -> Any:
    """``x`` without JAX's weak type (keys and non-arrays unchanged)."""
    if not hasattr(x, "dtype") or jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return x
    return jax.lax.convert_element_type(x, x.dtype)

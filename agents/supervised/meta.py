"""Meta-training and meta-testing of dataset learners: ES fitness, meta-gradients, baselines' tuning.

The functions here know a learner only through ``agents.supervised.learners.learner(cfg)``:
its ``final`` held-out score is the ES fitness, its ``meta_grad`` the gradient step, its
``curve`` the meta-test. Tasks come from ``agents.supervised.tasks``, keyed by (run seed,
generation, index) and shared by every member, so rankings compare genomes, not luck.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents.config import TaskTransformConfig, TrainConfig
from agents.supervised.learners import SUPERVISED, learner
from agents.supervised.tasks import (
    BASELINE_FAN_IN_POW,
    TUNE_STREAM,
    Genome,
    Metrics,
    TaskData,
    TaskSource,
    datas,
    generation_tasks,
    mlp_run,
    objective,
    sample_task,
)
from sfnn import blur

SGD_LRS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
ADAM_LRS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
TUNE_TASKS = 8  # tasks per meta-training dataset in the learning-rate grid search
BASELINE_AGENTS = ("backprop_genome", "sgd", "adam")  # added to every supervised meta-test


def population_fitness(
    cfg: TrainConfig,
    sources: list[TaskSource],
    data: tuple[TaskData, ...],
    genomes: Genome,
    run_key: jax.Array,
    generation: jax.Array,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Fitness (P,) of P genomes (leading axis) = mean objective over this generation's tasks,
    and per-dataset metrics for the log."""
    final = learner(cfg).final
    objs, extra = [], {}
    for src, tasks in zip(sources, generation_tasks(cfg, sources, data, run_key, generation)):
        m = jax.vmap(lambda g: jax.vmap(lambda t: final(cfg, g, t))(tasks))(genomes)  # (P, tasks)
        objs.append(objective(cfg, m))
        _dataset_metrics(extra, src.name, m)
    return jnp.mean(jnp.concatenate(objs, axis=1), axis=1), extra


def _dataset_metrics(out: dict[str, jax.Array], name: str, m: Metrics) -> None:
    """val_accuracy/<dataset>: mean over members and tasks; best_…: the best member's task mean."""
    out[f"val_accuracy/{name}"] = jnp.mean(m["acc"])
    out[f"best_val_accuracy/{name}"] = jnp.max(jnp.mean(m["acc"], axis=-1))
    finite = jnp.where(jnp.isfinite(m["loss"]), m["loss"], jnp.nan)
    out[f"val_loss/{name}"] = jnp.nanmean(finite)


def es_evaluator(cfg: TrainConfig, sources: list[TaskSource], run_key: jax.Array) -> Callable:
    """The ES trainer's population evaluation on dataset tasks: (pop, members, gen, key, data) -> (fitness, metrics).

    Members and the evaluation key are unused: every member meets the same tasks (keyed by
    generation), so rankings compare genomes, not luck.
    """

    def evaluate(pop, members, generation, k_eval, data):
        return population_fitness(cfg, sources, data, pop, run_key, generation)

    return evaluate


def meta_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Adam on the genome after a global-norm clip: unrolled inner loops give occasional huge gradients."""
    return optax.chain(optax.clip_by_global_norm(cfg.supervised.grad_clip), optax.adam(cfg.supervised.meta_lr))


def gradient_init_state(cfg: TrainConfig, genome: Genome) -> dict[str, Any]:
    """Meta-gradient state: the genome, Adam's state, and the best genome seen (by generation fitness)."""
    return {
        "genome": genome,
        "opt": meta_optimizer(cfg).init(genome),
        "best_genome": genome,
        "best_fitness": jnp.asarray(-jnp.inf, jnp.float32),
    }


def gradient_generation_fn(cfg: TrainConfig, sources: list[TaskSource], run_key: jax.Array) -> Callable:
    """One meta-step as a jitted (state, generation, data) -> (state, metrics).

    The step's tasks are keyed like an ES generation's; the logged fitness is that of the
    genome before the step. A step whose gradient is not finite is skipped (and counted).
    """
    meta_grad = learner(cfg).meta_grad
    opt = meta_optimizer(cfg)
    n_tasks = cfg.supervised.tasks_per_member

    def generation(state, gen, data):
        g = state["genome"]
        grads, objs, extra = [], [], {}
        for src, tasks in zip(sources, generation_tasks(cfg, sources, data, run_key, gen)):
            gr, m = jax.vmap(lambda t: meta_grad(cfg, g, t))(tasks)
            grads.append(jax.tree.map(lambda x: jnp.sum(x, 0), gr))
            objs.append(objective(cfg, m))
            _dataset_metrics(extra, src.name, jax.tree.map(lambda x: x[None], m))  # one 'member'
        grad = jax.tree.map(lambda *x: sum(x) / n_tasks, *grads)
        obj = jnp.concatenate(objs)
        fitness = jnp.mean(obj)
        ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(grad)]))
        updates, opt_state = opt.update(jax.tree.map(lambda x: jnp.where(ok, x, 0.0), grad), state["opt"], g)
        new = optax.apply_updates(g, updates)
        new, opt_state = jax.tree.map(lambda a, b: jnp.where(ok, a, b), (new, opt_state), (g, state["opt"]))
        better = fitness > state["best_fitness"]
        best = jnp.where(better, fitness, state["best_fitness"])
        state = {
            "genome": new,
            "opt": opt_state,
            "best_genome": jax.tree.map(lambda a, b: jnp.where(better, a, b), g, state["best_genome"]),
            "best_fitness": best,
        }
        finite = jnp.where(jnp.isfinite(obj), obj, jnp.nan)
        metrics = {
            "best_fitness": fitness,  # one genome per generation: best = mean
            "mean_fitness": fitness,
            "std_fitness": jnp.nanstd(finite),  # over tasks
            "best_ever_fitness": best,
            "nonfinite": jnp.sum(~jnp.isfinite(obj)),
            "skipped_update": (~ok).astype(jnp.int32),
            "meta_grad_norm": optax.global_norm(grad),
            **extra,
        }
        return state, metrics

    return jax.jit(generation)


def evaluator(
    cfg: TrainConfig, sources: list[TaskSource], n_tasks: int, key: jax.Array, steps: int | None = None
) -> Callable[[Genome, tuple[TaskData, ...]], dict[str, Metrics]]:
    """A jitted (genome, data) -> {dataset: curves (n_tasks, T+1)} on fresh tasks of the training distribution."""
    steps = steps or cfg.supervised.inner_steps
    curve = learner(cfg).curve

    def run(genome, data):
        out = {}
        for j, (src, dat) in enumerate(zip(sources, data)):
            keys = jax.random.split(jax.random.fold_in(key, j), n_tasks)
            tasks = jax.vmap(lambda k: sample_task(cfg, src, dat, k, steps))(keys)
            out[src.name] = jax.vmap(lambda t: curve(cfg, genome, t))(tasks)
        return out

    return jax.jit(run)


def tune_learning_rates(
    cfg: TrainConfig, sources: list[TaskSource], steps: int, n_tasks: int = TUNE_TASKS
) -> dict[str, dict[str, Any]]:
    """Grid-search SGD's and Adam's learning rates on meta-training tasks (fresh ones).

    The score is the run's own objective after ``steps`` steps, averaged over tasks and
    datasets; the baselines are thus tuned on the same distribution the genome was trained on.
    """
    key = jax.random.fold_in(jax.random.key(cfg.seed), TUNE_STREAM)
    out = {}
    for name, grid in (("sgd", SGD_LRS), ("adam", ADAM_LRS)):

        def scores(lrs, data, name=name):
            per = []
            for j, (src, dat) in enumerate(zip(sources, data)):
                keys = jax.random.split(jax.random.fold_in(key, j), n_tasks)
                tasks = jax.vmap(lambda k: sample_task(cfg, src, dat, k, steps))(keys)
                m = jax.vmap(lambda lr: jax.vmap(lambda t: mlp_run(name, lr, t, curve=False))(tasks))(lrs)
                per.append(objective(cfg, m))  # (lrs, tasks)
            s = jnp.mean(jnp.concatenate(per, axis=1), axis=1)
            return jnp.where(jnp.isfinite(s), s, -jnp.inf)

        s = np.asarray(jax.jit(scores)(jnp.asarray(grid, jnp.float32), datas(sources)))
        best = int(np.argmax(s))
        out[name] = {"lr": grid[best], "grid": list(grid), "scores": [round(float(v), 4) for v in s]}
    return out


def meta_test_transform(agent_cfg: TrainConfig) -> TaskTransformConfig:
    """How a meta-test lifetime presents a dataset to a learner: as it is (all classes, raw
    inputs), except that a learner with a fixed input size (``fixed_input``: MAML, Reptile) gets
    the inputs through a fixed Gaussian projection to its meta-training ``project_dim``."""
    project = agent_cfg.supervised.task_transform.project_dim if learner(agent_cfg).fixed_input else None
    return TaskTransformConfig(classes=None, permute_labels=False, project_dim=project)


def meta_test_curves(
    cfg: TrainConfig,
    agents: list[tuple[str, TrainConfig, Genome]],
    src: TaskSource,
    lifetimes: int,
    steps: int,
    key: jax.Array,
    lrs: dict[str, float],
    hidden: list[int] | None = None,
) -> dict[str, np.ndarray]:
    """Held-out accuracy at steps 0..T, (lifetimes, T+1), for each agent on one dataset.

    ``agents`` are (name, the run's config, its genome) of meta-trained learners; ``sgd``,
    ``adam`` and ``backprop_genome`` are added. The meta-test network has ``hidden`` layers
    (default ``cfg.supervised.hidden``), batches of ``cfg.supervised.batch_size`` and ``cfg.supervised.inner_steps``
    or ``steps`` steps. Lifetime l of every agent has the same batches and the same initial
    weights (state 0 of the tied draw), so the agents differ only in how they learn; learners
    with a fixed initialisation start from it instead (``meta_test_transform``).
    ``backprop_genome`` uses SGD's tuned step: it is the K=2 genome under which BLUR's rule
    equals that SGD, a check of the learner itself.
    """
    sv = dataclasses.replace(cfg.supervised, hidden=list(cfg.supervised.hidden if hidden is None else hidden))
    bp_cfg = dataclasses.replace(cfg, supervised=sv, blur=dataclasses.replace(cfg.blur, states=2, tied_weights=True))
    plain = TaskTransformConfig(classes=None, permute_labels=False, project_dim=None)
    bp_genome = blur.backprop_genome(2, lrs["sgd"], BASELINE_FAN_IN_POW)

    def task_cfg(agent_cfg: TrainConfig) -> TrainConfig:
        if agent_cfg.model.kind != "blur":  # only BLUR reads states beyond 0
            return bp_cfg
        b = dataclasses.replace(cfg.blur, states=agent_cfg.blur.states, tied_weights=agent_cfg.blur.tied_weights)
        return dataclasses.replace(cfg, supervised=sv, blur=b)

    def run(genomes, data):
        keys = jax.random.split(key, lifetimes)
        bp_tasks = jax.vmap(lambda k: sample_task(bp_cfg, src, data, k, steps, plain))(keys)
        out = {}
        for (name, acfg, _), g in zip(agents, genomes):
            tcfg, transform, curve = task_cfg(acfg), meta_test_transform(acfg), learner(acfg).curve
            tasks = jax.vmap(lambda k: sample_task(tcfg, src, data, k, steps, transform))(keys)
            out[name] = jax.vmap(lambda t: curve(acfg, g, t))(tasks)["acc"]
        bp_curve = SUPERVISED["blur"].curve
        out["backprop_genome"] = jax.vmap(lambda t: bp_curve(bp_cfg, bp_genome, t))(bp_tasks)["acc"]
        out["sgd"] = jax.vmap(lambda t: mlp_run("sgd", lrs["sgd"], t)["acc"])(bp_tasks)
        out["adam"] = jax.vmap(lambda t: mlp_run("adam", lrs["adam"], t)["acc"])(bp_tasks)
        return out

    curves = jax.jit(run)(tuple(g for _, _, g in agents), src.data)
    return {k: np.asarray(v) for k, v in curves.items()}

"""Supervised tasks for every dataset learner: datasets, task sampling, held-out scores, the baseline MLP.

A learner's genome (a BLUR rule, a learned optimizer, a MAML or Reptile initialisation, a VSML
LSTM) is judged by how well a network *learns* with it, so its fitness is a whole inner
learning run on a task made fresh from a dataset (class subset, relabelling, random
projection), followed by a held-out score. This module makes those tasks and scores them; it
knows nothing of learners (``agents.supervised.learners``) or of meta-training
(``agents.supervised.meta``), which both build on it.

Everything is a pure function of keys and arrays so that one generation stays one jitted
function: task i of generation g is keyed by (run seed, g, i) and shared by every member
(common random numbers: members differ only by their genome), which makes generations
deterministic and a resumed run identical to an uninterrupted one.

Datasets enter jitted functions as arguments (``TaskData``), never as baked-in constants, so a
large user file costs memory once and no compile time. Task i uses dataset i mod len(envs),
which keeps every array shape static; tasks of one dataset are vmapped together.

The baseline for meta-testing is the same bias-free tanh MLP (``sfnn.optimizee``) trained with
``jax.grad`` and plain SGD or Adam on the same squared-error loss the backprop genome descends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents.config import ConfigError, TaskTransformConfig, TrainConfig
from envs.datasets import DatasetError, load_dataset
from sfnn import blur, optimizee

Genome = blur.Genome
Metrics = dict[str, jax.Array]

# salts that keep the random streams of training, final evaluation and tuning apart
TASK_STREAM, FINAL_STREAM, TUNE_STREAM, CHOOSE_STREAM = 1, 2, 3, 4  # fold_in(run_key, ·): streams that never share tasks
BACKPROP_INIT_LR = 0.3  # step size of the backprop genome when meta-training starts from it
BASELINE_FAN_IN_POW = optimizee.FAN_IN_POW  # baselines and the backprop genome scale sums by n ** -0.5, like a fresh genome


class TaskData(NamedTuple):
    """A dataset's arrays as a pytree (passed to jitted functions as an argument)."""

    x_train: jax.Array  # (N, d) standardised inputs
    y_train: jax.Array  # (N,) labels 0..C-1
    x_val: jax.Array
    y_val: jax.Array
    by_class: jax.Array  # (C, max count) training indices of each class, padded with 0
    counts: jax.Array  # (C,) training examples per class


@dataclass(frozen=True, eq=False)
class TaskSource:
    """A dataset's static description; its arrays travel separately as ``data``."""

    name: str
    n_features: int
    n_classes: int
    data: TaskData


class Task(NamedTuple):
    """One inner learning run: T batches, a held-out set (label −1: not in this task), initial weights."""

    xs: jax.Array  # (T, B, d)
    ys: jax.Array  # (T, B)
    x_val: jax.Array  # (N, d)
    y_val: jax.Array  # (N,)
    w0: list[jax.Array]  # per layer (n_in, n_out, K)


# ------------------------------------------------------------------------------ datasets


def load_sources(cfg: TrainConfig, names: list[str] | None = None, seed: int | None = None) -> list[TaskSource]:
    """Load datasets by name (split by ``seed``, default the run's); bad files become ConfigErrors."""
    classes = cfg.supervised.task_transform.classes
    sources = []
    for name in cfg.envs if names is None else names:
        try:
            ds = load_dataset(name, cfg.seed if seed is None else seed)
        except DatasetError as e:
            raise ConfigError(str(e)) from None
        if names is None and classes is not None and classes > ds.n_classes:
            raise ConfigError(
                f"supervised.task_transform.classes={classes} but {name} has only {ds.n_classes} classes: "
                f"set it to at most {ds.n_classes} or drop {name} from envs"
            )
        y = np.asarray(ds.y_train)
        counts = np.bincount(y, minlength=ds.n_classes)
        by_class = np.zeros((ds.n_classes, counts.max()), np.int32)
        for c in range(ds.n_classes):
            by_class[c, : counts[c]] = np.flatnonzero(y == c)
        data = TaskData(ds.x_train, ds.y_train, ds.x_val, ds.y_val, jnp.asarray(by_class), jnp.asarray(counts, jnp.int32))
        sources.append(TaskSource(name, ds.n_features, ds.n_classes, data))
    return sources


def datas(sources: list[TaskSource]) -> tuple[TaskData, ...]:
    """The sources' arrays, in order: the ``data`` argument of the jitted functions here."""
    return tuple(s.data for s in sources)


def layer_sizes(cfg: TrainConfig, src: TaskSource, transform: TaskTransformConfig | None = None) -> list[int]:
    """[inputs, *hidden, outputs] of the inner network for tasks made from ``src``."""
    tt = cfg.supervised.task_transform if transform is None else transform
    return [tt.project_dim or src.n_features, *cfg.supervised.hidden, tt.classes or src.n_classes]


def genome_template(cfg: TrainConfig, key: jax.Array | None = None) -> Genome:
    """The starting genome: random (N(0, init_scale²/K) matrices) or the backprop genome."""
    b = cfg.blur
    if b.init == "backprop":
        return blur.backprop_genome(b.states, BACKPROP_INIT_LR, BASELINE_FAN_IN_POW)
    return blur.init_genome(jax.random.key(0) if key is None else key, b.states, b.init_scale)


# --------------------------------------------------------------------------------- tasks


def sample_task(
    cfg: TrainConfig,
    src: TaskSource,
    data: TaskData,
    key: jax.Array,
    steps: int,
    transform: TaskTransformConfig | None = None,
) -> Task:
    """A task from one dataset, a pure function of ``key`` (traceable, static shapes).

    With a class subset, training batches are class-balanced (a class, then an example of
    it), which keeps shapes static; without one they are drawn uniformly from the split.
    The held-out set is the whole validation split, relabelled, with −1 marking examples of
    classes outside the task. All randomness comes from one uniform draw, carved up: every
    separate ``jax.random`` call would add most of a second of XLA compile time on CPU.
    """
    tt = cfg.supervised.task_transform if transform is None else transform
    b, sv = cfg.blur, cfg.supervised
    n_cls = src.n_classes
    n_way = tt.classes or n_cls
    sizes = layer_sizes(cfg, src, tt)
    w_shapes = [(i, o, 1 if b.tied_weights else b.states) for i, o in zip(sizes[:-1], sizes[1:])]
    shape = (steps, sv.batch_size)
    parts = {
        "order": (n_cls,),
        "cls": shape if tt.classes is not None else (0,),
        "pos": shape,
        "proj": (2, src.n_features, tt.project_dim) if tt.project_dim is not None else (0,),
        **{f"w{l}": (2, *ws) for l, ws in enumerate(w_shapes)},
    }
    u = _uniforms(key, parts)
    order = jnp.argsort(u["order"]) if (tt.permute_labels or tt.classes) else jnp.arange(n_cls)
    chosen = order[:n_way]
    if tt.classes is not None and not tt.permute_labels:
        chosen = jnp.sort(chosen)
    relabel = jnp.full((n_cls,), -1, jnp.int32).at[chosen].set(jnp.arange(n_way, dtype=jnp.int32))
    if tt.classes is None:
        idx = _below(u["pos"], data.x_train.shape[0])
        ys = relabel[data.y_train[idx]]
    else:
        ys = _below(u["cls"], n_way)
        cls = chosen[ys]
        idx = data.by_class[cls, _below(u["pos"], data.counts[cls])]
    xs, x_val = data.x_train[idx], data.x_val
    if tt.project_dim is not None:
        proj = _gaussian(u["proj"]) / np.sqrt(src.n_features)
        xs, x_val = xs @ proj, x_val @ proj
    w0 = [sv.weight_scale * jnp.broadcast_to(_gaussian(u[f"w{l}"]), ws[:2] + (b.states,)) for l, ws in enumerate(w_shapes)]
    return Task(xs, ys.astype(jnp.int32), x_val, relabel[data.y_val], w0)


def _uniforms(key: jax.Array, parts: dict[str, tuple[int, ...]]) -> dict[str, jax.Array]:
    """One U[0, 1) draw cut into named arrays of the given shapes."""
    sizes = [int(np.prod(s)) for s in parts.values()]
    flat = jax.random.uniform(key, (sum(sizes),))
    cuts = np.cumsum(sizes)[:-1]
    return {name: piece.reshape(s) for (name, s), piece in zip(parts.items(), jnp.split(flat, cuts))}


def _below(u: jax.Array, n: jax.Array | int) -> jax.Array:
    """Integers uniform in [0, n) from uniforms in [0, 1)."""
    return jnp.minimum(jnp.floor(u * n).astype(jnp.int32), jnp.asarray(n, jnp.int32) - 1)


def _gaussian(u: jax.Array) -> jax.Array:
    """Standard normals from a pair of uniform arrays stacked on axis 0 (Box–Muller)."""
    return jnp.sqrt(-2.0 * jnp.log1p(-u[0])) * jnp.cos(2.0 * np.pi * u[1])


def task_keys(run_key: jax.Array, generation: jax.Array, indices: jax.Array) -> jax.Array:
    """Keys of tasks ``indices`` of a generation: a function of (run seed, generation, index) only."""
    base = jax.random.fold_in(jax.random.fold_in(run_key, TASK_STREAM), generation)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(indices)


def generation_tasks(
    cfg: TrainConfig, sources: list[TaskSource], data: tuple[TaskData, ...], run_key: jax.Array, generation: jax.Array
) -> list[Task]:
    """Per dataset, its tasks of this generation stacked on a leading axis (task i → dataset i mod D)."""
    n, d = cfg.supervised.tasks_per_member, len(sources)
    out = []
    for j, (src, dat) in enumerate(zip(sources, data)):
        keys = task_keys(run_key, generation, jnp.arange(j, n, d))
        out.append(jax.vmap(lambda k: sample_task(cfg, src, dat, k, cfg.supervised.inner_steps))(keys))
    return out


# ------------------------------------------------------------------------------- scoring


def held_out(logits: jax.Array, y: jax.Array) -> Metrics:
    """Accuracy, squared-error loss and cross-entropy over examples with y >= 0.

    A network whose outputs are not finite scores accuracy 0: it has diverged, and argmax
    over NaN would otherwise pick a class by accident.
    """
    mask = (y >= 0).astype(jnp.float32)
    n = jnp.maximum(jnp.sum(mask), 1.0)
    yc = jnp.maximum(y, 0)
    onehot = jax.nn.one_hot(yc, logits.shape[-1], dtype=jnp.float32)
    acc = jnp.sum(mask * (jnp.argmax(logits, -1) == yc)) / n
    loss = jnp.sum(mask * 0.5 * jnp.sum((logits - (2.0 * onehot - 1.0)) ** 2, -1)) / n
    xent = -jnp.sum(mask * jnp.sum(onehot * jax.nn.log_softmax(logits), -1)) / n
    return {"acc": jnp.where(jnp.all(jnp.isfinite(logits)), acc, 0.0), "loss": loss, "xent": xent}


def objective(cfg: TrainConfig, m: Metrics) -> jax.Array:
    """The maximised meta-objective: held-out accuracy, or minus the held-out loss."""
    return m["acc"] if cfg.supervised.objective == "accuracy" else -m["loss"]


# -------------------------------------------------------------------------- baseline MLP


def mlp_run(optimizer: str, lr: jax.Array, task: Task, curve: bool = True) -> Metrics:
    """Train the baseline MLP from the task's state-0 weights with plain SGD or Adam.

    Returns held-out metrics at steps 0..T (``curve``) or after step T only.
    """
    opt = optax.sgd(lr) if optimizer == "sgd" else optax.adam(lr)
    ws = [w[..., 0] for w in task.w0]

    def body(carry, batch):
        ws, s = carry
        upd, s = opt.update(jax.grad(optimizee.loss)(ws, *batch), s, ws)
        ws = optax.apply_updates(ws, upd)
        return (ws, s), held_out(optimizee.logits(ws, task.x_val), task.y_val) if curve else None

    (ws_final, _), ms = jax.lax.scan(body, (ws, opt.init(ws)), (task.xs, task.ys))
    if not curve:
        return held_out(optimizee.logits(ws_final, task.x_val), task.y_val)
    first = held_out(optimizee.logits(ws, task.x_val), task.y_val)
    return {k: jnp.concatenate([first[k][None], ms[k]]) for k in ms}

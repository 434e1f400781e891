"""The supervised-learner registry: every learner that learns on dataset tasks, by ``model.kind``.

Why: meta-training (ES through ``agents.trainer`` or meta-gradients), the final choice of
genome (``agents.supervised.finish``), meta-testing with ``--compare`` and ``sfnn bench`` treat
every learner alike. They see a learner only through the functions of a ``SupervisedLearner``
and a task only as an ``agents.supervised.tasks.Task``:

    Task(xs (T, B, d) support batches, ys (T, B) labels,
         x_val (N, d), y_val (N,) held-out query set, label −1 = not in this task,
         w0: per layer (n_in, n_out, K) initial weights; state 0 is the plain network's)

The functions, all pure and traceable (``cfg`` is static, closed over):

- ``template(cfg, key) -> genome``: the starting genome (a pytree of float32 arrays); with
  ``key=None`` a fixed one whose structure rebuilds saved genomes.
- ``final(cfg, genome, task) -> metrics``: held-out ``acc``/``loss``/``xent`` (``tasks.held_out``)
  after the T learning steps of the task. ES fitness and the final choice use it.
- ``curve(cfg, genome, task) -> metrics``: the same metrics at steps 0..T, each (T+1,). Meta-test uses it.
- ``meta_grad(cfg, genome, task) -> (gradient, metrics)``: what ``supervised.meta=gradient`` descends
  with optax Adam (a pseudo-gradient is fine: Reptile's θ − φ_T), and the metrics after T
  steps; None if the learner is meta-trained by ES only.
- ``fixed_input``: the genome is shaped by input size and class count (MAML, Reptile). Meta-test
  then projects a dataset's inputs to ``supervised.task_transform.project_dim`` with a fixed Gaussian
  projection per lifetime, and the learner fits its outputs to the dataset's class count.
- ``protocol(cfg) -> str``: one line the meta-test JSON records: what the learner did at meta-test.

Adding a learner NAME (e.g. VSML):
1. Its pure-JAX core in ``sfnn/NAME.py`` (no imports from agents/ or envs/).
2. In ``agents/config.py``: NAME in ``CHOICES["model.kind"]`` and in ``SUPERVISED_KINDS`` (datasets
   only) or ``EITHER_KINDS`` (datasets or environments); its own fields in a new section
   dataclass on ``TrainConfig`` with their checks in ``_validate_learner`` and a row each in
   ``docs/CONFIG.md`` (``tests/test_docs.py`` checks). The shared task and
   meta-training fields stay in ``blur.*`` (hidden, inner_steps, batch_size, tasks_per_member,
   task_transform, objective, meta, truncation, meta_lr, grad_clip, weight_scale).
3. One entry ``SUPERVISED["NAME"] = SupervisedLearner(...)`` below. A learner whose inner run is
   "state ← step(state, batch)" gets final, curve and a truncated meta-gradient from
   ``unrolled(init, step, logits)``; otherwise write the functions yourself.
Training, resume, checkpoints, the run's summary, ``sfnn meta-test`` (also as ``--compare``)
and ``sfnn bench`` then work for NAME with no other change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from agents.config import ConfigError, TrainConfig
from agents.supervised.tasks import Metrics, Task, genome_template, held_out
from sfnn import blur, learned_optimizer, maml, optimizee, vsml

Genome = Any
InitFn = Callable[[TrainConfig, Genome, Task], Any]  # (cfg, genome, task) -> inner state
StepFn = Callable[[TrainConfig, Genome, Any, jax.Array, jax.Array], Any]  # (cfg, genome, state, x, y) -> state
LogitsFn = Callable[[TrainConfig, Genome, Any, jax.Array], jax.Array]  # (cfg, genome, state, x) -> logits


@dataclass(frozen=True)
class SupervisedLearner:
    """The functions of one learner on dataset tasks (see the module docstring for each)."""

    template: Callable[[TrainConfig, jax.Array | None], Genome]
    final: Callable[[TrainConfig, Genome, Task], Metrics]
    curve: Callable[[TrainConfig, Genome, Task], Metrics]
    meta_grad: Callable[[TrainConfig, Genome, Task], tuple[Genome, Metrics]] | None = None
    fixed_input: bool = False
    protocol: Callable[[TrainConfig], str] = lambda cfg: "learns on the dataset as it is"


def meta_loss_key(cfg: TrainConfig) -> str:
    """The differentiable held-out loss: cross-entropy for the accuracy objective (accuracy has
    no gradient), the squared error for the loss objective."""
    return "xent" if cfg.supervised.objective == "accuracy" else "loss"


def unrolled(init: InitFn, step: StepFn, logits: LogitsFn) -> dict[str, Callable]:
    """final, curve and a truncated meta-gradient for a learner whose inner run is a scan of ``step``.

    The meta-gradient cuts the T steps into segments of ``supervised.truncation`` steps (None: one
    segment); each segment contributes the gradient of the held-out loss at its end,
    differentiated through that segment only (the state entering it is a constant, the first
    one included: a learner whose initial state is its genome, as MAML's is, needs its own
    ``meta_grad``).
    """

    def run(cfg, g, s, xs, ys):
        return jax.lax.scan(lambda s, b: (step(cfg, g, s, *b), None), s, (xs, ys))[0]

    def final(cfg, g, task):
        s = run(cfg, g, init(cfg, g, task), task.xs, task.ys)
        return held_out(logits(cfg, g, s, task.x_val), task.y_val)

    def curve(cfg, g, task):
        def body(s, batch):
            s = step(cfg, g, s, *batch)
            return s, held_out(logits(cfg, g, s, task.x_val), task.y_val)

        s0 = init(cfg, g, task)
        first = held_out(logits(cfg, g, s0, task.x_val), task.y_val)
        _, ms = jax.lax.scan(body, s0, (task.xs, task.ys))
        return {k: jnp.concatenate([first[k][None], ms[k]]) for k in ms}

    def meta_grad(cfg, g, task):
        steps = task.xs.shape[0]
        seg = cfg.supervised.truncation or steps
        n_seg = steps // seg
        xs = task.xs.reshape((n_seg, seg) + task.xs.shape[1:])
        ys = task.ys.reshape((n_seg, seg) + task.ys.shape[1:])
        key = meta_loss_key(cfg)

        def seg_loss(g, s, xs_s, ys_s):
            s = run(cfg, g, s, xs_s, ys_s)
            m = held_out(logits(cfg, g, s, task.x_val), task.y_val)
            return m[key], (s, m)

        def body(s, batch):
            (_, (s, m)), grad = jax.value_and_grad(seg_loss, has_aux=True)(g, jax.lax.stop_gradient(s), *batch)
            return s, (grad, m)

        _, (grads, ms) = jax.lax.scan(body, init(cfg, g, task), (xs, ys))
        return jax.tree.map(lambda x: jnp.mean(x, 0), grads), jax.tree.map(lambda x: x[-1], ms)

    return {"final": final, "curve": curve, "meta_grad": meta_grad}


# ---------------------------------------------------------------------------------- BLUR


_blur = unrolled(
    init=lambda cfg, g, task: task.w0,
    step=lambda cfg, g, w, x, y: blur.step(g, w, x, y)[0],
    logits=lambda cfg, g, w, x: blur.readout(g, w, x),
)

# ----------------------------------------------------------------------- learned optimizer


def _lo_template(cfg: TrainConfig, key: jax.Array | None = None) -> Genome:
    lo = cfg.learned_opt
    return learned_optimizer.init_params(jax.random.key(0) if key is None else key, lo.hidden, lo.lr, lo.init_scale)


def _lo_transform(cfg: TrainConfig, g: Genome) -> optax.GradientTransformation:
    lo = cfg.learned_opt
    return learned_optimizer.transformation(g, lo.preprocess, lo.out_scale, lo.second_order)


def _lo_init(cfg: TrainConfig, g: Genome, task: Task) -> Any:
    ws = [w[..., 0] for w in task.w0]
    return ws, _lo_transform(cfg, g).init(ws)


def _lo_step(cfg: TrainConfig, g: Genome, s: Any, x: jax.Array, y: jax.Array) -> Any:
    ws, opt_state = s
    upd, opt_state = _lo_transform(cfg, g).update(jax.grad(optimizee.loss)(ws, x, y), opt_state, ws)
    return optax.apply_updates(ws, upd), opt_state


_learned_opt = unrolled(_lo_init, _lo_step, lambda cfg, g, s, x: optimizee.logits(s[0], x))

# ------------------------------------------------------------------------ MAML and Reptile


def _init_sizes(cfg: TrainConfig) -> list[int]:
    """[project_dim, *hidden, classes]: the fixed shape of a MAML/Reptile initialisation."""
    tt = cfg.supervised.task_transform
    return [tt.project_dim or 1, *cfg.supervised.hidden, tt.classes or 2]


def _init_template(cfg: TrainConfig, key: jax.Array | None = None) -> Genome:
    return maml.init_params(jax.random.key(0) if key is None else key, _init_sizes(cfg), cfg.supervised.weight_scale)


def _task_init(g: Genome, task: Task) -> list[jax.Array]:
    """The initialisation fitted to the task: same inputs required, outputs sliced or extended."""
    if task.xs.shape[-1] != g[0].shape[0]:
        raise ValueError(f"this initialisation takes {g[0].shape[0]} inputs, the task has {task.xs.shape[-1]}: "
                         "project the inputs to that size")
    return maml.fit_outputs(g, task.w0[-1].shape[1])


def _inner_lr(cfg: TrainConfig) -> float:
    return cfg.maml.inner_lr if cfg.model.kind == "maml" else cfg.reptile.inner_lr


_init_learner = unrolled(  # MAML's and Reptile's inner run: plain SGD from the (fitted) initialisation
    init=lambda cfg, g, task: _task_init(g, task),
    step=lambda cfg, g, ws, x, y: optimizee.sgd_steps(ws, x[None], y[None], _inner_lr(cfg)),
    logits=lambda cfg, g, ws, x: optimizee.logits(ws, x),
)


def maml_meta_grad(cfg: TrainConfig, g: Genome, task: Task) -> tuple[Genome, Metrics]:
    """Gradient of the query (held-out) loss after T support steps w.r.t. the initialisation.

    Second order by default (through every inner step); ``maml.first_order``: each inner
    gradient is a constant, so this is the query gradient at the adapted weights.
    """
    key = meta_loss_key(cfg)

    def query(init):
        ws = maml.adapt(_task_init(init, task), task.xs, task.ys, cfg.maml.inner_lr, cfg.maml.first_order)
        m = held_out(optimizee.logits(ws, task.x_val), task.y_val)
        return m[key], m

    grad, m = jax.grad(query, has_aux=True)(g)
    return grad, m


def reptile_meta_grad(cfg: TrainConfig, g: Genome, task: Task) -> tuple[Genome, Metrics]:
    """Reptile's pseudo-gradient θ − φ_T (φ_T: T support steps of SGD from θ) and φ_T's held-out metrics."""
    direction, adapted = maml.reptile_direction(_task_init(g, task), task.xs, task.ys, cfg.reptile.inner_lr)
    return direction, held_out(optimizee.logits(adapted, task.x_val), task.y_val)


def _init_protocol(cfg: TrainConfig) -> str:
    sizes = "-".join(map(str, _init_sizes(cfg)))
    tt = cfg.supervised.task_transform
    return (f"its {sizes} initialisation (own hidden sizes); inputs projected to {tt.project_dim} by a fixed "
            f"Gaussian projection per lifetime; output units sliced to the class count, or extended by their "
            f"mean; then plain SGD at {_inner_lr(cfg)} for every inner step")


# ---------------------------------------------------------------------------------- VSML


def _vsml_template(cfg: TrainConfig, key: jax.Array | None = None) -> Genome:
    v = cfg.vsml
    return vsml.init_genome(jax.random.key(0) if key is None else key, v.state_size, v.message_size, v.genome_scale)


def _vsml_init(cfg: TrainConfig, g: Genome, task: Task) -> Any:
    """Random synapse states for the task's network ([inputs, *hidden, classes], read off ``w0``).

    A Task carries no key, so the states' key is made from the bits of two of the task's initial
    weights: random per task and lifetime, the same for every genome on that task (as ``w0`` is).
    """
    sizes = [w.shape[0] for w in task.w0] + [task.w0[-1].shape[1]]
    bits = jax.lax.bitcast_convert_type(jnp.stack([task.w0[0].ravel()[0], task.w0[-1].ravel()[-1]]), jnp.uint32)
    return vsml.init_state(jax.random.wrap_key_data(bits), sizes, cfg.vsml.state_size, cfg.vsml.init_scale)


_vsml = unrolled(
    init=_vsml_init,
    step=lambda cfg, g, s, x, y: vsml.step(g, s, x, y)[0],
    logits=lambda cfg, g, s, x: vsml.readout(g, s, x),
)

# ------------------------------------------------------------------------------ registry

SUPERVISED: dict[str, SupervisedLearner] = {
    "blur": SupervisedLearner(genome_template, _blur["final"], _blur["curve"], _blur["meta_grad"]),
    "learned_opt": SupervisedLearner(
        _lo_template, _learned_opt["final"], _learned_opt["curve"], _learned_opt["meta_grad"],
        protocol=lambda cfg: "its LSTM optimizer trains the meta-test network (any size) from the shared initial weights",
    ),
    "maml": SupervisedLearner(
        _init_template, _init_learner["final"], _init_learner["curve"], maml_meta_grad,
        fixed_input=True, protocol=_init_protocol,
    ),
    "reptile": SupervisedLearner(
        _init_template, _init_learner["final"], _init_learner["curve"], reptile_meta_grad,
        fixed_input=True, protocol=_init_protocol,
    ),
    "vsml": SupervisedLearner(
        _vsml_template, _vsml["final"], _vsml["curve"], _vsml["meta_grad"],
        protocol=lambda cfg: "its shared synapse LSTM learns in the meta-test network (any size) from random synapse states",
    ),
}  # fmt: skip


def learner(cfg: TrainConfig) -> SupervisedLearner:
    """The registered learner of ``cfg.model.kind`` (a supervised run)."""
    try:
        return SUPERVISED[cfg.model.kind]
    except KeyError:
        raise ConfigError(f"model.kind={cfg.model.kind} does not learn on datasets: use one of "
                          f"{', '.join(SUPERVISED)}") from None

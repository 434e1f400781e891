"""The typed run configuration: YAML file + dotted overrides, checked against dataclasses.

OmegaConf merges the pieces and rejects unknown keys and wrong types; ``validate`` adds the
checks that types cannot express (choices, ranges, registered names). Every failure is a
``ConfigError`` whose message names the field and the fix, so the CLI can print one line.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """Bad configuration; the message is one line meant for the user."""


@dataclass
class ModelConfig:
    kind: str = "sfnn"  # the learner: sfnn | vsml (envs or datasets) | baselines: mlp | hebbian | rnn; on datasets: blur | learned_opt | maml | reptile
    plasticity: str = "synapse"  # synapse | neuron (where the plastic vectors live)
    neurons: int = 32  # total neurons; hidden = neurons - obs size - action count
    channels: int = 4  # M, signal channels per neuron
    connect_prob: float = 0.5  # p, probability of each allowed edge
    passes: int = 2  # propagation passes per environment step
    plastic_lr: float = 0.01  # η in e <- e + η·GRU(x, e)
    plastic_update: str = "add"  # add: e <- e + η·GRU(x, e) (authors) | lerp: e <- e + η·(GRU(x, e) - e), bounded
    plastic_rescale: bool = True  # plastic vectors into a neuron past 2^96 are scaled by 2^-64 together: the network acts the same and float32 does not overflow in long lifetimes (add rule); false: left to overflow, as in the authors' code
    plastic_max: float = 0.0  # > 0: the plastic vectors into a neuron are scaled together to stay within ±plastic_max after every update (growth stops at the bound); 0: unbounded (the authors)
    learn_every: str = "pass"  # pass: plastic update after every pass | step: once per step, after the passes (authors)
    propagation: str = "sequential"  # sequential: input -> hidden -> output within a pass | simultaneous: all neurons from the last pass (authors)
    prev_action: str = "add"  # previous action into the output neurons: add (to all channels) | channel0 (written over channel 0, authors)
    action_feedback_from: int = 0  # first pass (0-based) that feeds the previous action (authors: 1, their first update has none)
    initial_action: Optional[int] = None  # previous action at a lifetime's start: null (none) | an action index (authors: 0)
    self_loops: bool = True  # hidden->hidden self-connections may be sampled (authors: false)
    action_readout: str = "value"  # discrete actions: argmax of output channel 0's value (authors) | its preactivation (saturated outputs do not tie) | ordinal (one output, its value binned onto ordered actions)
    neuron_bias: bool = True  # neuron units have biases (authors: false, use_bias=False)
    evolve_plastic_lr: bool = False  # the genome holds a scale lambda of the plastic rate, eta = plastic_lr * lambda (authors: true)
    init_scale: float = 0.1  # plastic vectors (hebbian: lifetime weights) start U(±init_scale)
    hidden: list[int] = field(default_factory=lambda: [16])  # baselines: hidden layer sizes (rnn: GRU size)
    inputs: Optional[int] = None  # baselines: input units; null = the largest observation of envs (set at train)
    outputs: Optional[int] = None  # baselines: output units; null = the largest action count of envs


@dataclass
class LifetimeConfig:
    episodes: int = 8  # episodes per lifetime; plastic state persists across them
    max_steps: Optional[int] = None  # episode step cap; None keeps the environment's own
    lifetimes: int = 1  # lifetimes per member per generation (fitness is their mean)
    episode_mode: str = "consecutive"  # consecutive: episodes back to back | window: each a max_steps window from a reset, scored to its first end (authors)
    wiring: str = "fresh"  # fresh: new per member+lifetime | shared: per generation | fixed: once per run
    terminal_reward: Optional[float] = None  # reward shown to the net after a termination that is a failure (CartPole, brax; not Acrobot/MountainCar, where it is success); None: raw reward
    energy_reward: Optional[float] = None  # k: the net is shown reward + k * the mechanical energy of the state reached (Acrobot, MountainCar: 0 at rest, 1 with both links level / resting at the goal); fitness keeps the raw reward; None: off
    obs_scale: float = 1.0  # observations are multiplied by this before reaching input neurons
    obs_norm: str = "none"  # none | running (per-lifetime mean/std, reset each lifetime) | fixed (random-play mean/std)


@dataclass
class FitnessConfig:
    kind: str = "normalized_weighted"  # normalized_weighted (authors) | mean (plain mean return)
    combine: str = "product"  # several envs: product (authors) | mean | geomean (geometric mean, each factor floored at 0.001)
    ranges: dict[str, list[float]] = field(default_factory=dict)  # extra [low, high] return ranges
    weights: dict[str, float] = field(default_factory=dict)  # how much each env counts in combine, by name (unnamed: 1), e.g. {CartPole-v1: 2}
    worst_fraction: float = 1.0  # each env's fitness: mean of the member's worst ceil(f * lifetimes) lifetimes (1.0: all)


@dataclass
class StrategyConfig:
    name: str = "CMA_ES"  # any distribution-based evosax algorithm
    population: int = 64
    generations: int = 100
    sigma_init: float = 0.1  # initial search scale
    init_mean: str = "random"  # where the search starts: random (a lecun/orthogonal genome from the seed) | zeros (authors)
    init_from: Optional[str] = None  # a run or pretrained directory (or its genomes.npz): start at its best genome instead (same model)
    fitness_shaping: Optional[str] = None  # null: the algorithm's own | centered_rank | standardize | normalize | raw (gradient-style algorithms only)
    optimizer: Optional[str] = None  # null: the algorithm's own | sgd | adam (gradient-style algorithms: Open_ES, SNES, PGPE, ...)
    lr: Optional[float] = None  # that optimizer's learning rate; null: the algorithm's own (needed when optimizer is set)
    ties: str = "average"  # members of equal fitness: average (evosax >= 0.2: they share one rank's weight) | ordinal (one rank each, in population order: evosax 0.1.4, the authors')


@dataclass
class LogConfig:
    wandb: str = "offline"  # offline | online | disabled
    project: str = "sfnn"
    checkpoint_every: int = 10  # generations between checkpoints (plus the final one)
    keep_checkpoints: int = 3
    final_lifetimes: int = 16  # lifetimes of the best genome evaluated for the summary
    progress: bool = True
    render: bool = True  # brax runs: render a lifetime of the final genome (HTML + GIF) into the run directory
    figures: bool = True  # sfnn runs: wiring graph and plastic-vector heat-map of the final genome (agents/rl/viz.py)


@dataclass
class ParallelConfig:
    """Where the population is evaluated: devices of this process, and of other processes (jax.distributed)."""

    devices: Optional[int] = None  # local devices per process to shard the population over; 0 = all; null = on a CPU one per core while each gets >= 16 members (SFNN, one process), else 1
    chunk: Optional[int] = None  # members each device evaluates at once (lax.map over chunks); 0 = all; null = by the CPU's vector ISA (agents/cpu.py: 64), all on GPU/TPU
    lanes: Optional[int] = None  # lifetime batches are padded to a multiple of it (population-last learners); null = the float32 lanes of the CPU's vectors (16 AVX-512, 8 AVX2, 4 SSE/NEON), 16 on GPU/TPU
    processes: int = 1  # processes of one run (each runs the same command); >1 joins them with jax.distributed
    process_id: int = 0  # this process's index, 0..processes-1; only process 0 writes the run directory
    coordinator: Optional[str] = None  # host:port of process 0 that every process can reach (processes > 1)


@dataclass
class TaskTransformConfig:
    """How a meta-training task is made from a dataset (fresh per task, common to all members)."""

    classes: Optional[int] = None  # n-way subset of the dataset's classes per task; None: all classes
    permute_labels: bool = True  # which output unit stands for which class changes per task
    project_dim: Optional[int] = None  # random Gaussian projection of inputs to this many features; None: raw


@dataclass
class SupervisedConfig:
    """Every dataset learner (``agents.supervised.learners``: blur, learned_opt, maml, reptile, vsml on
    datasets): the inner learning run on a task, and how the genome is meta-trained.

    These fields were in the ``blur:`` section before the other dataset learners shared them;
    a config or run directory that still sets them there loads as before (``LEGACY_BLUR_FIELDS``).
    """

    hidden: list[int] = field(default_factory=lambda: [32])  # hidden layer sizes of the inner network
    inner_steps: int = 50  # T, learning steps per task (one mini-batch each)
    batch_size: int = 32
    tasks_per_member: int = 4  # tasks per genome per generation; task i uses dataset i mod len(envs)
    task_transform: TaskTransformConfig = field(default_factory=TaskTransformConfig)
    objective: str = "accuracy"  # accuracy | loss: held-out accuracy or -(squared-error loss) after T steps
    meta: str = "es"  # es: strategy.* with the shared trainer | gradient: Adam through the unrolled inner loop
    truncation: Optional[int] = None  # gradient: backprop through segments of this many steps; None: all T
    meta_lr: float = 0.01  # gradient: Adam step size on the genome
    grad_clip: float = 1.0  # gradient: global-norm clip of each meta-gradient
    weight_scale: float = 1.0  # inner network weights start N(0, weight_scale²)


@dataclass
class BlurConfig:
    """BLUR's own settings (model.kind=blur, sfnn/blur.py); its inner run and meta-training are ``supervised``."""

    states: int = 2  # K, states per neuron
    init: str = "random"  # starting genome: random | backprop (the genome that equals SGD)
    init_scale: float = 1.0  # random genome: matrices N(0, init_scale²/K)
    tied_weights: bool = True  # all K states of a synapse start equal (the backprop genome is then exact SGD)


# the fields that moved from blur: to supervised: (old configs and run directories still load)
LEGACY_BLUR_FIELDS = tuple(f.name for f in fields(SupervisedConfig))


@dataclass
class LearnedOptConfig:
    """The learned optimizer (model.kind=learned_opt): a coordinate-wise LSTM, sfnn/learned_optimizer.py."""

    hidden: int = 16  # LSTM units per parameter coordinate (weights shared by all coordinates)
    lr: float = 1.0  # the SGD step it starts as (the LSTM's output layer starts at zero)
    out_scale: float = 0.1  # the LSTM's output is multiplied by this before it is added to the update
    preprocess: float = 10.0  # p of the gradient preprocessing (log|g|/p, sign g)
    init_scale: float = 1.0  # LSTM weights start N(0, init_scale²/fan_in)
    second_order: bool = False  # meta-gradient also through the optimizee's gradients (the paper drops them)


@dataclass
class MamlConfig:
    """MAML (model.kind=maml): a learned initialisation adapted by inner SGD, sfnn/maml.py."""

    inner_lr: float = 1.0  # SGD step of the inner (support) steps, in meta-training and at meta-test
    first_order: bool = False  # first-order MAML: no gradient through the inner gradients


@dataclass
class ReptileConfig:
    """Reptile (model.kind=reptile): the initialisation moves towards SGD-adapted weights."""

    inner_lr: float = 1.0  # SGD step of the inner steps, in meta-training and at meta-test


@dataclass
class VsmlConfig:
    """VSML (model.kind=vsml): one LSTM shared by every synapse, sfnn/vsml.py; the genome is that
    LSTM alone, so its size depends on state_size and message_size only (608 at the defaults)."""

    state_size: int = 8  # S, LSTM state (h and c) of every synapse
    message_size: int = 4  # m, channels of the forward and backward messages (at least 3: reward, action, termination)
    hidden: list[int] = field(default_factory=lambda: [16])  # environment runs: hidden layer sizes between obs and actions
    init_scale: float = 0.5  # synapse states start N(0, init_scale²), fresh each lifetime: the random initial "weights"
    genome_scale: float = 1.0  # starting genome: LSTM weights N(0, genome_scale²/fan_in), forget-gate bias 1


@dataclass
class TrainConfig:
    seed: int = 0
    envs: list[str] = field(default_factory=lambda: ["CartPole-v1"])
    model: ModelConfig = field(default_factory=ModelConfig)
    lifetime: LifetimeConfig = field(default_factory=LifetimeConfig)
    fitness: FitnessConfig = field(default_factory=FitnessConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    log: LogConfig = field(default_factory=LogConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    supervised: SupervisedConfig = field(default_factory=SupervisedConfig)
    blur: BlurConfig = field(default_factory=BlurConfig)
    learned_opt: LearnedOptConfig = field(default_factory=LearnedOptConfig)
    maml: MamlConfig = field(default_factory=MamlConfig)
    reptile: ReptileConfig = field(default_factory=ReptileConfig)
    vsml: VsmlConfig = field(default_factory=VsmlConfig)


CHOICES = {
    "model.kind": ("sfnn", "blur", "mlp", "hebbian", "rnn", "learned_opt", "maml", "reptile", "vsml"),
    "model.plasticity": ("synapse", "neuron"),
    "model.plastic_update": ("add", "lerp"),
    "model.learn_every": ("pass", "step"),
    "model.propagation": ("sequential", "simultaneous"),
    "model.prev_action": ("add", "channel0"),
    "model.action_readout": ("value", "preactivation", "ordinal"),
    "lifetime.episode_mode": ("consecutive", "window"),
    "strategy.init_mean": ("random", "zeros"),
    "lifetime.wiring": ("fresh", "shared", "fixed"),
    "lifetime.obs_norm": ("none", "running", "fixed"),
    "fitness.kind": ("normalized_weighted", "mean"),
    "fitness.combine": ("product", "mean", "geomean"),
    "log.wandb": ("offline", "online", "disabled"),
    "supervised.objective": ("accuracy", "loss"),
    "supervised.meta": ("es", "gradient"),
    "blur.init": ("random", "backprop"),
}
POSITIVE = (
    "model.neurons", "model.channels", "model.passes", "lifetime.episodes", "lifetime.lifetimes",
    "strategy.population", "strategy.generations", "log.checkpoint_every", "log.keep_checkpoints",
    "log.final_lifetimes", "blur.states", "supervised.inner_steps", "supervised.batch_size", "supervised.tasks_per_member",
)  # fmt: skip
# upper bounds far beyond any real run: larger values are typos that would overflow int32
# counters or ask for terabytes, so they are refused before a run directory is created
MAXIMUM = {
    "seed": 2**32 - 1, "strategy.population": 2**20, "strategy.generations": 2**31 - 1, "model.neurons": 4096,
    "model.channels": 1024, "model.passes": 1000, "lifetime.episodes": 10**5, "lifetime.lifetimes": 10**4,
    "lifetime.max_steps": 10**7, "log.final_lifetimes": 10**5, "blur.states": 64, "supervised.inner_steps": 10**7,
    "supervised.batch_size": 10**6, "supervised.tasks_per_member": 10**5, "parallel.processes": 2**16,
}  # fmt: skip
MAX_LAYERS, MAX_LAYER_SIZE = 64, 65536  # layer lists (model.hidden, supervised.hidden) and projections

# which learners learn on datasets (their functions: agents.supervised.learners.SUPERVISED) and which act in environments
SUPERVISED_KINDS = ("blur", "learned_opt", "maml", "reptile")  # envs are datasets
EITHER_KINDS = ("vsml",)  # envs are datasets or environments, all of one sort


def is_supervised(cfg: TrainConfig) -> bool:
    """True when the run learns on datasets (``agents.supervised.learners``); False when it acts in environments.

    A learner of ``EITHER_KINDS`` is supervised when its first env is a dataset (``validate``
    refuses a mix of datasets and environments).
    """
    kind = cfg.model.kind
    if kind in EITHER_KINDS:
        return bool(cfg.envs) and _is_dataset_name(cfg.envs[0])
    return kind in SUPERVISED_KINDS


def _one_line(err: Exception) -> str:
    msg = str(err).strip().splitlines()
    return msg[0] if msg else type(err).__name__


def load_config(path: str | Path | None, overrides: list[str] = (), check: bool = True) -> TrainConfig:
    """Read a YAML config (safe loader), apply ``key=value`` overrides, type-check, validate.

    ``check=False`` stops after the type check: ``validate`` builds environments and so starts
    JAX's backend, which a multi-process run must not do before ``jax.distributed`` is set up.
    """
    base = OmegaConf.structured(TrainConfig)
    parts: list[Any] = [base]
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} not found: pass the path of a YAML file such as configs/cartpole.yaml")
        try:
            data = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:
            raise ConfigError(f"config file {str(path)!r} is not valid YAML: {_one_line(e)}") from None
        except OSError as e:
            raise ConfigError(f"config file {str(path)!r} cannot be read: {e.strerror or e}") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"config file {str(path)!r} must hold a mapping of fields, not {type(data).__name__}")
        parts.append(_move_legacy_blur_fields(data or {}, str(path)))
    for o in overrides:
        if "=" not in o or o.startswith("="):
            raise ConfigError(f"override {o!r} is not of the form key=value (e.g. strategy.population=32)")
    overrides = [_legacy_override(o) for o in overrides]
    try:
        if overrides:
            parts.append(OmegaConf.from_dotlist(list(overrides)))
        merged = OmegaConf.merge(*parts)
        cfg: TrainConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as e:
        raise ConfigError(f"bad config: {_describe(e)}") from None
    except Exception as e:  # OmegaConf lets YAML, Type and Recursion errors through on odd input
        raise ConfigError(f"bad config: {_one_line(e)} (in overrides {' '.join(overrides)!r})"[:300]) from None
    if check:
        validate(cfg)
    return cfg


def _move_legacy_blur_fields(data: dict, where: str) -> dict:
    """A config written before ``supervised:`` existed (every run directory and config of a
    dataset learner until then) keeps loading: its ``blur.<field>`` for the fields that are now
    ``supervised.<field>`` move there. The same field set to two different values is refused."""
    blur = data.get("blur")
    if not isinstance(blur, dict) or not any(k in blur for k in LEGACY_BLUR_FIELDS):
        return data
    data = {**data, "blur": dict(blur)}
    sup = data.get("supervised") or {}
    if not isinstance(sup, dict):
        return data  # the type check reports it
    sup = dict(sup)
    for key in LEGACY_BLUR_FIELDS:
        if key not in data["blur"]:
            continue
        value = data["blur"].pop(key)
        if key in sup and sup[key] != value:
            raise ConfigError(f"{where}: blur.{key}={value!r} and supervised.{key}={sup[key]!r} disagree; "
                              f"blur.{key} is the old name of supervised.{key}: keep one")
        sup[key] = value
    data["supervised"] = sup
    return data


def _legacy_override(override: str) -> str:
    """``blur.<field>=value`` for a field now under ``supervised`` (e.g. ``blur.meta=gradient``)."""
    key = override.split("=", 1)[0]
    parts = key.split(".")
    if len(parts) >= 2 and parts[0] == "blur" and parts[1] in LEGACY_BLUR_FIELDS:
        return "supervised." + override[len("blur."):]
    return override


def _describe(e: OmegaConfBaseException) -> str:
    key = getattr(e, "full_key", None)
    text = _one_line(e)
    if "not in" in text or "Key '" in text and "not" in text:
        return f"unknown key {key!r}: check the spelling against the fields in configs/*.yaml ({text})"
    if key:
        return f"field {key!r}: {text}"
    return text


def _get(cfg: TrainConfig, dotted: str) -> Any:
    obj: Any = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def validate(cfg: TrainConfig) -> None:
    """Checks beyond types: choices, ranges, names that must be registered."""
    from envs.registry import UnknownEnvError, check_env_name, make_env

    for key, choices in CHOICES.items():
        if _get(cfg, key) not in choices:
            raise ConfigError(f"{key}={_get(cfg, key)!r} is not one of {', '.join(choices)}")
    for key in POSITIVE:
        if _get(cfg, key) < 1:
            raise ConfigError(f"{key}={_get(cfg, key)} must be at least 1")
    if cfg.seed < 0:
        raise ConfigError(f"seed={cfg.seed} must be a non-negative integer")
    for key, most in MAXIMUM.items():
        if (_get(cfg, key) or 0) > most:
            raise ConfigError(f"{key}={_get(cfg, key)} is larger than the supported maximum {most}")
    if cfg.strategy.population < 2:
        raise ConfigError("strategy.population must be at least 2 for an evolution strategy")
    if not 0.0 < cfg.model.connect_prob <= 1.0:
        raise ConfigError(f"model.connect_prob={cfg.model.connect_prob} must be in (0, 1]")
    if cfg.model.plastic_update == "lerp" and not 0 <= cfg.model.plastic_lr <= 1:
        raise ConfigError(f"model.plastic_lr={cfg.model.plastic_lr} must be in [0, 1] with model.plastic_update=lerp "
                          "(a step of that fraction towards the GRU's proposal)")
    if not (math.isfinite(cfg.model.plastic_max) and cfg.model.plastic_max >= 0):
        raise ConfigError(f"model.plastic_max={cfg.model.plastic_max} must be 0 (unbounded, the authors' rule) or a "
                          "positive bound on the plastic vectors into a neuron")
    if not 0 <= cfg.model.action_feedback_from <= cfg.model.passes:
        raise ConfigError(f"model.action_feedback_from={cfg.model.action_feedback_from} must be in 0..model.passes "
                          f"({cfg.model.passes}): the first pass that feeds the previous action")
    if cfg.model.initial_action is not None and cfg.model.initial_action < 0:
        raise ConfigError(f"model.initial_action={cfg.model.initial_action} must be null or an action index (0, 1, ...)")
    if not cfg.strategy.sigma_init > 0:
        raise ConfigError(f"strategy.sigma_init={cfg.strategy.sigma_init} must be positive")
    if cfg.lifetime.max_steps is not None and cfg.lifetime.max_steps < 1:
        raise ConfigError(f"lifetime.max_steps={cfg.lifetime.max_steps} must be at least 1 (or null)")
    validate_parallel(cfg)
    if not cfg.envs:
        raise ConfigError("envs is empty: name at least one environment, e.g. envs=[CartPole-v1]")
    supervised = is_supervised(cfg)
    if cfg.model.kind in EITHER_KINDS and any(_is_dataset_name(n) != supervised for n in cfg.envs):
        raise ConfigError(f"envs={cfg.envs} mixes datasets and environments: model.kind={cfg.model.kind} "
                          "learns on either, but all envs of one run must be of one sort")
    if supervised:
        _validate_supervised(cfg)
        _validate_learner(cfg)
    if cfg.model.kind == "vsml":
        _validate_vsml(cfg)
    for key in ("inputs", "outputs"):
        if getattr(cfg.model, key) is not None and getattr(cfg.model, key) < 1:
            raise ConfigError(f"model.{key}={getattr(cfg.model, key)} must be at least 1 (or null)")
    if any(h < 1 for h in cfg.model.hidden) or not cfg.model.hidden:
        raise ConfigError(f"model.hidden={cfg.model.hidden}: give at least one layer, each of at least 1 neuron")
    _check_layer_sizes("model.hidden", cfg.model.hidden)
    for name in cfg.envs if not supervised else ():
        if _is_dataset_name(name):
            raise ConfigError(
                f"{name!r} is a dataset, but model.kind={cfg.model.kind} runs on environments: name a gymnax "
                f"environment (sfnn envs lists them) or set model.kind to one of {', '.join(SUPERVISED_KINDS)}"
            )
        try:
            check_env_name(name)
            if not name.startswith("brax/"):  # cheap for gymnax: also checks variant parameters and perm seeds
                make_env(name)
        except UnknownEnvError as e:
            raise ConfigError(str(e)) from None
    for name, rng in cfg.fitness.ranges.items():
        if len(rng) != 2 or not rng[1] > rng[0]:
            raise ConfigError(f"fitness.ranges.{name} must be [low, high] with high > low")
    _validate_worst_fraction(cfg, supervised)
    _validate_env_weights(cfg, supervised)
    check_strategy(cfg.strategy)


def _validate_worst_fraction(cfg: TrainConfig, supervised: bool) -> None:
    f = cfg.fitness.worst_fraction
    if not 0.0 < f <= 1.0:
        raise ConfigError(f"fitness.worst_fraction={f} must be in (0, 1]: the share of a member's lifetimes, "
                          "its worst, whose mean is its fitness (1.0: all of them)")
    if f < 1.0 and supervised:
        raise ConfigError(f"fitness.worst_fraction={f} applies to lifetimes in environments; a dataset learner's "
                          "fitness is its mean over supervised.tasks_per_member tasks: leave it at 1.0")
    if f < 1.0 and cfg.lifetime.lifetimes < 2:
        raise ConfigError(f"fitness.worst_fraction={f} needs lifetime.lifetimes >= 2 (got {cfg.lifetime.lifetimes}): "
                          "with one lifetime a member the worst of them is the mean")


def _validate_env_weights(cfg: TrainConfig, supervised: bool) -> None:
    weights = cfg.fitness.weights
    if not weights:
        return
    if supervised:
        raise ConfigError("fitness.weights weighs environments against each other; a dataset learner's fitness "
                          "is its mean over tasks: leave it empty")
    unknown = sorted(set(weights) - set(cfg.envs))
    if unknown:
        raise ConfigError(f"fitness.weights names {', '.join(unknown)}, not among envs ({', '.join(cfg.envs)})")
    for name, w in weights.items():
        if not (math.isfinite(w) and w > 0):
            raise ConfigError(f"fitness.weights.{name}={w} must be a positive number")


def _validate_vsml(cfg: TrainConfig) -> None:
    v = cfg.vsml
    for key, low, most in (("state_size", 1, 1024), ("message_size", 3, 1024)):
        if not low <= getattr(v, key) <= most:
            why = " (channels 0-2 carry reward, previous action and termination)" if key == "message_size" else ""
            raise ConfigError(f"vsml.{key}={getattr(v, key)} must be between {low} and {most}{why}")
    for key in ("init_scale", "genome_scale"):
        if not getattr(v, key) > 0:
            raise ConfigError(f"vsml.{key}={getattr(v, key)} must be positive")
    if any(h < 1 for h in v.hidden):
        raise ConfigError(f"vsml.hidden={v.hidden}: every hidden layer needs at least 1 neuron (or [] for none)")
    _check_layer_sizes("vsml.hidden", v.hidden)


def _check_layer_sizes(key: str, layers: list[int]) -> None:
    if len(layers) > MAX_LAYERS or any(h > MAX_LAYER_SIZE for h in layers):
        raise ConfigError(f"{key}={layers}: at most {MAX_LAYERS} layers of at most {MAX_LAYER_SIZE} units")


def validate_parallel(cfg: TrainConfig) -> None:
    """The ``parallel.*`` checks alone; they import nothing, so they can run before ``jax.distributed``."""
    par = cfg.parallel
    if par.chunk is not None and par.chunk < 0:
        raise ConfigError(f"parallel.chunk={par.chunk} must be 0 (all members at once), a positive count, or null (by backend)")
    if par.lanes is not None and not 1 <= par.lanes <= 1024:
        raise ConfigError(f"parallel.lanes={par.lanes} must be between 1 and 1024, or null (the CPU's vector lanes)")
    if par.devices is not None and par.devices < 0:
        raise ConfigError("parallel.devices must be 0 (all local devices), a positive count, or null (by backend)")
    if not 1 <= par.processes <= MAXIMUM["parallel.processes"]:
        most = MAXIMUM["parallel.processes"]
        raise ConfigError(f"parallel.processes={par.processes} must be in 1..{most} (1: a single process)")
    if not 0 <= par.process_id < par.processes:
        raise ConfigError(f"parallel.process_id={par.process_id} must be in 0..{par.processes - 1} "
                          f"for parallel.processes={par.processes}")
    if par.processes == 1:
        return
    host, _, port = (par.coordinator or "").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"parallel.processes={par.processes} needs parallel.coordinator=HOST:PORT, the address of "
                          f"process 0 that every process can reach (e.g. localhost:12355), not {par.coordinator!r}")
    if is_supervised(cfg):
        raise ConfigError("parallel.processes > 1 is supported for environment learners only; "
                          f"run model.kind={cfg.model.kind} on datasets in one process (parallel.processes=1)")


def _is_dataset_name(name: str) -> bool:
    from envs.datasets import dataset_names

    return name in dataset_names() or name.startswith(("npz:", "idx:"))


def check_dataset_name(name: str) -> None:
    """A dataset name BLUR can learn on: registered, or a user file that exists (npz:PATH, idx:IMAGES,LABELS)."""
    import difflib
    import os

    from envs.datasets import dataset_names
    from envs.registry import env_names

    names = dataset_names()
    if name in names:
        return
    if name.startswith(("npz:", "idx:")):
        paths = name[4:].split(",") if name.startswith("idx:") else [name[4:]]
        if name.startswith("idx:") and len(paths) != 2:
            raise ConfigError(f"dataset {name!r}: give two comma-separated paths, idx:IMAGES,LABELS")
        for path in paths:
            if not os.path.isfile(path):
                raise ConfigError(f"dataset {name!r}: file {path!r} not found; give the path of an existing file")
        return
    if name.partition(":")[0] in env_names():  # an environment, perhaps a variant (CartPole-v1:perm=3)
        raise ConfigError(
            f"{name!r} is an environment, but dataset learners (model.kind=blur, learned_opt, maml, ...) learn on datasets: "
            f"use one of {', '.join(names)}, npz:PATH or idx:IMAGES,LABELS"
        )
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else f"use one of {', '.join(names)}"
    raise ConfigError(f"unknown dataset {name!r}: {hint} (or npz:PATH, idx:IMAGES,LABELS)")


def _validate_supervised(cfg: TrainConfig) -> None:
    b, sv, tt = cfg.blur, cfg.supervised, cfg.supervised.task_transform
    for name in cfg.envs:
        check_dataset_name(name)
    if len(set(cfg.envs)) < len(cfg.envs):
        raise ConfigError(f"envs={cfg.envs} names a dataset twice: list each dataset once")
    if b.init == "backprop" and b.states < 2:
        raise ConfigError(f"blur.init=backprop needs blur.states >= 2 (got {b.states}): set blur.states=2")
    if any(h < 1 for h in sv.hidden):
        raise ConfigError(f"supervised.hidden={sv.hidden}: every hidden layer needs at least 1 neuron (or [] for none)")
    _check_layer_sizes("supervised.hidden", sv.hidden)
    if sv.tasks_per_member < len(cfg.envs):
        raise ConfigError(
            f"supervised.tasks_per_member={sv.tasks_per_member} is fewer than the {len(cfg.envs)} datasets in envs: "
            f"set it to at least {len(cfg.envs)} so every dataset gets a task"
        )
    if tt.classes is not None and tt.classes < 2:
        raise ConfigError(f"supervised.task_transform.classes={tt.classes} must be at least 2 (or null for all classes)")
    if tt.project_dim is not None and not 1 <= tt.project_dim <= MAX_LAYER_SIZE:
        raise ConfigError(f"supervised.task_transform.project_dim={tt.project_dim} must be between 1 and {MAX_LAYER_SIZE} (or null)")
    if sv.truncation is not None and not (1 <= sv.truncation <= sv.inner_steps and sv.inner_steps % sv.truncation == 0):
        raise ConfigError(
            f"supervised.truncation={sv.truncation} must divide supervised.inner_steps={sv.inner_steps} (or be null: no truncation)"
        )
    for section, key in (("supervised", "meta_lr"), ("supervised", "grad_clip"), ("blur", "init_scale"),
                         ("supervised", "weight_scale")):
        value = getattr(getattr(cfg, section), key)
        if not value > 0:
            raise ConfigError(f"{section}.{key}={value} must be positive")


def _validate_learner(cfg: TrainConfig) -> None:
    """Checks of the learner-specific sections (learned_opt.*, maml.*, reptile.*)."""
    kind, b, tt = cfg.model.kind, cfg.supervised, cfg.supervised.task_transform
    dataset_kinds = SUPERVISED_KINDS + EITHER_KINDS  # agents.supervised.learners.SUPERVISED's keys (tests/test_learners.py)
    if kind not in dataset_kinds:
        raise ConfigError(f"model.kind={kind} cannot learn on datasets (yet): give it environments, or use one of "
                          f"{', '.join(dataset_kinds)}")
    if kind == "learned_opt":
        lo = cfg.learned_opt
        if not 1 <= lo.hidden <= 1024:
            raise ConfigError(f"learned_opt.hidden={lo.hidden} must be between 1 and 1024")
        for key in ("lr", "preprocess", "init_scale"):
            if not getattr(lo, key) > 0:
                raise ConfigError(f"learned_opt.{key}={getattr(lo, key)} must be positive")
        if not lo.out_scale >= 0:
            raise ConfigError(f"learned_opt.out_scale={lo.out_scale} must be 0 or positive")
    if kind in ("maml", "reptile"):
        lr = getattr(cfg, kind).inner_lr
        if not lr > 0:
            raise ConfigError(f"{kind}.inner_lr={lr} must be positive")
        if b.meta != "gradient":
            raise ConfigError(f"model.kind={kind} is meta-trained by (pseudo-)gradient steps: set supervised.meta=gradient")
        if tt.project_dim is None or tt.classes is None:
            raise ConfigError(
                f"model.kind={kind} learns an initialisation of fixed input and output sizes: set "
                "supervised.task_transform.project_dim and supervised.task_transform.classes (e.g. 24 and 4)"
            )
        if b.truncation is not None:
            raise ConfigError(f"supervised.truncation={b.truncation} does not apply to model.kind={kind}, which "
                              "adapts through all inner steps: leave it null")


# evosax algorithms this trainer cannot drive: they need extra inputs (a meta-learned network,
# a particle count) beyond a population and its fitness
UNSUPPORTED_STRATEGIES = {"RandomSearch", "SV_CMA_ES", "SV_Open_ES", "LES", "CMAAnchoredLES", "EvoTF_ES"}
FITNESS_SHAPING = ("centered_rank", "standardize", "normalize", "raw")
TIES = ("average", "ordinal")
# the shaping functions (evosax names less "_fitness_shaping_fn") that use ranks only, so that
# strategy.ties applies to them; agents.trainer.ORDINAL_SHAPING has one ordinal twin for each
RANK_BASED_SHAPING = ("weights", "centered_rank")
OPTIMIZERS = ("sgd", "adam")


def default_shaping(cls: type) -> str:
    """An evosax algorithm's own fitness shaping, by its short name ("weights", "centered_rank", "identity", ...)."""
    fn = inspect.signature(cls.__init__).parameters["fitness_shaping_fn"].default
    return fn.__name__.removesuffix("_fitness_shaping_fn")


def check_strategy(s: StrategyConfig) -> None:
    """Everything ``agents.trainer.make_strategy`` would refuse, refused before a run directory exists."""
    from evosax.algorithms import distribution_based_algorithms

    if s.name not in distribution_based_algorithms or s.name in UNSUPPORTED_STRATEGIES:
        ok = ", ".join(sorted(set(distribution_based_algorithms) - UNSUPPORTED_STRATEGIES))
        raise ConfigError(f"strategy.name={s.name!r} is not supported; choose one of {ok}")
    cls = distribution_based_algorithms[s.name]
    params = inspect.signature(cls.__init__).parameters
    if s.fitness_shaping is not None:
        if s.fitness_shaping not in FITNESS_SHAPING:
            raise ConfigError(f"strategy.fitness_shaping={s.fitness_shaping!r} is not one of null, {', '.join(FITNESS_SHAPING)}")
        if default_shaping(cls) == "weights":
            raise ConfigError(f"strategy.fitness_shaping cannot be set for {s.name}: its shaped fitness is its "
                              "recombination weights (rank-based already); leave it null or use a gradient-style "
                              "algorithm such as Open_ES or PGPE")
    if s.ties not in TIES:
        raise ConfigError(f"strategy.ties={s.ties!r} is not one of {', '.join(TIES)}")
    if s.ties != "average":
        shaping = s.fitness_shaping or default_shaping(cls)
        if shaping not in RANK_BASED_SHAPING:
            raise ConfigError(f"strategy.ties={s.ties} needs a rank-based update; {s.name} with fitness shaping "
                              f"{shaping!r} uses the fitness values themselves, where ties need no rule")
    if s.optimizer is not None or s.lr is not None:
        if "optimizer" not in params:
            raise ConfigError(f"strategy.optimizer/strategy.lr cannot be set for {s.name}: it has no optimizer "
                              "(gradient-style algorithms have one: Open_ES, SNES, PGPE, xNES, ...)")
        if s.optimizer is not None and s.optimizer not in OPTIMIZERS:
            raise ConfigError(f"strategy.optimizer={s.optimizer!r} is not one of null, {', '.join(OPTIMIZERS)}")
        if s.lr is None:
            raise ConfigError(f"strategy.optimizer={s.optimizer} needs strategy.lr (its learning rate, e.g. 0.05)")
        if not s.lr > 0:
            raise ConfigError(f"strategy.lr={s.lr} must be positive")


def model_label(cfg: TrainConfig) -> str:
    """Short name of the learner for titles and run directories: sfnn-neuron, hebbian, blur-es, ..."""
    if cfg.model.kind == "sfnn":
        return f"sfnn-{cfg.model.plasticity}"
    if cfg.model.kind == "blur":
        return f"blur-{cfg.supervised.meta}"
    if cfg.model.kind == "maml" and cfg.maml.first_order:
        return "maml-first-order"
    return cfg.model.kind


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain nested dict (for YAML, JSON and wandb)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]


def save_config(cfg: TrainConfig, path: Path) -> None:
    """Write via a temporary file and rename, so a crash never leaves a torn config.yaml."""
    from agents.files import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def as_omegaconf(cfg: TrainConfig) -> DictConfig:
    return OmegaConf.structured(cfg)

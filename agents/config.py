"""The typed run configuration: YAML file + dotted overrides, checked against dataclasses.

OmegaConf merges the pieces and rejects unknown keys and wrong types; ``validate`` adds the
checks that types cannot express (choices, ranges, registered names). Every failure is a
``ConfigError`` whose message names the field and the fix, so the CLI can print one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """Bad configuration; the message is one line meant for the user."""


@dataclass
class ModelConfig:
    kind: str = "sfnn"  # the learner; more kinds arrive with the baselines
    plasticity: str = "synapse"  # synapse | neuron (where the plastic vectors live)
    neurons: int = 32  # total neurons; hidden = neurons - obs size - action count
    channels: int = 4  # M, signal channels per neuron
    connect_prob: float = 0.5  # p, probability of each allowed edge
    passes: int = 2  # propagation passes per environment step
    plastic_lr: float = 0.01  # η in e <- e + η·GRU(x, e)
    init_scale: float = 0.1  # plastic vectors start U(±init_scale)


@dataclass
class LifetimeConfig:
    episodes: int = 8  # episodes per lifetime; plastic state persists across them
    max_steps: Optional[int] = None  # episode step cap; None keeps the environment's own
    lifetimes: int = 1  # lifetimes per member per generation (fitness is their mean)
    wiring: str = "fresh"  # fresh: new per member+lifetime | shared: per generation | fixed: once per run
    terminal_reward: Optional[float] = None  # reward shown to the net after a termination; None: raw reward
    obs_scale: float = 1.0  # observations are multiplied by this before reaching input neurons


@dataclass
class FitnessConfig:
    kind: str = "normalized_weighted"  # normalized_weighted (authors) | mean (plain mean return)
    combine: str = "product"  # several envs: product (authors) | mean
    ranges: dict[str, list[float]] = field(default_factory=dict)  # extra [low, high] return ranges


@dataclass
class StrategyConfig:
    name: str = "CMA_ES"  # any distribution-based evosax algorithm
    population: int = 64
    generations: int = 100
    sigma_init: float = 0.1  # initial search scale


@dataclass
class LogConfig:
    wandb: str = "offline"  # offline | online | disabled
    project: str = "sfnn"
    checkpoint_every: int = 10  # generations between checkpoints (plus the final one)
    keep_checkpoints: int = 3
    final_lifetimes: int = 16  # lifetimes of the best genome evaluated for the summary
    progress: bool = True


@dataclass
class ParallelConfig:
    devices: int = 1  # local devices to shard the population over; 0 = all


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


CHOICES = {
    "model.kind": ("sfnn",),
    "model.plasticity": ("synapse", "neuron"),
    "lifetime.wiring": ("fresh", "shared", "fixed"),
    "fitness.kind": ("normalized_weighted", "mean"),
    "fitness.combine": ("product", "mean"),
    "log.wandb": ("offline", "online", "disabled"),
}
POSITIVE = (
    "model.neurons", "model.channels", "model.passes", "lifetime.episodes", "lifetime.lifetimes",
    "strategy.population", "strategy.generations", "log.checkpoint_every", "log.keep_checkpoints",
    "log.final_lifetimes",
)  # fmt: skip


def _one_line(err: Exception) -> str:
    msg = str(err).strip().splitlines()
    return msg[0] if msg else type(err).__name__


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config (safe loader), apply ``key=value`` overrides, type-check, validate."""
    base = OmegaConf.structured(TrainConfig)
    parts: list[Any] = [base]
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} not found: pass the path of a YAML file such as configs/cartpole.yaml")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {str(path)!r} is not valid YAML: {_one_line(e)}") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"config file {str(path)!r} must hold a mapping of fields, not {type(data).__name__}")
        parts.append(data or {})
    for o in overrides:
        if "=" not in o or o.startswith("="):
            raise ConfigError(f"override {o!r} is not of the form key=value (e.g. strategy.population=32)")
    try:
        if overrides:
            parts.append(OmegaConf.from_dotlist(list(overrides)))
        merged = OmegaConf.merge(*parts)
        cfg: TrainConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as e:
        raise ConfigError(f"bad config: {_describe(e)}") from None
    validate(cfg)
    return cfg


def _describe(e: OmegaConfBaseException) -> str:
    key = getattr(e, "full_key", None)
    text = _one_line(e)
    if "not in" in text or "Key '" in text and "not" in text:
        return f"unknown key {key!r}: check the spelling against configs/cartpole.yaml ({text})"
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
    from envs.registry import UnknownEnvError, check_env_name

    for key, choices in CHOICES.items():
        if _get(cfg, key) not in choices:
            raise ConfigError(f"{key}={_get(cfg, key)!r} is not one of {', '.join(choices)}")
    for key in POSITIVE:
        if _get(cfg, key) < 1:
            raise ConfigError(f"{key}={_get(cfg, key)} must be at least 1")
    if cfg.strategy.population < 2:
        raise ConfigError("strategy.population must be at least 2 for an evolution strategy")
    if not 0.0 < cfg.model.connect_prob <= 1.0:
        raise ConfigError(f"model.connect_prob={cfg.model.connect_prob} must be in (0, 1]")
    if not cfg.strategy.sigma_init > 0:
        raise ConfigError(f"strategy.sigma_init={cfg.strategy.sigma_init} must be positive")
    if cfg.lifetime.max_steps is not None and cfg.lifetime.max_steps < 1:
        raise ConfigError(f"lifetime.max_steps={cfg.lifetime.max_steps} must be at least 1 (or null)")
    if cfg.parallel.devices < 0:
        raise ConfigError("parallel.devices must be 0 (all local devices) or a positive count")
    if not cfg.envs:
        raise ConfigError("envs is empty: name at least one environment, e.g. envs=[CartPole-v1]")
    for name in cfg.envs:
        try:
            check_env_name(name)
        except UnknownEnvError as e:
            raise ConfigError(str(e)) from None
    for name, rng in cfg.fitness.ranges.items():
        if len(rng) != 2 or not rng[1] > rng[0]:
            raise ConfigError(f"fitness.ranges.{name} must be [low, high] with high > low")
    _check_strategy_name(cfg.strategy.name)


def _check_strategy_name(name: str) -> None:
    from evosax.algorithms import distribution_based_algorithms

    if name not in distribution_based_algorithms:
        known = ", ".join(sorted(distribution_based_algorithms))
        raise ConfigError(f"strategy.name={name!r} is not a distribution-based evosax algorithm; choose one of {known}")


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain nested dict (for YAML, JSON and wandb)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]


def save_config(cfg: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def as_omegaconf(cfg: TrainConfig) -> DictConfig:
    return OmegaConf.structured(cfg)

"""The two families of learners, behind one interface: the core trains, finishes, meta-tests and
benchmarks a run without knowing which one it holds.

A *family* is everything that differs between learners that act in environments (``agents.rl``:
SFNN, the baselines, VSML on environments) and learners that learn on datasets
(``agents.supervised``: BLUR, the learned optimizer, MAML, Reptile, VSML on datasets): the
genome, the tasks a generation is scored on, how a population is scored, how a finished run
picks and reports its final genome, the meta-test and the benchmark line. The config chooses
the family once (``family``); the wing is imported by name there, so the core's modules import
neither wing and the wings import only the core (contracts in pyproject.toml).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional

from agents.config import TrainConfig, is_supervised

# family name -> the module whose FAMILY it is
WINGS = {"rl": "agents.rl.family", "supervised": "agents.supervised.family"}


@dataclass(frozen=True)
class Family:
    """What one family gives the core. Every callable takes the run's config first."""

    name: str
    # (cfg, key | None) -> genome: the structure the search explores; with a key, a random start
    template: Callable[..., Any]
    # (cfg, announce) -> None: every check that needs the family's data (a dataset file, an
    # environment's return range), run before a run directory is created; raises ConfigError
    check: Callable[[TrainConfig, bool], None]
    # cfg -> tasks: the environments or datasets a generation is scored on
    tasks: Callable[[TrainConfig], list]
    # tasks -> arrays the generation step takes as an argument (datasets), not as constants
    data: Callable[[list], Any]
    # (cfg, tasks, run_key, devices) -> evaluate(pop, members, gen, k_eval, data) -> (fitness, metrics)
    evaluator: Callable[..., Callable]
    # (cfg, tasks, run_key) -> (step(state, gen, data) -> (state, metrics), init(cfg, genome) -> state)
    # when the config meta-trains by gradient instead of an evolution strategy; else None
    gradient: Callable[..., Optional[tuple[Callable, Callable]]]
    # (cfg, trainer, state, metrics, run_dir, logger) -> summary: pick, save and report the final genome
    finish: Callable[..., dict[str, Any]]
    # (cfg, {name: genome}, n, seed) -> {name: {"fitness": the final evaluation's score, mean over n
    # fresh lifetimes or tasks drawn with seed, the same for every genome; and a per-environment breakdown}}
    score: Callable[..., dict[str, dict[str, Any]]]
    # (run_dir, cfg, envs, lifetimes, out, seed, options) -> the meta-test document (see agents.metatest)
    meta_test: Callable[..., dict[str, Any]]
    # (cfg, generations) -> the JSON line of ``sfnn bench``
    bench: Callable[[TrainConfig, int], dict[str, Any]]


def family_name(cfg: TrainConfig) -> str:
    """``supervised`` when the run's tasks are datasets, else ``rl``."""
    return "supervised" if is_supervised(cfg) else "rl"


def family(cfg: TrainConfig) -> Family:
    """The family of the configured learner."""
    return importlib.import_module(WINGS[family_name(cfg)]).FAMILY

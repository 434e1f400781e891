"""The dataset family (``agents.family.Family``): each learner of ``agents.supervised.learners``
meta-trained on tasks made from datasets, by an evolution strategy or by gradient
(``supervised.meta``), its final genome chosen on fresh tasks, meta-tested against SGD and Adam."""

from __future__ import annotations

from typing import Any, Callable, Optional

import jax

from agents.config import TrainConfig
from agents.family import Family
from agents.supervised import meta
from agents.supervised.bench import bench_datasets
from agents.supervised.finish import finish, score_genomes
from agents.supervised.learners import learner
from agents.supervised.metatest import meta_test_datasets
from agents.supervised.tasks import TaskSource, datas, load_sources


def template(cfg: TrainConfig, key: jax.Array | None = None) -> Any:
    return learner(cfg).template(cfg, key)


def check(cfg: TrainConfig, announce: bool) -> None:
    """The datasets load and their class subsets are possible (bad files become ConfigErrors)."""
    load_sources(cfg)


def evaluator(cfg: TrainConfig, tasks: list[TaskSource], run_key: jax.Array, devices: list[jax.Device]) -> Callable:
    return meta.es_evaluator(cfg, tasks, run_key)


def gradient(cfg: TrainConfig, tasks: list[TaskSource], run_key: jax.Array) -> Optional[tuple[Callable, Callable]]:
    """``supervised.meta=gradient``: Adam through the unrolled inner loop replaces the strategy."""
    if cfg.supervised.meta != "gradient":
        return None
    return meta.gradient_generation_fn(cfg, tasks, run_key), meta.gradient_init_state


FAMILY = Family(
    name="supervised",
    template=template,
    check=check,
    tasks=load_sources,
    data=datas,
    evaluator=evaluator,
    gradient=gradient,
    finish=finish,
    score=score_genomes,
    meta_test=meta_test_datasets,
    bench=bench_datasets,
)

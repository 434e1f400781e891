"""``sfnn bench`` for dataset learners: an agent-step is one inner step of one member on one task."""

from __future__ import annotations

import resource
from typing import Any

import jax

from agents.bench import time_generations, timing_fields
from agents.config import TrainConfig
from agents.cpu import cpu_info
from agents.provenance import package_versions
from agents.trainer import Trainer


def bench_datasets(cfg: TrainConfig, generations: int = 2) -> dict[str, Any]:
    """``sfnn bench`` for dataset learners: time whole generations; an agent-step is one inner step of one member on one task."""
    trainer = Trainer.build(cfg)
    compile_s, times = time_generations(trainer, generations)
    members = cfg.strategy.population if cfg.supervised.meta == "es" else 1
    steps = members * cfg.supervised.tasks_per_member * cfg.supervised.inner_steps
    return {
        **timing_fields(steps, times),
        "compile_s": round(compile_s, 2),
        "population": members,
        "devices": len(trainer.devices) if cfg.supervised.meta == "es" else 1,
        "backend": jax.default_backend(),
        "device_kind": trainer.devices[0].device_kind,
        **cpu_info(),
        "packages": package_versions(),  # jax/jaxlib above all: a figure holds for the build it was measured with
        "model": cfg.model.kind,
        "meta": cfg.supervised.meta,
        "genome_params": trainer.num_params,
        "agent_steps_per_generation": steps,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }

"""``sfnn bench``: compile once, time whole generations, report agent-steps per second.

An agent-step is one network step of one agent in one environment (all lifetime steps are
computed, including those after an agent's last episode, as the compiled program does).
"""

from __future__ import annotations

import resource
import time
from typing import Any

import jax
import jax.numpy as jnp

from agents.config import TrainConfig, model_label
from agents.trainer import Trainer


def time_generations(trainer: Trainer, generations: int) -> tuple[float, float]:
    """(compile seconds, seconds per generation): the first generation compiles, the next are timed."""
    state = trainer.init_state()
    t = time.perf_counter()
    state, m = trainer.generation(state, jnp.int32(0))
    jax.block_until_ready(m)
    first = time.perf_counter() - t
    t = time.perf_counter()
    for g in range(1, generations + 1):
        state, m = trainer.generation(state, jnp.int32(g))
    jax.block_until_ready(m)
    per_gen = (time.perf_counter() - t) / generations
    return max(first - per_gen, 0.0), per_gen


def bench(cfg: TrainConfig, generations: int = 2) -> dict[str, Any]:
    """Time SFNN generations; agent-steps count every step of every lifetime of every member."""
    trainer = Trainer.build(cfg)
    compile_s, per_gen = time_generations(trainer, generations)
    steps = sum(
        cfg.strategy.population * cfg.lifetime.lifetimes * cfg.lifetime.episodes * task.env.max_steps
        for task in trainer.tasks
    )
    topo = {t.env.name: {"obs": t.env.obs_size, "actions": t.env.n_actions} for t in trainer.tasks}
    return {
        "agent_steps_per_s": round(steps / per_gen, 1),
        "compile_s": round(compile_s, 2),
        "generation_s": round(per_gen, 3),
        "population": cfg.strategy.population,
        "devices": len(trainer.devices),
        "backend": jax.default_backend(),
        "model": model_label(cfg),
        "neurons": cfg.model.neurons,
        "channels": cfg.model.channels,
        "genome_params": trainer.num_params,
        "envs": topo,
        "agent_steps_per_generation": steps,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }

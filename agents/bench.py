"""``sfnn bench``: compile once, time whole generations, report agent-steps per second.

An agent-step is one network step of one agent in one environment (all lifetime steps are
computed, including those after an agent's last episode, as the compiled program does).
The environment's share of a generation is measured by running the same lifetimes (batch,
episodes, steps) with a policy that does nothing, compiled the same way; the rest of the
generation is the network (plus the ES's ask and tell, small next to either).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp

from agents.config import TrainConfig
from agents.family import family
from agents.trainer import Trainer


def time_generations(trainer: Trainer, generations: int) -> tuple[float, list[float]]:
    """(compile seconds, seconds of each timed generation): the first generation compiles, the
    next ``generations`` are timed one by one, so a noisy machine shows in their spread."""
    state = trainer.init_state()
    t = time.perf_counter()
    state, m = trainer.generation(state, jnp.int32(0))
    jax.block_until_ready(m)
    first = time.perf_counter() - t
    times = []
    for g in range(1, generations + 1):
        t = time.perf_counter()
        state, m = trainer.generation(state, jnp.int32(g))
        jax.block_until_ready(m)
        times.append(time.perf_counter() - t)
    return max(first - statistics.median(times), 0.0), times


def timing_fields(steps: int, times: list[float]) -> dict[str, float]:
    """Throughput from the median generation (robust to a slow one) and from the fastest (what
    the machine can do when nothing else competes for it), with the generation times."""
    med, best = statistics.median(times), min(times)
    return {
        "agent_steps_per_s": round(steps / med, 1),
        "agent_steps_per_s_best": round(steps / best, 1),
        "generation_s": round(med, 3),
        "generation_s_min": round(best, 3),
    }


def bench(cfg: TrainConfig, generations: int = 2) -> dict[str, Any]:
    """The JSON line of ``sfnn bench``: the configured learner's family times its generations."""
    return family(cfg).bench(cfg, generations)


def device_peak_mb(devices: list[jax.Device]) -> float | None:
    """The largest peak of accelerator memory in use over ``devices`` (MiB), from the runtime's
    allocator statistics; None where the backend keeps none (CPU: see ``peak_rss_mb``)."""
    local = [d for d in devices if d.process_index == jax.process_index()]  # others' stats are not readable here
    peaks = [(d.memory_stats() or {}).get("peak_bytes_in_use") for d in local]
    peaks = [p for p in peaks if p is not None]
    return round(max(peaks) / 2**20, 1) if peaks else None

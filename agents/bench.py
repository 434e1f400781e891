"""``sfnn bench``: compile once, time whole generations, report agent-steps per second.

An agent-step is one network step of one agent in one environment (all lifetime steps are
computed, including those after an agent's last episode, as the compiled program does).
The environment's share of a generation is measured by running the same lifetimes (batch,
episodes, steps) with a policy that does nothing, compiled the same way; the rest of the
generation is the network (plus the ES's ask and tell, small next to either).
"""

from __future__ import annotations

import os
import platform
import re
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


ISA_ORDER = ("SSE4_2", "AVX", "AVX2", "AVX512")  # XLA's --xla_cpu_max_isa names, narrowest first


def cpu_info(cpuinfo: str | None = None, xla_flags: str | None = None) -> dict[str, Any]:
    """``cpu``: the host CPU's model name; ``cpu_isa``: the widest x86 vector ISA it has (AVX512,
    AVX2, AVX, SSE4_2; on other machines its architecture, e.g. aarch64); ``xla_max_isa``: a cap
    set by ``--xla_cpu_max_isa`` in XLA_FLAGS (null if none); ``vector_isa``: what XLA may use."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    name = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    flags_line = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    flags = set(flags_line.group(1).split()) if flags_line else set()
    isa = next((i for i, f in (("AVX512", "avx512f"), ("AVX2", "avx2"), ("AVX", "avx"), ("SSE4_2", "sse4_2"))
                if f in flags), platform.machine() or "unknown")  # fmt: skip
    cap = re.search(r"--xla_cpu_max_isa=(\w+)", os.environ.get("XLA_FLAGS", "") if xla_flags is None else xla_flags)
    cap_isa = cap.group(1).upper() if cap else None
    effective = isa
    if cap_isa in ISA_ORDER and isa in ISA_ORDER and ISA_ORDER.index(cap_isa) < ISA_ORDER.index(isa):
        effective = cap_isa
    return {"cpu": name.group(1).strip() if name else (platform.processor() or platform.machine()),
            "cpu_isa": isa, "xla_max_isa": cap_isa, "vector_isa": effective}


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

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
import resource
import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp

from agents.config import TrainConfig, model_label
from agents.trainer import EVAL_COMPILER_OPTIONS, Trainer, member_chunk
from envs.lifetime import run_lifetimes
from envs.registry import EnvAdapter


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


def env_seconds(env: EnvAdapter, batch: int, episodes: int, repeats: int, mode: str = "consecutive") -> float:
    """Seconds for ``batch`` lifetimes of ``episodes`` episodes with a do-nothing policy
    (action 0, or the zero vector): what the environment alone costs (compiled first)."""

    def idle(state, obs, reward, terminated):
        b = obs.shape[0]
        return (jnp.zeros((b, env.n_actions)) if env.continuous else jnp.zeros((b,), jnp.int32)), state

    run = jax.jit(lambda k: run_lifetimes(env, idle, (), k, episodes, mode=mode).returns, compiler_options=EVAL_COMPILER_OPTIONS)
    keys = jax.random.split(jax.random.key(0), batch)
    jax.block_until_ready(run(keys))
    t = time.perf_counter()
    for _ in range(repeats):
        out = run(keys)
    jax.block_until_ready(out)
    return (time.perf_counter() - t) / repeats


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
    """Time SFNN generations; agent-steps count every step of every lifetime of every member."""
    trainer = Trainer.build(cfg)
    compile_s, times = time_generations(trainer, generations)
    per_gen = statistics.median(times)
    steps = sum(
        cfg.strategy.population * cfg.lifetime.lifetimes * cfg.lifetime.episodes * task.env.max_steps
        for task in trainer.tasks
    )
    # each process evaluates its share of the population (all of it in a one-process run)
    batch = cfg.strategy.population * cfg.lifetime.lifetimes // jax.process_count()
    topo = {}
    for t in trainer.tasks:
        env_s = env_seconds(t.env, batch, cfg.lifetime.episodes, generations, cfg.lifetime.episode_mode)
        topo[t.env.name] = {
            "obs": t.env.obs_size,
            "actions": t.env.n_actions,
            "continuous": t.env.continuous,
            "env_s_per_generation": round(env_s, 3),
            "env_steps_per_s": round(batch * cfg.lifetime.episodes * t.env.max_steps / env_s, 1),
        }
    env_share = min(sum(v["env_s_per_generation"] for v in topo.values()) / per_gen, 1.0)
    return {
        **timing_fields(steps, times),
        "compile_s": round(compile_s, 2),
        "population": cfg.strategy.population,
        "devices": len(trainer.devices),  # of every process
        "processes": jax.process_count(),
        "backend": jax.default_backend(),
        "device_kind": trainer.devices[0].device_kind,  # e.g. "NVIDIA H200": says which machine a row is from
        **cpu_info(),  # the CPU and the vector ISA XLA may use: the same code runs 2-4x apart across them
        "model": model_label(cfg),
        **model_sizes(cfg),
        "genome_params": trainer.num_params,
        "envs": topo,
        "env_time_share": round(env_share, 3),  # environment stepping (and auto-reset)
        "network_time_share": round(1.0 - env_share, 3),  # the rest: the network, lifetime loop, ES
        "agent_steps_per_generation": steps,
        "chunk": member_chunk(cfg.parallel.chunk, trainer.devices[0].platform),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device_peak_mb": device_peak_mb(trainer.devices),
    }


def bench_datasets(cfg: TrainConfig, generations: int = 2) -> dict[str, Any]:
    """``sfnn bench`` for dataset learners: time whole generations; an agent-step is one inner step of one member on one task."""
    trainer = Trainer.build(cfg)
    compile_s, times = time_generations(trainer, generations)
    members = cfg.strategy.population if cfg.blur.meta == "es" else 1
    steps = members * cfg.blur.tasks_per_member * cfg.blur.inner_steps
    return {
        **timing_fields(steps, times),
        "compile_s": round(compile_s, 2),
        "population": members,
        "devices": len(trainer.devices) if cfg.blur.meta == "es" else 1,
        "backend": jax.default_backend(),
        "device_kind": trainer.devices[0].device_kind,
        **cpu_info(),
        "model": cfg.model.kind,
        "meta": cfg.blur.meta,
        "genome_params": trainer.num_params,
        "agent_steps_per_generation": steps,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def device_peak_mb(devices: list[jax.Device]) -> float | None:
    """The largest peak of accelerator memory in use over ``devices`` (MiB), from the runtime's
    allocator statistics; None where the backend keeps none (CPU: see ``peak_rss_mb``)."""
    local = [d for d in devices if d.process_index == jax.process_index()]  # others' stats are not readable here
    peaks = [(d.memory_stats() or {}).get("peak_bytes_in_use") for d in local]
    peaks = [p for p in peaks if p is not None]
    return round(max(peaks) / 2**20, 1) if peaks else None


def model_sizes(cfg: TrainConfig) -> dict[str, Any]:
    """The size fields of the configured learner for the benchmark line (each kind has its own)."""
    m = cfg.model
    if m.kind == "sfnn":
        return {"neurons": m.neurons, "channels": m.channels, "plasticity": m.plasticity,
                "passes": m.passes, "learn_every": m.learn_every, "propagation": m.propagation,
                "episode_mode": cfg.lifetime.episode_mode}
    if m.kind == "vsml":
        return {"hidden": list(cfg.vsml.hidden), "state_size": cfg.vsml.state_size, "message_size": cfg.vsml.message_size}
    return {"hidden": list(m.hidden)}  # baselines (mlp, hebbian, rnn)

"""``sfnn bench`` for learners in environments: agent-steps a second over every step of every
lifetime of every member, and how much of a generation the environments take."""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp

from agents.bench import device_peak_mb, time_generations, timing_fields
from agents.config import TrainConfig, model_label
from agents.cpu import cpu_info
from agents.provenance import package_versions
from agents.rl.evaluate import padding_lanes
from agents.rl.policy import env_learner
from agents.trainer import EVAL_COMPILER_OPTIONS, Trainer, member_chunk
from envs.lifetime import run_lifetimes
from envs.registry import EnvAdapter


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


def bench_envs(cfg: TrainConfig, generations: int = 2) -> dict[str, Any]:
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
        "packages": package_versions(),  # jax/jaxlib above all: a figure holds for the build it was measured with
        "model": model_label(cfg),
        **env_learner(cfg).sizes(cfg),
        "genome_params": trainer.num_params,
        "envs": topo,
        "env_time_share": round(env_share, 3),  # environment stepping (and auto-reset)
        "network_time_share": round(1.0 - env_share, 3),  # the rest: the network, lifetime loop, ES
        "agent_steps_per_generation": steps,
        "chunk": member_chunk(cfg.parallel.chunk, trainer.devices[0].platform),
        "lanes": padding_lanes(cfg),  # lifetime batches padded to a multiple of it
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device_peak_mb": device_peak_mb(trainer.devices),
    }

"""Shared test setup: small configs and a CLI runner."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("WANDB_SILENT", "true")
# Tests check behaviour (learning happens, files, exit codes, exact resume between two runs of the
# same build), never figures of the optimised programs; most of their time is XLA compilation, and
# its cheapest backend settings halve it (a 3-generation CartPole run: 70 s -> 33 s on 2 busy cores).
# Results then differ from an optimised build in the last bits, so the flags go to every process of
# the suite alike (in-process JAX and the sfnn commands it starts); XLA_FLAGS set outside wins.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
os.environ.setdefault("XLA_FLAGS", FAST_COMPILE)
# The suite runs on the CPU even where a GPU is present, as CI does (same programs, same bits;
# several tests fork CPU devices). `JAX_PLATFORMS=cuda make test TEST_WORKERS=0` runs it on the GPU.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Many tests compile the same programs again (the tiny CartPole lifetime, in-process and in each
# sfnn command they start): one XLA compilation cache for the session, shared by every process,
# turns the repeats into loads (a meta-test command: 76 s -> 35 s on 2 busy cores, the same
# numbers). Its key covers the program, JAX's version and XLA_FLAGS; it lives only as long as the
# session (pytest_sessionfinish), so no executable outlives the machine it was compiled for.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _SESSION_CACHE = tempfile.mkdtemp(prefix="sfnn-tests-xla-")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
else:
    _SESSION_CACHE = None

import pytest  # noqa: E402

from agents.trainer import single_threaded_blas  # noqa: E402

# Every test under the BLAS threading a run uses (one thread): a test outside a Trainer (an ES
# loop written in the test) then follows the same path whatever ran before it.
single_threaded_blas()


def pytest_sessionfinish(session, exitstatus):
    if _SESSION_CACHE is not None:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


ROOT = Path(__file__).resolve().parents[1]
SFNN = [sys.executable, "-m", "agents.cli"]

# a configuration small enough for a test: short lifetimes, tiny population
TINY = [
    "strategy.population=8",
    "strategy.generations=3",
    "lifetime.episodes=2",
    "lifetime.max_steps=50",
    "log.wandb=disabled",
    "log.final_lifetimes=2",
    "log.progress=false",
    "log.checkpoint_every=1",
    "log.figures=false",  # wiring and plastic-state figures cost a compile; tests/test_viz.py turns them on
]


def run_cli(*args: str, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*SFNN, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.fixture
def cli():
    return run_cli


def run_main(*args: str) -> subprocess.CompletedProcess:
    """``sfnn ARGS`` in this process, as ``run_cli`` reports it (exit code, stdout, stderr). For
    commands that compile nothing (``compare`` and the like), where a fresh interpreter's imports
    would be most of the time (~5 s a call); an unexpected exception propagates and fails the test."""
    import contextlib
    import io

    from agents.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return subprocess.CompletedProcess(["sfnn", *args], rc, out.getvalue(), err.getvalue())


def fast_and_reference(spec, population: int, channels: int, **genome_options):
    """Random genomes and states for ``population`` agents, as the readable single-agent
    reference (vmapped ``network.step``) and the population-last fast path:
    (reference state, fast state, reference step (s, obs (P, n), r), fast step (s, obs (n, P), r))."""
    import jax
    import jax.numpy as jnp

    from sfnn import init_genome, init_state, step
    from sfnn.population import init_population_state, population_step, to_population_last

    genomes = jax.vmap(lambda k: init_genome(k, channels, **genome_options))(jax.random.split(jax.random.key(0), population))
    if "plastic_lr_scale" in genomes:  # one evolved rate scale per agent, not all 1
        genomes["plastic_lr_scale"] = genomes["plastic_lr_scale"] * (0.5 + jnp.arange(population)[:, None] / population)
    keys = jax.random.split(jax.random.key(1), population)
    fast_genomes = to_population_last(genomes)
    ref_step = jax.jit(jax.vmap(lambda g, s, o, r: step(g, spec, s, o, r)))
    fast_step = jax.jit(lambda s, o, r: population_step(fast_genomes, spec, s, o, r))

    def reference(s, o, r):
        # The reference's message sums are matrix products, which JAX runs in TF32 on a GPU by
        # default (1e-6 off at 72 neurons on an H200); the fast path multiplies and adds in f32.
        with jax.default_matmul_precision("highest"):
            return ref_step(genomes, s, o, r)

    return jax.vmap(lambda k: init_state(k, spec))(keys), init_population_state(keys, spec), reference, fast_step


def assert_resumes_exactly(trainer, state, generation: int, tmp_path) -> None:
    """``state`` survives an orbax checkpoint round trip: the next generation from the restored
    state equals the one from the original, bit for bit (state and metrics)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from agents import checkpoint as ckpt

    mngr = ckpt.manager(tmp_path / "ck", 1)
    ckpt.save(mngr, generation, state, {"generation": generation})
    _, restored, _ = ckpt.restore(mngr, trainer.init_state())
    g = jnp.int32(generation)
    for x, y in zip(jax.tree.leaves(trainer.generation(state, g)), jax.tree.leaves(trainer.generation(restored, g))):
        np.testing.assert_array_equal(x, y)

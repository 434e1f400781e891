"""The population sharded over two (forced) CPU devices, or evaluated in chunks, gives exactly the one-device result."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPT = r"""
import json, sys
import jax, jax.numpy as jnp
from agents.config import load_config
from agents.trainer import Trainer, metrics_to_host
out = {}
for devices, chunk in ((1, 0), (2, 0), (1, 2), (2, 2)):
    cfg = load_config(None, ["strategy.population=8", "lifetime.episodes=2", "lifetime.max_steps=30",
                             "model.neurons=12", "log.wandb=disabled", f"parallel.devices={devices}",
                             f"parallel.chunk={chunk}"])
    tr = Trainer.build(cfg)
    state = tr.init_state()
    rows = []
    for g in range(2):
        state, m = tr.generation(state, jnp.int32(g))
        rows.append(metrics_to_host(m))
    out[f"{devices}/{chunk}"] = {"rows": rows, "mean": [float(x) for x in state.mean[:8]],
                    "n_devices": len(jax.devices())}
print(json.dumps(out))
"""


def test_sharded_and_chunked_equal_unsharded():
    # two CPU devices on any machine (a GPU machine would otherwise give its own devices)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["2/0"]["n_devices"] == 2
    for other in ("2/0", "1/2", "2/2"):  # 2 devices; chunks of 2 members; both
        assert out["1/0"]["rows"] == out[other]["rows"], other
        assert out["1/0"]["mean"] == out[other]["mean"], other


def test_default_chunk_follows_the_backend():
    """CPU evaluates its layout's chunk (64 members: cache-sized) at a time; an accelerator takes
    the whole shard, since chunks there would serialise the population; an explicit
    ``parallel.chunk`` always wins."""
    from agents.cpu import cpu_layout
    from agents.trainer import member_chunk

    assert member_chunk(None, "cpu") == cpu_layout().chunk  # 64 members (agents/cpu.py)
    assert member_chunk(None, "gpu") == 0 and member_chunk(None, "tpu") == 0
    assert member_chunk(0, "cpu") == 0 and member_chunk(16, "gpu") == 16


def test_device_peak_memory_is_the_largest_allocator_peak():
    from agents.bench import device_peak_mb

    class Dev:
        process_index = 0

        def __init__(self, stats):
            self.stats = stats

        def memory_stats(self):
            return self.stats

    assert device_peak_mb([Dev(None), Dev(None)]) is None  # CPU: no allocator statistics
    assert device_peak_mb([Dev({"peak_bytes_in_use": 3 * 2**20}), Dev({"peak_bytes_in_use": 5 * 2**20})]) == 5.0


@pytest.mark.parametrize("kind", ["sfnn", "vsml"])
def test_lifetime_batches_are_padded_to_whole_vectors_without_changing_returns(kind):
    """Batches that are not a multiple of the vector's lanes (16 on AVX-512, 8 on AVX2, 4 on
    SSE/NEON: ``parallel.lanes``), or shorter than 16, are padded with copies of the last one for
    the population-last learners (a loop's scalar remainder is 4-8× slower per agent); each
    lifetime's returns are the same bits under every layout as in a batch of 32, which needs no
    padding."""
    import jax
    import numpy as np

    from agents.config import load_config
    from agents.rl.evaluate import env_tasks, lifetime_returns
    from agents.rl.policy import genome_template

    base = [f"model.kind={kind}", "model.neurons=12", "lifetime.episodes=2", "lifetime.max_steps=40", "log.wandb=disabled"]
    cfg = load_config(None, base)
    task = env_tasks(cfg)[0]
    n = 32
    k = jax.random.split(jax.random.key(0), 3 * n)
    genomes = jax.vmap(lambda key: genome_template(cfg, key))(k[:n])

    def returns(lanes, b):
        c = load_config(None, [*base, f"parallel.lanes={lanes}"])
        run = jax.jit(lambda g, wk, ek: lifetime_returns(c, task, g, wk, ek))
        return np.asarray(run(jax.tree.map(lambda x: x[:b], genomes), k[n : n + b], k[2 * n : 2 * n + b]))

    full = returns(16, n)
    assert len({tuple(r) for r in full}) > 1  # the lifetimes differ, so the rows cannot be mixed up
    for lanes, b in ((16, 3), (16, 20), (8, 20), (4, 18), (1, 17)):  # padded to 16, 32, 24, 20; none
        part = returns(lanes, b)
        assert part.shape == (b, 2)
        np.testing.assert_array_equal(part, full[:b], err_msg=f"lanes={lanes}, batch {b}")


def test_the_layout_follows_the_vector_isa_xla_may_use(monkeypatch):
    """The lanes a batch is padded to come from the CPU's widest vectors, after any
    ``--xla_cpu_max_isa`` cap; machines the table does not know (ARM's NEON) get 128-bit lanes;
    ``parallel.lanes`` wins; on an accelerator the padding stays at 16."""
    from agents import cpu
    from agents.config import ConfigError, load_config
    from agents.rl import evaluate

    assert [cpu.cpu_layout(i).lanes for i in ("AVX512", "AVX2", "AVX", "SSE4_2", "aarch64")] == [16, 8, 8, 4, 4]
    # a multiple of the lanes, never fewer than 16 lifetimes (shorter loops run as scalar code)
    assert [cpu.padded_batch(b, 8) for b in (1, 8, 16, 17, 40)] == [16, 16, 16, 24, 40]
    assert [cpu.padded_batch(b, 16) for b in (1, 17, 40, 64)] == [16, 32, 48, 64]
    monkeypatch.setattr(cpu, "cpu_info", lambda: {"vector_isa": "AVX2"})
    assert cpu.cpu_layout() == cpu.LAYOUTS["AVX2"]
    cfg = load_config(None, ["log.wandb=disabled"])
    assert evaluate.padding_lanes(cfg) == 8
    assert evaluate.padding_lanes(load_config(None, ["log.wandb=disabled", "parallel.lanes=2"])) == 2
    monkeypatch.setattr(evaluate.jax, "default_backend", lambda: "gpu")
    assert evaluate.padding_lanes(cfg) == 16
    with pytest.raises(ConfigError, match="parallel.lanes"):
        load_config(None, ["parallel.lanes=0"])


def test_default_device_count_gives_each_cpu_device_a_vector_batch(monkeypatch):
    """``parallel.devices: null`` on a CPU: as many devices (one per core at most) as split the
    population evenly into shares of 16 or more; the command line makes them before JAX starts."""
    from agents import devices
    from agents.config import load_config

    assert [devices.cpu_device_count(m, 2) for m in (8, 30, 31, 32, 64, 100, 128, 130, 1024)] == [1, 1, 1, 2, 2, 2, 2, 2, 2]
    assert devices.cpu_device_count(48, 4) == 3 and devices.cpu_device_count(4096, 16) == 16
    monkeypatch.setattr(devices, "usable_cores", lambda: 2)
    monkeypatch.setattr(devices.os, "cpu_count", lambda: 2)
    # several processes (and dataset learners) keep one device each unless told
    several = load_config(None, ["strategy.population=128", "parallel.processes=2", "parallel.coordinator=h:1"])
    assert devices.splittable_members(several) == 0
    assert devices.splittable_members(load_config(None, ["strategy.population=128"])) == 128
    for args, flags in [((None, 128), "--xla_force_host_platform_device_count=2"), ((None, 24), ""),
                        ((None, 0), ""), ((2, 8), "--xla_force_host_platform_device_count=2"), ((3, 8), ""),
                        ((0, 8), "--xla_force_host_platform_device_count=2")]:  # 0: all, one per core
        monkeypatch.delenv("XLA_FLAGS", raising=False)
        devices.expose_cpu_devices(*args)
        assert os.environ.get("XLA_FLAGS", "") == flags, args
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1 --xla_cpu_ftz=true")
    devices.expose_cpu_devices(2, 128)
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=1 --xla_cpu_ftz=true"

"""The population sharded over two (forced) CPU devices, or evaluated in chunks, gives exactly the one-device result."""

import json
import os
import subprocess
import sys

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
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["2/0"]["n_devices"] == 2
    for other in ("2/0", "1/2", "2/2"):  # 2 devices; chunks of 2 members; both
        assert out["1/0"]["rows"] == out[other]["rows"], other
        assert out["1/0"]["mean"] == out[other]["mean"], other

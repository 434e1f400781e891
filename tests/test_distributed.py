"""Two `sfnn train` processes joined through jax.distributed give exactly the single-process run.

The two processes run on this machine, one CPU device each, and exchange results through
gloo; only process 0 writes a run directory.
"""

import json
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SFNN, TINY

CARTPOLE = "configs/cartpole.yaml"
ARGS = [CARTPOLE, *(o for o in TINY if not o.startswith("strategy.generations=")), "strategy.generations=2"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _metrics(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*SFNN, "train", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_two_processes_equal_one_process(tmp_path):
    multi = [*ARGS, "parallel.processes=2", f"parallel.coordinator=localhost:{_free_port()}"]
    procs = {  # all three at once: the reference run overlaps the two-process one
        "single": _start(*ARGS, "--out", str(tmp_path / "single")),
        "process 0": _start(*multi, "parallel.process_id=0", "--out", str(tmp_path / "multi")),
        "process 1": _start(*multi, "parallel.process_id=1", "--out", str(tmp_path / "process1")),
    }
    out, deadline = {}, time.monotonic() + 600
    try:
        for name, p in procs.items():
            out[name] = p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    for name, p in procs.items():
        assert p.returncode == 0, f"{name}:\n{out[name][-3000:]}"
    assert "process 1 of 2: done" in out["process 1"]
    assert not (tmp_path / "process1").exists()  # process 1 writes nothing
    single, multi_dir = tmp_path / "single", tmp_path / "multi"
    assert len(_metrics(single)) == 2
    assert _metrics(multi_dir) == _metrics(single)
    assert sorted(p.name for p in multi_dir.iterdir()) == sorted(p.name for p in single.iterdir())
    with np.load(single / "genomes.npz") as a, np.load(multi_dir / "genomes.npz") as b:
        assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)


BAD = [
    (["parallel.processes=2"], "parallel.coordinator"),
    (["parallel.processes=2", "parallel.coordinator=localhost"], "parallel.coordinator"),
    (["parallel.processes=2", "parallel.process_id=2", "parallel.coordinator=localhost:1"], "parallel.process_id"),
    (["parallel.process_id=1"], "parallel.process_id"),
    (["parallel.processes=0"], "parallel.processes"),
    (["parallel.processes=2", "parallel.coordinator=localhost:1", "model.kind=blur"], "model.kind=blur"),
]


@pytest.mark.parametrize("overrides,needle", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_process_settings(cli, tmp_path, overrides, needle):
    r = cli("train", CARTPOLE, *overrides, "log.wandb=disabled", "--out", str(tmp_path / "run"), timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_bench_sweep_refuses_several_processes(cli):
    r = cli("bench", CARTPOLE, "parallel.processes=2", "parallel.coordinator=localhost:1", "--sweep",
            "strategy.population=8,16", timeout=120)
    assert r.returncode == 2 and "--sweep" in r.stderr and "Traceback" not in r.stderr

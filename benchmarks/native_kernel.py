"""Is XLA's loop for the synapse GRU far from what this CPU can do? A hand-written kernel, measured.

``benchmarks/edge_gru_kernel.cc`` is the per-edge GRU update of one block (the loop that is
75–90 % of a ``synapse`` step) written by hand: 16 agents per AVX-512 vector, branch-free
exp/tanh approximations, a reciprocal estimate instead of divisions, fused multiply-adds, the
edge vectors updated in place (no copy into the pass loop's carry), split over XLA's CPU
thread pool. This script builds it with the system C++ compiler (``-march=native``),
registers it as an XLA FFI custom call, and times

* ``block``: one update of the hidden→hidden block (26 × 26 edges, population 64) by the
  kernel and by XLA's fused loop (``sfnn.population._gru`` on materialised terms, as in the
  training path), interleaved; run it under ``taskset -c 0`` for the per-core figure;
* ``lifetime``: whole CartPole lifetimes at ``configs/bench_paper.yaml``'s shapes with the
  training path (``current``) and with the kernel in its place (``native``), as in
  ``benchmarks/synapse_kernel.py``.

    .venv/bin/python benchmarks/native_kernel.py [--pop 64] [--steps 200] [--rounds 5] [--sigmoid-via-tanh]

Nothing here is used by ``sfnn``: the kernel matched XLA's loop instead of beating it
(docs/PERFORMANCE.md), so the library keeps the pure-XLA path.
"""

from __future__ import annotations

import argparse
import ctypes
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import sfnn.population as popmod  # noqa: E402
from agents.trainer import EVAL_COMPILER_OPTIONS  # noqa: E402
from sfnn.network import SFNNSpec, plastic_update  # noqa: E402
from sfnn.topology import Topology  # noqa: E402

SOURCE = Path(__file__).with_name("edge_gru_kernel.cc")
TARGET = "sfnn_bench_edge_gru"
FLAGS = ["-std=c++20", "-O3", "-march=native", "-mprefer-vector-width=512", "-ffp-contract=fast",
         "-fno-math-errno", "-fPIC", "-shared", "-w"]


def build(out_dir: Path, sigmoid_via_tanh: bool = False, cxx: str | None = None) -> Path:
    """Compile the kernel into ``out_dir``; raises RuntimeError with the compiler's message."""
    cxx = cxx or shutil.which("c++") or shutil.which("g++")
    if not cxx:
        raise RuntimeError("no C++ compiler found")
    lib = out_dir / ("edge_gru_tanh.so" if sigmoid_via_tanh else "edge_gru.so")
    cmd = [*shlex.split(cxx), *FLAGS, *(["-DSIGMOID_VIA_TANH"] if sigmoid_via_tanh else []),
           f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", str(lib)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return lib


def register(lib: Path, name: str = TARGET) -> str:
    """Load a built kernel and register it with XLA (CPU) under ``name``."""
    handle = ctypes.CDLL(str(lib))
    jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(handle.SfnnEdgeGru), platform="cpu")
    return name


def edge_gru(target, edges, mask, a, c, shared, hidden_kernel, hidden_bias_n, eta, lerp):
    """``mask ⊙ plastic_update(e, GRU((a_i + c_j) + shared, e))`` for one block, in place.
    Population last: edges (A, B, M, P), mask (A, B, P), a (A, 3M, P), c (B, 3M, P),
    shared (3M, P), hidden_kernel (M, 3M, P), hidden_bias_n (M, P)."""
    call = jax.ffi.ffi_call(target, jax.ShapeDtypeStruct(edges.shape, jnp.float32), input_output_aliases={0: 0})
    return call(edges, mask, a, c, shared, hidden_kernel, hidden_bias_n, eta=np.float32(eta), lerp=np.int32(lerp))


def native_pass(target):
    """``sfnn.population._synapse_pass`` with each block's GRU update done by the kernel."""
    import synapse_kernel as sk  # the lifetime harness and its variants

    def update(g, spec, t, y_pre, y_post, reward, edges, mask):
        a, c, shared = popmod._gru_terms(g, t, y_pre, y_post, reward, spec.channels)
        return edge_gru(target, edges, mask, a, c, shared, g["gru"]["hidden_kernel"][t],
                        g["gru"]["hidden_bias_n"][t], spec.plastic_lr, spec.update == "lerp")

    return sk.block_pass(update)


def _interleaved(fns: dict, args: dict, rounds: int, reps: int) -> dict:
    best = {n: float("inf") for n in fns}
    for _ in range(rounds):
        for n, f in fns.items():
            t = time.perf_counter()
            for _ in range(reps):
                jax.block_until_ready(f(*args[n]))
            best[n] = min(best[n], (time.perf_counter() - t) / reps)
    return best


def block_inputs(pop: int, m: int = 4, n: int = 26, seed: int = 0):
    k = jax.random.split(jax.random.key(seed), 7)
    edges = jax.random.uniform(k[0], (n, n, m, pop), minval=-1, maxval=1)
    mask = jax.random.bernoulli(k[1], 0.5, (n, n, pop)).astype(jnp.float32)
    a, c = jax.random.normal(k[2], (n, 3 * m, pop)), jax.random.normal(k[3], (n, 3 * m, pop))
    shared = jax.random.normal(k[4], (3 * m, pop))
    wh, bn = 0.5 * jax.random.normal(k[5], (m, 3 * m, pop)), jax.random.normal(k[6], (m, pop))
    return edges * mask[:, :, None], mask, a, c, shared, wh, bn


def xla_block(edges, mask, a, c, shared, wh, bn, eta=0.01, lerp=False):
    """The training path's update of one block (materialised terms, XLA's fused GRU loop, the
    library's ``plastic_update``)."""
    g = {"gru": {"hidden_kernel": wh[None], "hidden_bias_n": bn[None]}}
    h = popmod._gru(g, 0, a[:, None] + c[None] + shared, edges, edges.shape[2])
    spec = SFNNSpec(Topology(1, 1, 1), plastic_lr=eta, update="lerp" if lerp else "add")
    return plastic_update(spec, edges, h) * mask[:, :, None, :]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pop", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sigmoid-via-tanh", action="store_true", help="also time the kernel with σ(x) = ½tanh(x/2)+½")
    args = ap.parse_args()

    import synapse_kernel as sk  # the lifetime harness and its variants

    with tempfile.TemporaryDirectory() as tmp:
        kinds = {"native": False, **({"native_tanh": True} if args.sigmoid_via_tanh else {})}
        targets = {k: register(build(Path(tmp), v), f"{TARGET}_{k}") for k, v in kinds.items()}

        ins = block_inputs(args.pop)
        fns = {"xla": jax.jit(xla_block, compiler_options=EVAL_COMPILER_OPTIONS)}
        for k, tgt in targets.items():
            fns[k] = jax.jit(lambda *x, tgt=tgt: edge_gru(tgt, *x, 0.01, False))
        ref = fns["xla"](*ins)
        best = _interleaved(fns, {n: ins for n in fns}, args.rounds, 20)
        n_upd = ins[0].shape[0] * ins[0].shape[1] * args.pop
        print(f"one hh block update, population {args.pop} ({n_upd:,} edge updates), best of {args.rounds}:")
        for n in fns:
            diff = float(jnp.max(jnp.abs(fns[n](*ins) - ref)))
            print(f"  {n:12s} {best[n] * 1e6:8.1f} µs   {best[n] / n_upd * 1e9:5.2f} ns per edge update   max |diff| {diff:.1e}")

        for k, tgt in targets.items():
            sk.VARIANTS[k] = (native_pass(tgt), None)
        names = ["current", *targets]
        built = {n: sk.build(n, args.pop, args.steps) for n in names}
        best = _interleaved({n: built[n][0] for n in names}, {n: built[n][1] for n in names}, args.rounds, 1)
        print(f"lifetimes, population {args.pop} × {args.steps} CartPole steps (bench_paper shapes):")
        for n in names:
            ret = jnp.max(jnp.abs(built[n][3][0] - built["current"][3][0]))
            print(f"  {n:12s} {args.pop * args.steps / best[n]:10,.0f} agent-steps/s   compile {built[n][2]:5.1f} s   "
                  f"max |return diff| {float(ret):.1f}")


if __name__ == "__main__":
    main()

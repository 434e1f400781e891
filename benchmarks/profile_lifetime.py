"""Where a lifetime's time goes, on whatever backend JAX runs on (CPU or GPU).

Compiles the CartPole lifetime of ``benchmarks/synapse_kernel.py`` (the shapes of
``configs/bench_paper.yaml``, the library's current pass), runs it once to warm up, traces one
more run with ``jax.profiler`` and prints the trace's events grouped by name: on a CPU the XLA
thunks (fusions), on a GPU the device kernels and the host-side launches, with call counts. The
share of device time in a few kernels, against the wall time of the run, says whether a
lifetime is bound by arithmetic, by memory traffic in a few big fusions, or by launching many
small ones (docs/PERFORMANCE.md).

    python benchmarks/profile_lifetime.py [--pop 4096] [--steps 200] [--plasticity synapse] [--top 25]

With ``--config`` it traces one whole generation of that config's training program instead (the
trainer's own evaluator and ES, after a first generation that compiles), so the model, lifetime
and layout are exactly what ``sfnn train`` and ``sfnn bench`` run; overrides follow the path:

    python benchmarks/profile_lifetime.py --config configs/bench_paper.yaml [key=value ...]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # synapse_kernel
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's packages

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import synapse_kernel  # noqa: E402
from agents.bench import time_generations  # noqa: E402
from agents.config import load_config  # noqa: E402
from agents.trainer import Trainer  # noqa: E402


def summarize(trace_file: Path, top: int) -> None:
    """Print the trace's complete events grouped by process and by name (total ms, calls)."""
    events = json.load(gzip.open(trace_file))
    events = events["traceEvents"] if isinstance(events, dict) else events
    names = {e["pid"]: e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "process_name"}
    per_pid: dict = collections.defaultdict(collections.Counter)
    calls: dict = collections.defaultdict(collections.Counter)
    for e in events:
        if e.get("ph") == "X" and not e["name"].startswith("$"):  # "$..." are Python frames
            per_pid[e["pid"]][e["name"]] += e.get("dur", 0)
            calls[e["pid"]][e["name"]] += 1
    for pid, counter in sorted(per_pid.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"\n== {names.get(pid, pid)}: {sum(counter.values()) / 1e3:.1f} ms in {sum(calls[pid].values())} events")
        for name, dur in counter.most_common(top):
            print(f"  {dur / 1e3:9.2f} ms {calls[pid][name]:7d}  {name[:100]}")


def trace(fn, top: int) -> None:
    """Run ``fn`` once under ``jax.profiler`` and print its events grouped by name."""
    out = Path(tempfile.mkdtemp(prefix="sfnn_trace_"))
    try:
        with jax.profiler.trace(str(out), create_perfetto_trace=True):
            jax.block_until_ready(fn())
        summarize(next(out.glob("**/perfetto_trace.json.gz")), top)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def profile_config(path: str, overrides: list[str], top: int) -> None:
    """Trace one generation of ``path``'s training program, compiled and warmed up first by
    ``sfnn bench``'s own timing loop (the same jitted generation is traced, not recompiled)."""
    trainer = Trainer.build(load_config(path, overrides))
    compile_s, times = time_generations(trainer, 1)
    print(f"compile {compile_s:.2f} s, generation 1: {times[0]:.3f} s")
    state = trainer.init_state()  # outside the trace: only the generation is profiled
    jax.block_until_ready(state)
    trace(lambda: trainer.generation(state, jnp.int32(1))[1], top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", help="trace a generation of this training config instead")
    ap.add_argument("overrides", nargs="*", help="dotted key=value overrides of --config")
    ap.add_argument("--pop", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--plasticity", default="synapse", choices=["synapse", "neuron"])
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    if args.overrides and not args.config:
        ap.error("overrides apply to --config only")
    if args.config:
        profile_config(args.config, args.overrides, args.top)
        return
    compiled, inputs, compile_s, _ = synapse_kernel.build("current", args.pop, args.steps, args.plasticity)
    t = time.perf_counter()
    jax.block_until_ready(compiled(*inputs))
    run_s = time.perf_counter() - t
    print(f"backend={jax.default_backend()} pop={args.pop} steps={args.steps} plasticity={args.plasticity} "
          f"compile {compile_s:.2f} s, run {run_s * 1e3:.1f} ms ({args.pop * args.steps / run_s:,.0f} agent-steps/s, "
          f"{run_s / args.steps * 1e6:.0f} us per step)")
    trace(lambda: compiled(*inputs), args.top)


if __name__ == "__main__":
    main()

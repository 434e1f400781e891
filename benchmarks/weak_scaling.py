"""Weak scaling of ``sfnn bench``: the population grows with the workers, each keeps its share.

A *worker* is either one device of one process (``--mode devices``: ``parallel.devices=W``; on a
CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=W`` exposes W host devices) or one
process of a ``jax.distributed`` run (``--mode processes``: W ``sfnn bench`` processes on this
machine, joined at a local coordinator, one device each: the program W machines would run, over
the loopback instead of a network). ``--pin`` gives each worker a core of its own (``taskset``).
For W workers the population is ``--per-worker`` × W, so perfect scaling keeps the time per
generation and multiplies agent-steps/s by W; efficiency = (agent-steps/s at W) / (W × at 1).

    .venv/bin/python benchmarks/weak_scaling.py configs/bench_paper.yaml log.wandb=disabled \\
        --per-worker 64 --workers 1,2 --mode processes --pin --repeats 2 --out runs/weak

Worker counts are run in turn, ``--repeats`` times over (1, 2, 1, 2, ...), and each keeps its
fastest repeat's median generation, because this machine is shared and noisy. Writes
``weak_scaling.jsonl`` (every run's ``sfnn bench`` line), ``weak_scaling.md`` and
``weak_scaling.png`` into ``--out``. On several real machines run ``sfnn bench`` on each instead
(README, "Scaling to several devices").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH = [sys.executable, "-m", "agents.cli", "bench"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _json_line(out: str) -> dict[str, Any] | None:
    lines = [x for x in out.strip().splitlines() if x.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def _fail(what: str, out: str) -> RuntimeError:
    return RuntimeError(f"{what} failed:\n" + "\n".join(out.strip().splitlines()[-15:]))


def _pinned(cmd: list[str], cores: str, pin: bool) -> list[str]:
    taskset = shutil.which("taskset") if pin else None
    return [taskset, "-c", cores, *cmd] if taskset else cmd


def run_devices(config: list[str], workers: int, per_worker: int, generations: int, timeout: float,
                pin: bool) -> dict[str, Any]:
    """One ``sfnn bench`` process over ``workers`` devices (host devices on a CPU), on the first
    ``workers`` cores with ``pin``."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={workers}".strip()
    cmd = [*BENCH, *config, f"strategy.population={per_worker * workers}", f"parallel.devices={workers}",
           "--generations", str(generations)]
    cmd = _pinned(cmd, f"0-{workers - 1}", pin)
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    row = _json_line(r.stdout)
    if r.returncode != 0 or row is None:
        raise _fail(" ".join(cmd), r.stdout + r.stderr)
    return row


def run_processes(config: list[str], workers: int, per_worker: int, generations: int, timeout: float,
                  pin: bool) -> dict[str, Any]:
    """``workers`` ``sfnn bench`` processes joined at a local coordinator; process 0's JSON line."""
    common = [*config, f"strategy.population={per_worker * workers}", "parallel.devices=1",  # a device each
              "--generations", str(generations)]
    if workers > 1:
        common += [f"parallel.processes={workers}", f"parallel.coordinator=localhost:{_free_port()}"]
    cores = os.cpu_count() or 1
    procs = []
    for i in range(workers):
        cmd = _pinned([*BENCH, *common, *([f"parallel.process_id={i}"] if workers > 1 else [])], str(i % cores), pin)
        procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=timeout)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, (p, out) in enumerate(zip(procs, outs)):
        if p.returncode != 0:
            raise _fail(f"process {i} of {workers}", out)
    row = _json_line(outs[0])
    if row is None:
        raise _fail("process 0", outs[0])
    return row


def summarise(runs: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per worker count from its fastest run (by median generation), with the efficiency
    against the smallest worker count."""
    rows = []
    for w in sorted(runs):
        best = max(runs[w], key=lambda r: r["agent_steps_per_s"])
        rows.append({"workers": w, "population": best["population"], "devices": best["devices"],
                     "processes": best.get("processes", 1), "agent_steps_per_s": best["agent_steps_per_s"],
                     "all_runs": [r["agent_steps_per_s"] for r in runs[w]], "generation_s": best["generation_s"],
                     "compile_s": best["compile_s"], "peak_rss_mb": best["peak_rss_mb"]})
    base = rows[0]["agent_steps_per_s"] / rows[0]["workers"]
    for r in rows:
        r["per_worker"] = round(r["agent_steps_per_s"] / r["workers"], 1)
        r["efficiency"] = round(r["per_worker"] / base, 3)
    return rows


def markdown(rows: list[dict[str, Any]], mode: str) -> str:
    one = {"devices": "device", "processes": "process"}[mode]
    out = [f"| {mode} | population | agent-steps/s (best; all runs) | per {one} | efficiency | s/generation "
           "| compile s | peak RSS MB (process 0) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        runs = ", ".join(f"{x:,.0f}" for x in r["all_runs"])
        out.append(f"| {r['workers']} | {r['population']} | {r['agent_steps_per_s']:,.0f} ({runs}) | "
                   f"{r['per_worker']:,.0f} | {r['efficiency']:.2f} | {r['generation_s']} | {r['compile_s']} | "
                   f"{r['peak_rss_mb']} |")
    return "\n".join(out) + "\n"


def plot(rows: list[dict[str, Any]], mode: str, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = [r["workers"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(w, [r["agent_steps_per_s"] for r in rows], "o-", label="measured (best run)")
    for r in rows:
        ax.scatter([r["workers"]] * len(r["all_runs"]), r["all_runs"], color="grey", s=10, zorder=3)
    ideal = rows[0]["agent_steps_per_s"] / rows[0]["workers"]
    ax.plot(w, [ideal * x for x in w], "--", color="grey", label="perfect scaling")
    for r in rows:
        ax.annotate(f"{r['efficiency']:.0%}", (r["workers"], r["agent_steps_per_s"]), textcoords="offset points",
                    xytext=(6, -12))
    ax.set_xlabel(f"{mode} (population {rows[0]['population'] // rows[0]['workers']} each)")
    ax.set_ylabel("agent-steps / s")
    ax.set_xticks(w)
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", nargs="+", help="config file and key=value overrides, as for sfnn bench")
    ap.add_argument("--mode", choices=("devices", "processes"), default="devices")
    ap.add_argument("--workers", default="1,2", help="worker counts, e.g. 1,2,4 (default 1,2)")
    ap.add_argument("--per-worker", type=int, default=64, help="members per worker (default 64)")
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--pin", action="store_true",
                    help="a core per worker (taskset): process i on core i; W devices on cores 0..W-1")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run (default 900)")
    ap.add_argument("--out", type=Path, default=Path("runs/weak_scaling"))
    args = ap.parse_args(argv)
    workers = sorted({int(x) for x in args.workers.split(",") if x.strip()})
    if not workers or workers[0] < 1:
        ap.error("--workers: positive integers, e.g. 1,2")
    runs: dict[int, list[dict[str, Any]]] = {w: [] for w in workers}
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "weak_scaling.jsonl", "w") as log:
        for rep in range(args.repeats):
            for w in workers:
                if args.mode == "devices":
                    row = run_devices(args.config, w, args.per_worker, args.generations, args.timeout, args.pin)
                else:
                    row = run_processes(args.config, w, args.per_worker, args.generations, args.timeout, args.pin)
                runs[w].append(row)
                log.write(json.dumps({"mode": args.mode, "workers": w, "repeat": rep, **row}) + "\n")
                log.flush()
                print(f"{args.mode}={w} repeat {rep + 1}/{args.repeats}: {row['agent_steps_per_s']:,.0f} agent-steps/s",
                      flush=True)
    rows = summarise(runs)
    table = markdown(rows, args.mode)
    (args.out / "weak_scaling.md").write_text(table)
    title = f"{' '.join(args.config)}\n{args.mode}{', a core each (taskset)' if args.pin else ''}"
    plot(rows, args.mode, title, args.out / "weak_scaling.png")
    print(table, end="")
    print(f"files: {args.out}/weak_scaling.{{jsonl,md,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput and memory against population, one line per (machine, placement), from saved
``sfnn bench`` output: the JSON lines of ``--sweep`` runs (``bench_sweep.jsonl``) and single
runs (``*.json``, the one line ``sfnn bench`` prints).

    python benchmarks/plot_backends.py DIR[=LABEL] ... --out docs/img/cpu_vs_gpu.png

Each DIR is read whole; LABEL (default: the backend recorded in the rows) names its machine.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from agents.plots import memory_column  # noqa: E402


def load_rows(directory: Path) -> list[dict]:
    """Every benchmark row saved under ``directory`` (failed sweep points are skipped)."""
    rows = []
    for f in sorted(directory.glob("*.json*")):
        text = f.read_text()
        found = [json.loads(text)] if f.suffix == ".json" else [json.loads(x) for x in text.splitlines() if x.strip()]
        rows += [r for r in found if r.get("agent_steps_per_s")]  # not training summaries or metrics
    return rows


def plot(series: dict[str, list[dict]], out: Path) -> None:
    """Two panels: agent-steps/s and peak memory (``agents.plots.memory_column``: the device's
    where recorded, else the process's RSS) against population, log-log."""
    fig, (ax_speed, ax_mem) = plt.subplots(1, 2, figsize=(11, 4))
    for label, rows in series.items():
        by_placement = collections.defaultdict(list)
        for r in rows:
            by_placement[r.get("plasticity", r.get("model"))].append(r)
        for placement, rs in sorted(by_placement.items()):
            rs = sorted(rs, key=lambda r: r["population"])
            pops = [r["population"] for r in rs]
            name = f"{label}, {placement}"
            ax_speed.plot(pops, [r["agent_steps_per_s"] for r in rs], "o-", label=name)
            col, _ = memory_column(rs)
            where = "device" if col == "device_peak_mb" else "process RSS"
            ax_mem.plot(pops, [r[col] for r in rs], "o-", label=f"{name} ({where})")
    for ax, ylabel in ((ax_speed, "agent-steps / s"), (ax_mem, "peak memory, MB")):
        ax.set(xscale="log", yscale="log", xlabel="population", ylabel=ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax_speed.set_title("throughput (CartPole, 32 neurons, 8 x 500-step lifetimes)", fontsize=9)
    ax_mem.set_title("memory", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"plot: {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", help="DIR or DIR=LABEL")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    series = {}
    for spec in args.dirs:
        path, _, label = spec.partition("=")
        rows = load_rows(Path(path))
        if not rows:
            raise SystemExit(f"no benchmark rows under {path}")
        series[label or rows[0]["backend"]] = rows
    plot(series, args.out)


if __name__ == "__main__":
    main()

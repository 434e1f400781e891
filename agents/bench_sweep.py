"""``sfnn bench --sweep KEY=V1,V2,...``: the benchmark at several sizes, as a table and a plot.

Each point runs as its own ``sfnn bench`` process, so its peak memory (``ru_maxrss``, a
per-process maximum) is its own and one point's compile cache cannot speed up the next.
A point that fails (e.g. out of memory) is recorded with its error and the sweep goes on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agents.config import ConfigError
from agents.files import write_text_atomic

COLUMNS = ("agent_steps_per_s", "agent_steps_per_s_best", "generation_s", "compile_s", "peak_rss_mb",
           "device_peak_mb", "devices", "chunk", "network_time_share")


def plot_path(out: Path, key: str) -> Path:
    """Where the scaling plot of one swept key goes."""
    return out / f"bench_sweep_{key.replace('.', '_')}.png"


def parse_sweep(spec: str) -> tuple[str, list[str]]:
    """``strategy.population=16,64,256`` -> ("strategy.population", ["16", "64", "256"])."""
    key, sep, values = spec.partition("=")
    vals = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not key.strip() or not vals:
        raise ConfigError(f"--sweep {spec!r}: write KEY=V1,V2,... (e.g. strategy.population=16,64,256)")
    return key.strip(), vals


def run_point(
    config: str | None, overrides: list[str], key: str, value: str, generations: int, timeout: float | None = None
) -> dict[str, Any]:
    """One ``sfnn bench`` process; its JSON line, or ``{"error": ...}`` (also when it outlasts ``timeout`` s)."""
    cmd = [sys.executable, "-m", "agents.cli", "bench", *([config] if config else []), *overrides,
           f"{key}={value}", "--generations", str(generations)]  # fmt: skip
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:  # subprocess.run kills the point's process before raising
        return {"error": f"stopped after --point-timeout {timeout:g} s"}
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        err = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        return {"error": err[:300]}
    return json.loads(lines[-1])


def sweep(
    config: str | None, overrides: list[str], specs: list[str], generations: int, out: Path,
    point_timeout: float | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run every sweep (one key each; the others stay at the config's values) and write
    ``bench_sweep.jsonl``, ``bench_sweep.md`` and one ``bench_sweep_<key>.png`` per key into ``out``."""
    from agents.plots import bench_scaling

    sweeps = [parse_sweep(s) for s in specs]
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict[str, Any]]] = {}
    total = sum(len(v) for _, v in sweeps)
    with tqdm(total=total, desc="bench sweep") as bar:
        for key, values in sweeps:
            rows[key] = []
            for v in values:
                bar.set_postfix_str(f"{key}={v}")
                rows[key].append({"key": key, "value": v, **run_point(config, overrides, key, v, generations, point_timeout)})
                bar.update(1)
    flat = [r for rs in rows.values() for r in rs]
    write_text_atomic(out / "bench_sweep.jsonl", "".join(json.dumps(r) + "\n" for r in flat))
    write_text_atomic(out / "bench_sweep.md", markdown_table(flat))
    for key, rs in rows.items():
        bench_scaling(rs, key, plot_path(out, key))
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = "| setting | " + " | ".join(COLUMNS) + " |\n|---|" + "---|" * len(COLUMNS) + "\n"
    body = []
    for r in rows:
        cells = [f"error: {r['error']}"] + [""] * (len(COLUMNS) - 1) if "error" in r else [str(r.get(c, "")) for c in COLUMNS]
        body.append(f"| {r['key']}={r['value']} | " + " | ".join(cells) + " |")
    return head + "\n".join(body) + "\n"

"""Every genome on every environment: a meta-test sweep whose every cell is a result or a refusal.

``sfnn meta-test RUN [RUN ...] --env all`` goes through here: each (run, environment) pair is
meta-tested on its own, so that one environment the learner cannot act in (a baseline genome
too small for it, a network too large for memory) is a one-line refusal in its cell and the
sweep goes on. Anything else that goes wrong is a bug, and is reported as one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agents.config import ConfigError
from agents.files import write_json_atomic
from agents.plots import safe_name
from agents.rundir import RunError

AGENTS = ("evolved", "frozen", "random")


def sweep(runs: list[Path], envs: list[str], lifetimes: int, out_dir: Path, max_steps: int | None = None,
          late: int = 3, progress: bool = True) -> list[dict[str, Any]]:
    """Meta-test each run on each env; one row per pair, with the mean return over episodes
    ``late``+1 … of each agent, or ``refused`` (the one-line reason). Writes
    ``out_dir/sweep.json`` and ``out_dir/sweep.md`` (and each pair's JSON and plot)."""
    from agents.metatest import meta_test

    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    pairs = [(run, env) for run in runs for env in envs]
    for run, env in tqdm(pairs, desc="meta-test sweep", disable=not progress, unit="pair"):
        row: dict[str, Any] = {"run": str(run), "env": env}
        try:
            doc = meta_test(run, [env], lifetimes, out_dir / run.name / f"{safe_name(env)}.json", max_steps=max_steps)
        except (ConfigError, RunError, ValueError) as e:
            row["refused"] = str(e).splitlines()[0] if str(e) else type(e).__name__
            rows.append(row)
            continue
        r = doc["results"][env]
        row.update({k: r[k] for k in ("max_steps", "network") if k in r})
        row["late_mean"] = {a: round(float(np.mean(np.asarray(c)[:, late:])), 2) for a, c in r["agents"].items()}
        if r.get("skipped"):
            row["refused"] = next(iter(r["skipped"].values()))
        rows.append(row)
    write_json_atomic(out_dir / "sweep.json", rows, indent=1)
    (out_dir / "sweep.md").write_text(markdown(rows, late) + "\n")
    return rows


def markdown(rows: list[dict[str, Any]], late: int) -> str:
    """One line per (run, environment): each agent's late-episode mean return, or the refusal."""
    lines = ["| run | environment | network (in+hidden+out) | cap | " + " | ".join(
        f"{a}, episodes {late + 1}–" for a in AGENTS) + " | refused |", "|" + "---|" * (5 + len(AGENTS))]
    for r in rows:
        net = r.get("network")
        size = f"{net['inputs']}+{net['hidden']}+{net['outputs']}" if net else "—"
        means = [f"{r['late_mean'][a]:g}" if a in r.get("late_mean", {}) else "—" for a in AGENTS]
        lines.append(f"| {Path(r['run']).name} | {r['env']} | {size} | {r.get('max_steps', '—')} | "
                     + " | ".join(means) + f" | {r.get('refused', '')} |")
    return "\n".join(lines)

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
        row.update(late_means(r["agents"], late))
        if r.get("skipped"):
            row["refused"] = next(iter(r["skipped"].values()))
        rows.append(row)
    write_json_atomic(out_dir / "sweep.json", rows, indent=1)
    (out_dir / "sweep.md").write_text(markdown(rows) + "\n")
    return rows


def _late_start(episodes: int, late: int) -> int:
    """0-based index of the first late episode: ``late``, or the last one in a shorter lifetime."""
    return max(min(late, episodes - 1), 0)


def late_means(agents: dict[str, list], late: int) -> dict[str, Any]:
    """Each agent's mean return over episodes ``late``+1 … (the last episode alone in a lifetime
    shorter than that), over the lifetimes whose returns are finite; ``diverged`` counts the
    lifetimes that are not (a plastic state that overflowed), per agent where there are any."""
    first = _late_start(min(np.asarray(c).shape[1] for c in agents.values()), late)
    out: dict[str, Any] = {"late_from_episode": first + 1, "late_mean": {}}
    for a, c in agents.items():
        c = np.asarray(c, dtype=float)[:, first:]
        finite = np.all(np.isfinite(c), axis=1)
        out["late_mean"][a] = round(float(np.mean(c[finite])), 2) if finite.any() else None
        if not finite.all():
            out.setdefault("diverged", {})[a] = f"{int((~finite).sum())}/{len(finite)}"
    return out


def late_spread(curves: list, late: int = 3) -> tuple[int, float, np.ndarray]:
    """(first late episode, 1-based; mean over the finite lifetimes; their 25th, 50th and 75th
    percentiles) of each lifetime's mean return over episodes ``late``+1 …: a mean of bimodal
    lifetimes (a good controller learned or not) hides how many lifetimes fail."""
    c = np.asarray(curves, dtype=float)
    first = _late_start(c.shape[1], late)
    per_life = c[:, first:].mean(1)
    per_life = per_life[np.isfinite(per_life)]
    if per_life.size == 0:
        return first + 1, float("nan"), np.full(3, np.nan)
    return first + 1, float(per_life.mean()), np.percentile(per_life, [25, 50, 75])


def standard_error(values: Any) -> float | None:
    """The standard error of a mean over lifetimes (or tasks), None for fewer than two: a score
    over a few dozen fresh wirings carries the spread between them, and rankings should show it."""
    v = np.asarray(values, dtype=float).ravel()
    return float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else None


def markdown(rows: list[dict[str, Any]]) -> str:
    """One line per (run, environment): each agent's late-episode mean return (lifetimes whose
    returns were not finite left out and counted), or the refusal."""
    lines = ["| run | environment | network (in+hidden+out) | cap | episodes | " + " | ".join(AGENTS)
             + " | refused |", "|" + "---|" * (6 + len(AGENTS))]
    for r in rows:
        net = r.get("network")
        size = f"{net['inputs']}+{net['hidden']}+{net['outputs']}" if net else "—"
        means, diverged = r.get("late_mean", {}), r.get("diverged", {})
        cells = []
        for a in AGENTS:
            if a not in means:
                cells.append("—")
            elif means[a] is None:  # every lifetime diverged
                cells.append("diverged")
            else:
                cells.append(f"{means[a]:g}" + (f" ({diverged[a]} lifetimes diverged)" if a in diverged else ""))
        episodes = f"{r['late_from_episode']}–" if "late_from_episode" in r else "—"
        lines.append(f"| {Path(r['run']).name} | {r['env']} | {size} | {r.get('max_steps', '—')} | {episodes} | "
                     + " | ".join(cells) + f" | {r.get('refused', '')} |")
    return "\n".join(lines)

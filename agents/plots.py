"""Figures saved into run directories: the training curve and returns within a lifetime."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from envs.adapter import task_name  # noqa: E402


def safe_name(name: str) -> str:
    """A task name usable in a file name (dataset names hold ':' and may hold paths)."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_")


def training_curve(metrics: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Best and mean fitness per generation, and mean return (or validation accuracy) per task."""
    gens = [m["generation"] for m in metrics]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    for key, label in (("best_fitness", "best"), ("mean_fitness", "mean"), ("best_ever_fitness", "best so far")):
        ax.plot(gens, [np.nan if m.get(key) is None else m[key] for m in metrics], label=label)
    ax.set(xlabel="generation", ylabel="fitness", title="fitness")
    ax.legend()
    ax = axes[1]
    supervised = any(k.startswith("val_accuracy/") for k in metrics[0])
    prefix = "val_accuracy/" if supervised else "return/"
    for key in sorted(k for k in metrics[0] if k.startswith(prefix)):
        ax.plot(gens, [np.nan if m.get(key) is None else m[key] for m in metrics], label=key.split("/", 1)[1] + " (mean)")
        best = "best_" + key
        ax.plot(gens, [np.nan if m.get(best) is None else m[best] for m in metrics], "--", label=key.split("/", 1)[1] + " (best member)")
    if supervised:
        ax.set(xlabel="generation", ylabel="validation accuracy after T steps", title="held-out accuracy")
    else:
        ax.set(xlabel="generation", ylabel="return per episode", title="returns")
    ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def lifetime_curves(
    curves: dict[str, np.ndarray],
    path: Path,
    title: str,
    ylabel: str = "return",
    xlabel: str = "episode in lifetime",
    x: Sequence[float] | None = None,
) -> Path:
    """Performance within a lifetime: the mean over lifetimes, one line per agent, and the middle
    half of the lifetimes (25th to 75th percentile) shaded. Percentiles, not mean ± std: returns
    are bounded and often bimodal (a lifetime balances the pole or not), and a band of ± std
    would reach past the bounds.

    curves: agent -> array (lifetimes, points); x: the points (default 1, 2, ... episodes).
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, arr in curves.items():
        arr = np.asarray(arr, dtype=float)
        xs = np.arange(1, arr.shape[1] + 1) if x is None else np.asarray(x)
        low, high = np.percentile(arr, [25, 75], axis=0)
        ax.plot(xs, arr.mean(0), marker="o" if len(xs) <= 20 else None, label=name)
        ax.fill_between(xs, low, high, alpha=0.2)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def running_mean(values: list[float], window: int) -> list[float]:
    """Mean of each value and the ``window - 1`` before it (fewer at the start): ES curves are
    noisy from one generation to the next, and a trend is what comparisons look for."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def compare_runs(
    runs: dict[str, list[dict[str, Any]]],
    path: Path,
    x: str = "generation",
    smooth: int = 1,
    episodes: tuple[int, int] | None = None,
) -> Path:
    """Population mean return per generation (or per second of wall time) of several runs,
    one panel per environment, so learners and settings can be compared at equal budget;
    ``smooth`` > 1 plots the running mean over that many generations. ``episodes`` = (first, last),
    1-based and inclusive, averages only those episodes (or windows) of each lifetime, e.g. (4, 8)
    for the late windows that the learning targets are stated on; default: every episode."""
    panels = compare_panels(runs)
    if not panels:
        raise ValueError("no environment returns in these runs' metrics (BLUR runs have accuracies instead)")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (task, lines) in zip(axes[0], panels.items()):
        for label, env in lines:
            rows = [m for m in runs[label] if m.get(f"return/{env}") is not None]
            if rows:
                ys = running_mean([_episode_mean(m, env, episodes, label) for m in rows], smooth)
                ax.plot([m[x] for m in rows], ys, label=label if env == task else f"{label} [{env}]")
        which = "" if episodes is None else f", episodes {episodes[0]}–{episodes[1]}"
        ylabel = "population mean return" + which + (f"\n({smooth}-generation mean)" if smooth > 1 else "")
        ax.set(xlabel="generation" if x == "generation" else "wall time (s)", ylabel=ylabel, title=task)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def compare_metric(
    runs: dict[str, list[dict[str, Any]]],
    path: Path,
    metric: str,
    x: str = "generation",
    smooth: int = 1,
    log: bool = False,
) -> Path:
    """One scalar of every run's metrics (``search_std``, ``mean_fitness``, ...) against
    generations or wall time in one panel: a stalled search (its step size collapsed) and one
    that wanders look alike in the returns, not in ``search_std`` on a log axis."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, ms in runs.items():
        rows = [m for m in ms if isinstance(m.get(metric), (int, float))]
        if not rows:
            plt.close(fig)
            have = sorted(k for k, v in (ms[0] if ms else {}).items() if isinstance(v, (int, float)) and k != x)
            raise ValueError(f"{label}: no {metric!r} in its metrics (numbers there: {', '.join(have) or 'none'})")
        ax.plot([m[x] for m in rows], running_mean([float(m[metric]) for m in rows], smooth), label=label)
    if log:
        ax.set_yscale("log")
    ylabel = metric + (f"\n({smooth}-generation mean)" if smooth > 1 else "")
    ax.set(xlabel="generation" if x == "generation" else "wall time (s)", ylabel=ylabel)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def compare_panels(runs: dict[str, list[dict[str, Any]]]) -> dict[str, list[tuple[str, str]]]:
    """Task -> the (run label, environment name) lines of its panel. A variant that only scales
    what the agent sees (``MountainCar-v0:obs_norm=fixed``) is drawn on its task's panel, beside
    runs on the raw environment: the returns are the same task's."""
    panels: dict[str, list[tuple[str, str]]] = {}
    for label, ms in runs.items():
        for env in sorted({k.split("/", 1)[1] for k in ms[0] if k.startswith("return/")}):
            panels.setdefault(task_name(env), []).append((label, env))
    return dict(sorted(panels.items()))


def block_table(
    runs: dict[str, list[dict[str, Any]]], block: int, episodes: tuple[int, int] | None = None
) -> str:
    """Markdown tables, one per environment: each run's population mean return in blocks of
    ``block`` generations, and in brackets its mean difference to the first run taken generation
    by generation. Runs with the same seed that differ in one setting draw the same episode starts
    every generation (and the same wirings where the network's size is the same), so the paired
    difference cancels much of the draw that moves both curves; a curve read by eye does not.
    Only whole blocks are shown; a difference only where the first run has every generation of
    the block."""
    panels = compare_panels(runs)
    if not panels:
        raise ValueError("no environment returns in these runs' metrics (BLUR runs have accuracies instead)")
    which = "" if episodes is None else f", episodes {episodes[0]}–{episodes[1]}"
    tables = []
    for task, lines in panels.items():
        curves = []
        for label, env in lines:
            rows = [m for m in runs[label] if m.get(f"return/{env}") is not None]
            curves.append((label, {m["generation"]: _episode_mean(m, env, episodes, label) for m in rows}))
        last = max((max(c, default=-1) for _, c in curves), default=-1)
        starts = [s for s in range(0, last + 1, block) if any(all(g in c for g in range(s, s + block)) for _, c in curves)]
        if not starts:
            continue
        ref = curves[0][1]
        head = f"{task}: population mean return{which}, blocks of {block} generations [difference to {lines[0][0]}]"
        out = [head, "", "| run | " + " | ".join(f"{s}–{s + block - 1}" for s in starts) + " |",
               "|---" * (len(starts) + 1) + "|"]
        for i, (label, curve) in enumerate(curves):
            cells = []
            for s in starts:
                gens = range(s, s + block)
                if not all(g in curve for g in gens):
                    cells.append("")
                    continue
                cell = f"{np.mean([curve[g] for g in gens]):.1f}"
                if i > 0 and all(g in ref for g in gens):
                    cell += f" [{np.mean([curve[g] - ref[g] for g in gens]):+.1f}]"
                cells.append(cell)
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        tables.append("\n".join(out))
    if not tables:
        raise ValueError(f"no run has a whole block of {block} generations")
    return "\n\n".join(tables)


def _episode_mean(row: dict[str, Any], env: str, episodes: tuple[int, int] | None, label: str) -> float:
    """A generation's mean return over all episodes, or over episodes first..last of each lifetime."""
    if episodes is None:
        return row[f"return/{env}"]
    per_episode = row.get(f"episode_returns/{env}")
    first, last = episodes
    if per_episode is None or last > len(per_episode):
        have = "no per-episode returns" if per_episode is None else f"{len(per_episode)} episodes"
        raise ValueError(f"{label}: {env} has {have} per lifetime; cannot average episodes {first}-{last}")
    return float(np.mean(per_episode[first - 1 : last]))


def memory_column(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """(field, axis label) of the peak memory to plot for benchmark rows: the accelerator's where
    every row reports it, else the process's RSS (CPU runtimes keep no allocator statistics)."""
    on_device = bool(rows) and all(r.get("device_peak_mb") is not None for r in rows)
    return ("device_peak_mb", "peak device memory (MB)") if on_device else ("peak_rss_mb", "peak RSS (MB)")


def bench_scaling(rows: list[dict[str, Any]], key: str, path: Path) -> Path:
    """Agent-steps per second and peak memory (``memory_column``) against one swept setting
    (failed points left out; a setting that is not a number gets one tick per value)."""
    ok = [r for r in rows if "error" not in r]
    try:
        x, names = [float(r["value"]) for r in ok], None
    except ValueError:  # a setting that is not a number (true/false, a strategy's name): one tick each
        x, names = list(range(len(ok))), [str(r["value"]) for r in ok]
    memory = memory_column(ok)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (col, label) in zip(axes, (("agent_steps_per_s", "agent-steps / s"), memory)):
        ax.plot(x, [r[col] for r in ok], marker="o")
        ax.set(xlabel=key, ylabel=label)
        if names is not None:
            ax.set_xticks(x, names)
        elif len(x) > 1 and min(x) > 0 and max(x) / min(x) >= 8:
            ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
    failed = [r["value"] for r in rows if "error" in r]
    fig.suptitle(f"sfnn bench, {key} swept" + (f" (failed: {', '.join(failed)})" if failed else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

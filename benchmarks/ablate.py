"""Ablations at equal budget: one base config, several named sets of overrides, one table.

Each variant is an ordinary ``sfnn train`` run (so every option it ablates is a config field, and
its run directory can be resumed, meta-tested and plotted like any other). When a variant ends,
its row is read back from the run's ``metrics.jsonl`` and ``summary.json``:

- the first generation at which the population's mean return over the late episodes (4-8 by
  default; ``--late``) reaches each ``--target`` (per environment; ``-`` if never), and the wall
  time at that generation;
- the final genome's late-episode mean on ``log.final_lifetimes`` fresh wirings, learning on and
  off (frozen).

Variants that already have a ``summary.json`` in ``--out`` are read, not rerun, so a queue
interrupted by the end of a session is carried on by running the same command again
(``--report`` runs nothing and tabulates what has finished).

    python benchmarks/ablate.py configs/authors.yaml --base 'envs=[CartPole-v1]' \\
        --generations 200 --target 200 --target 475 \\
        --variant authors= --variant neuron=model.plasticity=neuron \\
        --variant consecutive=lifetime.episode_mode=consecutive --out runs/ablations

prints a Markdown table and writes it, with the rows as JSON, to ``OUT/ablations.{md,json}``.
Wall times are those of the machine as it was; compare them only between runs made alone or
side by side with the same load. Generations are comparable whatever the load.

One run of each variant says little: on CartPole two seeds of the same config have ended 200
apart. ``--seeds 0,1,2`` runs every variant once per seed (``OUT/NAME/sS``, the override
``seed=S`` last) and adds a table of the seeds side by side: each seed's final genome, their mean
± standard error, the worst seed, and how many seeds reached each target. ``--meta-test N``
scores every final genome on N fresh wirings with ``sfnn meta-test`` (kept as
``meta_test_N.json`` in its run directory) instead of the run's own ``log.final_lifetimes``
lifetimes, and counts each seed's lifetimes below each ``--target`` (a low target counts the
lifetimes that never learn, which separate good configs from lucky ones). ``OUT/ablations_seeds.png`` plots each seed as a
dot beside its variant's mean.

    python benchmarks/ablate.py configs/default.yaml --generations 300 --seeds 0,1,2 \
        --meta-test 64 --target 475 --variant default= \
        --variant pop32x2='strategy.population=32 lifetime.lifetimes=2' --out runs/ablations/seeds
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``NAME=override override ...`` → (NAME, [overrides]); ``NAME=`` is the base alone."""
    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"ablate.py: --variant {text!r}: write NAME=OVERRIDES (NAME= for the base config alone)")
    return name, shlex.split(rest)


def episodes_label(late: slice) -> str:
    """The 1-based episodes a ``--late`` slice averages, for column headers: 3: -> "4–"."""
    return f"{late.start + 1}–{late.stop}" if late.stop else f"{late.start + 1}–"


def check_late(late_text: str, late: slice, config: str, overrides: list[str], name: str) -> None:
    """Refuse, before any training, a ``--late`` slice (``late``, parsed from ``late_text``) that
    averages no episode of a variant's lifetime (the default 4-8 of a 2-episode lifetime): its
    every figure would be NaN."""
    from agents.config import load_config

    episodes = load_config(config, overrides).lifetime.episodes
    if not range(episodes)[late]:
        raise SystemExit(f"ablate.py: --late {late_text} averages no episode of variant "
                         f"{name!r}, whose lifetimes have {episodes}; give a slice within them, e.g. --late "
                         f"{max(episodes - 1, 0)}:")


def generations_to(metrics: list[dict], env: str, late: slice, target: float) -> tuple[int | None, float | None]:
    """First generation whose population mean over the ``late`` episodes reaches ``target``,
    and the run's wall time then (None, None when it never does)."""
    key = f"episode_returns/{env}"
    for row in metrics:
        if key in row and float(np.mean(row[key][late])) >= target:
            return int(row["generation"]), float(row["wall_s"])
    return None, None


def row_for(name: str, overrides: list[str], run: Path, late: slice, targets: list[float],
            meta_test: Path | None = None) -> dict:
    """The table row of a finished run directory; with ``meta_test`` (an ``sfnn meta-test`` JSON of
    the run) the final genome's figures are that meta-test's, with its lifetimes kept per wiring."""
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    summary = json.loads((run / "summary.json").read_text())
    tested = json.loads(meta_test.read_text())["results"] if meta_test else None
    row: dict = {"variant": name, "overrides": overrides, "generations": summary["generations"],
                 "wall_s": summary["wall_s"], "generation_s_median": summary.get("generation_s_median"),
                 "envs": {}}
    for env, res in summary["per_env"].items():
        if tested is not None:
            agents = {k: np.asarray(v, float) for k, v in tested[env]["agents"].items()}
            per_lifetime = agents["evolved"][:, late].mean(axis=1)
            entry = {"final_late_mean": float(per_lifetime.mean()),
                     "final_first": float(agents["evolved"][:, 0].mean()),
                     "frozen_late_mean": float(agents["frozen"][:, late].mean()) if "frozen" in agents else None,
                     "lifetimes_late": [float(x) for x in per_lifetime]}
        else:
            entry = {
                "final_late_mean": float(np.mean(res["episode_returns_mean"][late])),
                "final_first": float(res["episode_returns_mean"][0]),
                "frozen_late_mean": float(np.mean(res["frozen_episode_returns_mean"][late]))
                if "frozen_episode_returns_mean" in res else None,
            }
        entry["population_late_mean_last"] = (float(np.mean(metrics[-1][f"episode_returns/{env}"][late]))
                                              if f"episode_returns/{env}" in metrics[-1] else None)
        entry["to_target"] = {}
        for t in targets:
            g, w = generations_to(metrics, env, late, t)
            entry["to_target"][str(t)] = {"generation": g, "wall_s": w}
        row["envs"][env] = entry
    return row


def seed_summary(rows: list[dict], targets: list[float]) -> list[dict]:
    """Rows of one variant over its seeds (``row["seed"]`` set) → one entry per variant and environment:
    each seed's final genome, their mean and standard error, the worst seed, frozen, seeds at each target."""
    out: list[dict] = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        for env in mine[0]["envs"]:
            finals = np.array([r["envs"][env]["final_late_mean"] for r in mine])
            frozen = [r["envs"][env]["frozen_late_mean"] for r in mine if r["envs"][env]["frozen_late_mean"] is not None]
            entry = {"variant": variant, "env": env, "seeds": [r["seed"] for r in mine],
                     "finals": [float(x) for x in finals], "mean": float(finals.mean()),
                     "se": float(finals.std(ddof=1) / np.sqrt(len(finals))) if len(finals) > 1 else None,
                     "worst": float(finals.min()), "frozen_mean": float(np.mean(frozen)) if frozen else None,
                     "reached": {str(t): sum(r["envs"][env]["to_target"][str(t)]["generation"] is not None for r in mine)
                                 for t in targets}}
            if targets and all("lifetimes_late" in r["envs"][env] for r in mine):
                entry["lifetimes_below"] = {str(t): [int(np.sum(np.asarray(r["envs"][env]["lifetimes_late"]) < t))
                                                     for r in mine] for t in targets}
                entry["lifetimes"] = [len(r["envs"][env]["lifetimes_late"]) for r in mine]
            out.append(entry)
    return out


def seeds_markdown(entries: list[dict], targets: list[float], late: slice) -> str:
    """The seeds side by side: one line per variant and environment."""
    eps = episodes_label(late)
    below = targets and all("lifetimes_below" in e for e in entries)
    head = ["variant", "env", "seeds", f"final genome, episodes {eps}, each seed", "mean ± s.e.", "worst seed",
            "frozen"] + ([f"lifetimes < {t:g}, each seed" for t in targets] if below else []) + \
        [f"seeds whose population mean reached {t:g}" for t in targets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in entries:
        n = len(e["seeds"])
        cells = [e["variant"], e["env"], ", ".join(str(s) for s in e["seeds"]),
                 " / ".join(f"{x:.1f}" for x in e["finals"]),
                 f"{e['mean']:.1f}" + ("" if e["se"] is None else f" ± {e['se']:.1f}"), f"{e['worst']:.1f}",
                 "—" if e["frozen_mean"] is None else f"{e['frozen_mean']:.1f}"]
        if below:
            cells += [" / ".join(f"{b} of {m}" if i == 0 else str(b)
                                 for i, (b, m) in enumerate(zip(e["lifetimes_below"][str(t)], e["lifetimes"])))
                      for t in targets]
        cells += [f"{e['reached'][str(t)]} of {n}" for t in targets]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_seeds(entries: list[dict], late: slice, path: Path, targets: list[float] = ()) -> Path:
    """One panel per environment: each seed's final genome as a dot beside its variant, the mean as a bar,
    the targets as dashed lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(e["env"] for e in entries))
    per_panel = max(2, len(entries) // len(envs))
    fig, axes = plt.subplots(1, len(envs), figsize=(len(envs) * (1.5 + 1.4 * per_panel), 3.6), squeeze=False)
    eps = episodes_label(late)
    for ax, env in zip(axes[0], envs):
        mine = [e for e in entries if e["env"] == env]
        for i, e in enumerate(mine):
            ax.scatter([i] * len(e["finals"]), e["finals"], color="C0", zorder=3)
            for seed, y in zip(e["seeds"], e["finals"]):
                ax.annotate(f"s{seed}", (i, y), xytext=(5, -3), textcoords="offset points", fontsize=7)
            ax.hlines(e["mean"], i - 0.3, i + 0.3, color="C3")
        ax.set_xticks(range(len(mine)), [e["variant"] for e in mine], rotation=20)
        ax.set_xlim(-0.6, len(mine) - 0.4)
        for t in targets:
            ax.axhline(t, color="0.5", linestyle="--", linewidth=0.8)
        ax.set_title(env)
        ax.set_ylabel(f"final genome, episodes {eps}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(rows: list[dict], targets: list[float], late: slice) -> str:
    """One line per variant and environment."""
    eps = episodes_label(late)
    head = ["variant", "env"] + [f"gen (wall s) to pop. mean ≥ {t:g}" for t in targets] + \
        [f"final genome, episodes {eps}", "frozen", "first episode", "s / gen (median)", "overrides"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        for env, e in r["envs"].items():
            cells = [r["variant"] + (f" s{r['seed']}" if "seed" in r else ""), env]
            for t in targets:
                hit = e["to_target"][str(t)]
                cells.append("—" if hit["generation"] is None else f"{hit['generation']} ({hit['wall_s']:.0f})")
            frozen = "—" if e["frozen_late_mean"] is None else f"{e['frozen_late_mean']:.1f}"
            cells += [f"{e['final_late_mean']:.1f}", frozen, f"{e['final_first']:.1f}",
                      f"{r['generation_s_median']:.2f}" if r.get("generation_s_median") else "—",
                      " ".join(f"`{o}`" for o in r["overrides"]) or "(base)"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def meta_test(sfnn: str, run: Path, lifetimes: int, report: bool) -> Path | None:
    """``sfnn meta-test`` of a finished run on its own environments, N fresh wirings (kept in the run)."""
    out = run / f"meta_test_{lifetimes}.json"
    if out.exists():
        return out
    if report:
        print(f"  {run}: no {out.name}, left out", flush=True)
        return None
    envs = json.loads((run / "summary.json").read_text())["per_env"]
    cmd = [sfnn, "meta-test", str(run), *[a for env in envs for a in ("--env", env)], "--lifetimes", str(lifetimes),
           "--out", str(out)]
    with open(run.parent / f"{run.name}.meta_test.log", "a") as log:
        if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT).returncode:
            print(f"  meta-test of {run} failed: see {log.name}", flush=True)
            return None
    return out


def train(sfnn: str, config: list[str], common: list[str], run: Path, name: str, report: bool) -> bool:
    """Run (or carry on) one variant's training (``config``: the file and its overrides; ``common``: the
    fields every run shares, which a resume may change); False if it is not finished."""
    if (run / "summary.json").exists():
        return True
    if report:
        print(f"  {name}: not finished, left out", flush=True)
        return False
    if (run / "config.yaml").exists():  # interrupted: carry it on (a resume changes only these fields)
        cmd = [sfnn, "train", "--resume", str(run), *common]
    else:
        cmd = [sfnn, "train", *config, *common, "--out", str(run)]
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {shlex.join(cmd)}", flush=True)
    run.parent.mkdir(parents=True, exist_ok=True)
    with open(run.parent / f"{run.name}.log", "a") as log:
        if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT).returncode:
            print(f"  {name} failed: see {run.parent / f'{run.name}.log'}", flush=True)
            return False
    return True


def parse_seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"ablate.py: --seeds {text!r}: write integers separated by commas, e.g. 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise SystemExit(f"ablate.py: --seeds {text!r}: give distinct non-negative seeds, e.g. 0,1,2")
    return seeds


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", help="base config file")
    ap.add_argument("--base", action="append", default=[], help="override applied to every variant (repeatable)")
    ap.add_argument("--variant", action="append", required=True, help="NAME=OVERRIDES (repeatable; NAME= is the base)")
    ap.add_argument("--generations", type=int, required=True, help="strategy.generations of every variant")
    ap.add_argument("--target", type=float, action="append", default=[], help="late-episode mean return to reach")
    ap.add_argument("--late", default="3:", help="episodes averaged, as a Python slice (default 3: = episodes 4-8)")
    ap.add_argument("--seeds", help="run every variant once per seed, e.g. 0,1,2 (default: the config's seed, once)")
    ap.add_argument("--meta-test", type=int, metavar="N", help="score each final genome on N fresh wirings "
                    "(sfnn meta-test) instead of the run's own final evaluation")
    ap.add_argument("--out", type=Path, default=Path("runs/ablations"))
    ap.add_argument("--report", action="store_true", help="run nothing: the table of the variants already finished")
    args = ap.parse_args(argv)
    late = slice(*[int(p) if p else None for p in args.late.split(":")])
    seeds = parse_seeds(args.seeds)
    if args.meta_test is not None and args.meta_test < 2:
        raise SystemExit(f"ablate.py: --meta-test {args.meta_test}: give at least 2 lifetimes")
    args.out.mkdir(parents=True, exist_ok=True)
    sfnn = str(Path(sys.executable).with_name("sfnn"))
    common = [f"strategy.generations={args.generations}", "log.progress=false", "log.wandb=disabled",
              "log.figures=false"]
    variants = [parse_variant(text) for text in args.variant]
    for name, overrides in variants:
        check_late(args.late, late, args.config, [*args.base, *overrides], name)
    rows = []
    for name, overrides in variants:
        for seed in seeds if seeds is not None else [None]:
            run = args.out / name if seed is None else args.out / name / f"s{seed}"
            label = name if seed is None else f"{name} (seed {seed})"
            extra = [] if seed is None else [f"seed={seed}"]
            if not train(sfnn, [args.config, *args.base, *overrides, *extra], common, run, label, args.report):
                continue
            tested = meta_test(sfnn, run, args.meta_test, args.report) if args.meta_test else None
            if args.meta_test and tested is None:
                continue
            row = row_for(name, overrides, run, late, args.target, tested)
            if seed is not None:
                row["seed"] = seed
            rows.append(row)
            table = markdown(rows, args.target, late)
            (args.out / "ablations.md").write_text(table + "\n")
            (args.out / "ablations.json").write_text(json.dumps(rows, indent=1) + "\n")
            print(table, flush=True)
    if seeds is not None and rows:
        entries = seed_summary(rows, args.target)
        table = seeds_markdown(entries, args.target, late)
        (args.out / "ablations_seeds.md").write_text(table + "\n")
        (args.out / "ablations_seeds.json").write_text(json.dumps(entries, indent=1) + "\n")
        print(table, f"\nplot: {plot_seeds(entries, late, args.out / 'ablations_seeds.png', args.target)}", flush=True)


if __name__ == "__main__":
    main()

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


def generations_to(metrics: list[dict], env: str, late: slice, target: float) -> tuple[int | None, float | None]:
    """First generation whose population mean over the ``late`` episodes reaches ``target``,
    and the run's wall time then (None, None when it never does)."""
    key = f"episode_returns/{env}"
    for row in metrics:
        if key in row and float(np.mean(row[key][late])) >= target:
            return int(row["generation"]), float(row["wall_s"])
    return None, None


def row_for(name: str, overrides: list[str], run: Path, late: slice, targets: list[float]) -> dict:
    """The table row of a finished run directory."""
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    summary = json.loads((run / "summary.json").read_text())
    row: dict = {"variant": name, "overrides": overrides, "generations": summary["generations"],
                 "wall_s": summary["wall_s"], "generation_s_median": summary.get("generation_s_median"),
                 "envs": {}}
    for env, res in summary["per_env"].items():
        entry = {
            "final_late_mean": float(np.mean(res["episode_returns_mean"][late])),
            "final_first": float(res["episode_returns_mean"][0]),
            "frozen_late_mean": float(np.mean(res["frozen_episode_returns_mean"][late]))
            if "frozen_episode_returns_mean" in res else None,
            "population_late_mean_last": float(np.mean(metrics[-1][f"episode_returns/{env}"][late]))
            if f"episode_returns/{env}" in metrics[-1] else None,
            "to_target": {},
        }
        for t in targets:
            g, w = generations_to(metrics, env, late, t)
            entry["to_target"][str(t)] = {"generation": g, "wall_s": w}
        row["envs"][env] = entry
    return row


def markdown(rows: list[dict], targets: list[float], late: slice) -> str:
    """One line per variant and environment."""
    eps = f"{late.start + 1}–{late.stop}" if late.stop else f"{late.start + 1}–"
    head = ["variant", "env"] + [f"gen (wall s) to pop. mean ≥ {t:g}" for t in targets] + \
        [f"final genome, episodes {eps}", "frozen", "first episode", "s / gen (median)", "overrides"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        for env, e in r["envs"].items():
            cells = [r["variant"], env]
            for t in targets:
                hit = e["to_target"][str(t)]
                cells.append("—" if hit["generation"] is None else f"{hit['generation']} ({hit['wall_s']:.0f})")
            frozen = "—" if e["frozen_late_mean"] is None else f"{e['frozen_late_mean']:.1f}"
            cells += [f"{e['final_late_mean']:.1f}", frozen, f"{e['final_first']:.1f}",
                      f"{r['generation_s_median']:.2f}" if r.get("generation_s_median") else "—",
                      " ".join(f"`{o}`" for o in r["overrides"]) or "(base)"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", help="base config file")
    ap.add_argument("--base", action="append", default=[], help="override applied to every variant (repeatable)")
    ap.add_argument("--variant", action="append", required=True, help="NAME=OVERRIDES (repeatable; NAME= is the base)")
    ap.add_argument("--generations", type=int, required=True, help="strategy.generations of every variant")
    ap.add_argument("--target", type=float, action="append", default=[], help="late-episode mean return to reach")
    ap.add_argument("--late", default="3:", help="episodes averaged, as a Python slice (default 3: = episodes 4-8)")
    ap.add_argument("--out", type=Path, default=Path("runs/ablations"))
    ap.add_argument("--report", action="store_true", help="run nothing: the table of the variants already finished")
    args = ap.parse_args()
    late = slice(*[int(p) if p else None for p in args.late.split(":")])
    args.out.mkdir(parents=True, exist_ok=True)
    sfnn = str(Path(sys.executable).with_name("sfnn"))
    rows = []
    for text in args.variant:
        name, overrides = parse_variant(text)
        run = args.out / name
        if not (run / "summary.json").exists():
            if args.report:
                print(f"  {name}: not finished, left out", flush=True)
                continue
            common = [f"strategy.generations={args.generations}", "log.progress=false", "log.wandb=disabled",
                      "log.figures=false"]
            if (run / "config.yaml").exists():  # interrupted: carry it on (a resume changes only these fields)
                cmd = [sfnn, "train", "--resume", str(run), *common]
            else:
                cmd = [sfnn, "train", args.config, *args.base, *overrides, *common, "--out", str(run)]
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {shlex.join(cmd)}", flush=True)
            with open(args.out / f"{name}.log", "a") as log:
                if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT).returncode:
                    print(f"  {name} failed: see {args.out / f'{name}.log'}", flush=True)
                    continue
        rows.append(row_for(name, overrides, run, late, args.target))
        table = markdown(rows, args.target, late)
        (args.out / "ablations.md").write_text(table + "\n")
        (args.out / "ablations.json").write_text(json.dumps(rows, indent=1) + "\n")
        print(table, flush=True)


if __name__ == "__main__":
    main()

"""A long run's metrics in blocks of generations, as docs/RESULTS.md tables them; and whether two
runs of one config are the same run.

A 10,000-generation run is read in blocks (population mean and best member's return per
environment, how many generations had a member of non-zero fitness, the mean best fitness and
CMA-ES's σ), because single generations of fresh wirings are too noisy to compare. ``--same-as``
checks the claim that a run is a pure function of config and seed: every row but the wall time
must be equal, generation by generation, e.g. for a run restarted from scratch on another machine
against its recorded metrics.

    python benchmarks/run_blocks.py runs/authors3/s100_ordinal --block 50
    python benchmarks/run_blocks.py runs/authors3/s100_ordinal \
        --same-as benchmarks/results/2026-12-07-ties/authors3_ordinal_ties
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.rundir import RunError, load_run_config, read_metrics  # noqa: E402

Row = dict[str, Any]


def env_names(rows: list[Row], order: list[str] = ()) -> list[str]:
    """The environments a run logged a population-mean return for: those in ``order`` (the
    config's ``envs``) first, in that order, then any others by name."""
    logged = {k.split("/", 1)[1] for k in rows[0] if k.startswith("return/")}
    return [e for e in order if e in logged] + sorted(logged.difference(order))


def config_envs(run_dir: Path) -> list[str]:
    """The run's ``envs`` as its config.yaml lists them (empty where there is none)."""
    if not (run_dir / "config.yaml").is_file():
        return []
    return list(load_run_config(run_dir, check=False).envs)


def num(x: float, digits: int) -> str:
    """A figure as the docs print it, with a minus sign rather than a hyphen."""
    return f"{x:.{digits}f}".replace("-", "\u2212")


def blocks(rows: list[Row], size: int) -> list[Row]:
    """One summary per ``size`` consecutive generations (the last block may be shorter)."""
    if size < 1:
        raise ValueError(f"block size must be at least 1, got {size}")
    envs = env_names(rows)
    out = []
    for start in range(0, len(rows), size):
        part = rows[start : start + size]
        block: Row = {"first": part[0]["generation"], "last": part[-1]["generation"], "n": len(part)}
        for env in envs:
            block[f"mean/{env}"] = sum(r[f"return/{env}"] for r in part) / len(part)
            block[f"best/{env}"] = max(r[f"best_return/{env}"] for r in part)
        block["nonzero"] = sum(r["best_fitness"] > 0 for r in part)
        block["best_fitness"] = sum(r["best_fitness"] for r in part) / len(part)
        sigmas = [r["search_std"] for r in part if "search_std" in r]
        block["sigma"] = sum(sigmas) / len(sigmas) if sigmas else None
        out.append(block)
    return out


def table(rows: list[Row], size: int, every: int = 1, order: list[str] = ()) -> str:
    """Markdown table of every ``every``-th block and always the last one; environments in ``order``
    first."""
    envs = env_names(rows, order)
    head = ["generations", *(f"{e} mean / best" for e in envs), "with non-zero fitness", "mean best fitness", "mean σ"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    summary = blocks(rows, size)
    for i, b in enumerate(summary):
        if i % every and i != len(summary) - 1:
            continue
        cells = [f"{b['first']}–{b['last']}"]
        cells += [f"{num(b[f'mean/{e}'], 1)} / {num(b[f'best/{e}'], 0)}" for e in envs]
        cells += [f"{b['nonzero']} of {b['n']}", f"{b['best_fitness']:.3f}", "–" if b["sigma"] is None else f"{b['sigma']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def first_difference(a: list[Row], b: list[Row]) -> tuple[int, int | None, list[str]]:
    """(rows equal from the start, generation of the first unequal row or None, keys that differ
    there); wall times are not compared."""
    same = 0
    for ra, rb in zip(a, b):
        diff = sorted(k for k in ra.keys() | rb.keys() if k != "wall_s" and ra.get(k) != rb.get(k))
        if diff:
            return same, ra.get("generation"), diff
        same += 1
    return same, None, []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="run directory (metrics.jsonl or metrics.jsonl.gz)")
    p.add_argument("--block", type=int, default=50, help="generations per block (default 50)")
    p.add_argument("--every", type=int, default=1, help="print every N-th block and the last (default 1)")
    p.add_argument("--same-as", type=Path, help="another run of the same config: compare row by row instead")
    args = p.parse_args(argv)
    try:
        rows = read_metrics(args.run)
        if args.same_as is not None:
            other = read_metrics(args.same_as)
            same, gen, keys = first_difference(rows, other)
            print(f"{same} generations identical (wall time aside) of {min(len(rows), len(other))} in both "
                  f"({len(rows)} in {args.run}, {len(other)} in {args.same_as})")
            if gen is not None:
                print(f"first difference at generation {gen}: {', '.join(keys)}")
            return 0 if gen is None else 1
        if args.block < 1 or args.every < 1:
            p.error("--block and --every must be at least 1")
        print(table(rows, args.block, args.every, config_envs(args.run)))
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

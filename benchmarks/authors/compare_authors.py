"""Plot the authors' first generations (train_authors.py) beside a run of ours in the same setting.

Both sides log the same quantities per generation: the best and mean fitness of the population
(the authors' normalised, episode-weighted fitness, multiplied over tasks) and wall time. The
figure has two panels, fitness against generations (where the two should agree in distribution,
as the parity tests say they do at generation 0) and against wall seconds (where the speed-up
shows), and a third with CMA-ES's σ where the runs log it (``search_std``); the table gives the
figures at equal generations. ``--ours`` takes several runs (``--labels`` names them), e.g. ours
under each ``strategy.ties`` rule.

    .venv/bin/python benchmarks/authors/compare_authors.py \
        --authors runs/authors/cartpole_pop128_seed100.jsonl \
        --ours benchmarks/results/2026-12-02-ablations/authors/metrics.jsonl \
        --out benchmarks/results/2026-12-02-authors-curves/cartpole
"""
import argparse
import gzip
import json
import os

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_jsonl(path: str) -> list[dict]:
    """One dict a line; ``.gz`` files (as results folders keep metrics) read as they are."""
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        return [json.loads(line) for line in f if line.strip()]


def weighted(row: dict, env: str) -> float | None:
    """Our population-mean return with episode k weighted k/Σk, as the authors' task weights it
    (our metrics log each episode's population mean, so the weighting can be done here)."""
    episodes = row.get(f"episode_returns/{env}")
    if not episodes:
        return None
    total = sum(range(len(episodes)))
    return sum(k * r for k, r in enumerate(episodes)) / total


def task_return(row: dict, env: str) -> float | None:
    """The population-mean return, episodes weighted k/Σk: the authors' file logs it, ours is derived."""
    return row.get(f"weighted_return/{env}", weighted(row, env))


def nonzero(row: dict) -> int | None:
    """Members with a fitness above 0 (the authors' file counts them; ours knows only whether one was)."""
    if "nonzero_members" in row:
        return row["nonzero_members"]
    return None if "best_fitness" not in row else int(row["best_fitness"] > 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--authors", required=True, help="train_authors.py's JSONL")
    ap.add_argument("--ours", required=True, nargs="+", help="metrics.jsonl of one or more of our runs in the same setting")
    ap.add_argument("--labels", nargs="+", help="one name per --ours run (default: ours, ours 2, ...)")
    ap.add_argument("--out", required=True, help="path prefix: writes <out>.png and <out>.md")
    ap.add_argument("--title", default="the authors' code and ours, same setting")
    args = ap.parse_args()
    labels = args.labels or ["ours"] + [f"ours {i + 2}" for i in range(len(args.ours) - 1)]
    if len(labels) != len(args.ours):
        ap.error(f"--labels names {len(labels)} runs, --ours gives {len(args.ours)}")

    theirs = read_jsonl(args.authors)
    n = len(theirs)
    if not n:
        raise SystemExit(f"{args.authors} has no generations")
    runs = [("authors' code", theirs)] + [(label, read_jsonl(path)[:n]) for label, path in zip(labels, args.ours)]
    with_std = {label for label, rows in runs if any("search_std" in r for r in rows)}  # runs that log sigma
    envs = sorted({k.split("/", 1)[1] for r in theirs for k in r if k.startswith("weighted_return/")})
    # top row: fitness against generations and wall time, sigma; below, one panel per task's return
    cols = max(3 if with_std else 2, len(envs) if len(envs) > 1 else 0)
    rows_n = 2 if len(envs) > 1 else 1
    fig, grid = plt.subplots(rows_n, cols, figsize=(5.3 * cols, 4 * rows_n), squeeze=False)
    axes = grid[0]
    colours = ["tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:brown"]
    for (label, rows), colour in zip(runs, colours):
        g = [r["generation"] for r in rows]
        t = [r["wall_s"] for r in rows]
        for ax, x in zip(axes, (g, t)):
            ax.plot(x, [r["mean_fitness"] for r in rows], color=colour, label=f"{label}: population mean")
            ax.plot(x, [r["best_fitness"] for r in rows], color=colour, ls="--", label=f"{label}: best member")
        if label in with_std:
            kept = [r for r in rows if "search_std" in r]
            axes[2].plot([r["generation"] for r in kept], [r["search_std"] for r in kept], color=colour, label=label)
        if rows_n == 2:
            for ax, e in zip(grid[1], envs):
                ax.plot(g, [task_return(r, e) for r in rows], color=colour, label=label)
    axes[0].set_xlabel("generation")
    axes[1].set_xlabel("wall seconds")
    axes[1].set_xscale("log")
    axes[1].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels overlap on a short span
    for ax in axes[:2]:
        ax.set_ylabel("fitness (normalised, episode-weighted)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if with_std:
        axes[2].set_xlabel("generation")
        axes[2].set_ylabel("CMA-ES sigma (search_std)")
        axes[2].set_yscale("log")
        axes[2].grid(alpha=0.3)
        axes[2].legend(fontsize=8)
    if rows_n == 2:
        for ax, e in zip(grid[1], envs):
            ax.set_title(e, fontsize=10)
            ax.set_xlabel("generation")
            ax.set_ylabel("population-mean return, episodes weighted k/Σk")
            ax.grid(alpha=0.3)
        grid[1][0].legend(fontsize=8)
    for ax in list(grid[0][3 if with_std else 2:]) + list(grid[1][len(envs):] if rows_n == 2 else []):
        ax.axis("off")
    fig.suptitle(args.title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out + ".png", dpi=120)

    head = ["generation"]
    for label, _ in runs:
        head += [f"{label} mean", f"{label} best", f"{label} non-zero"]
        head += [f"{label} sigma"] if label in with_std else []
        head += [f"{label} {e}" for e in envs] + [f"{label} wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in range(n):
        cells: list = [g]
        for label, rows in runs:
            r = rows[g] if g < len(rows) else {}
            cells += [r.get("mean_fitness"), r.get("best_fitness"), nonzero(r)]
            cells += [r.get("search_std")] if label in with_std else []
            cells += [task_return(r, e) for e in envs] + [r.get("wall_s")]
        lines.append("| " + " | ".join("—" if c is None else f"{c:.4g}" if isinstance(c, float) else str(c)
                                       for c in cells) + " |")
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out}.png and {args.out}.md")


if __name__ == "__main__":
    main()

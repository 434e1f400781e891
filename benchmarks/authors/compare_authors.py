"""Plot the authors' first generations (train_authors.py) beside a run of ours in the same setting.

Both sides log the same quantities per generation: the best and mean fitness of the population
(the authors' normalised, episode-weighted fitness, multiplied over tasks) and wall time. The
figure has two panels, fitness against generations (where the two should agree in distribution,
as the parity tests say they do at generation 0) and against wall seconds (where the speed-up
shows); the table gives the figures at equal generations.

    .venv/bin/python benchmarks/authors/compare_authors.py \
        --authors runs/authors/cartpole_pop128_seed100.jsonl \
        --ours benchmarks/results/2026-12-02-ablations/authors/metrics.jsonl \
        --out benchmarks/results/2026-12-02-authors-curves/cartpole
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def weighted(row: dict, env: str) -> float | None:
    """Our population-mean return with episode k weighted k/Σk, as the authors' task weights it
    (our metrics log each episode's population mean, so the weighting can be done here)."""
    episodes = row.get(f"episode_returns/{env}")
    if not episodes:
        return None
    total = sum(range(len(episodes)))
    return sum(k * r for k, r in enumerate(episodes)) / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--authors", required=True, help="train_authors.py's JSONL")
    ap.add_argument("--ours", required=True, help="metrics.jsonl of our run in the same setting")
    ap.add_argument("--out", required=True, help="path prefix: writes <out>.png and <out>.md")
    ap.add_argument("--title", default="the authors' code and ours, same setting")
    args = ap.parse_args()

    theirs, ours = read_jsonl(args.authors), read_jsonl(args.ours)
    n = len(theirs)
    if not n:
        raise SystemExit(f"{args.authors} has no generations")
    ours = ours[:n]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for rows, label, colour in ((theirs, "authors' code", "tab:orange"), (ours, "ours", "tab:blue")):
        g = [r["generation"] for r in rows]
        t = [r["wall_s"] for r in rows]
        for ax, x in zip(axes, (g, t)):
            ax.plot(x, [r["mean_fitness"] for r in rows], color=colour, label=f"{label}: population mean")
            ax.plot(x, [r["best_fitness"] for r in rows], color=colour, ls="--", label=f"{label}: best member")
    axes[0].set_xlabel("generation")
    axes[1].set_xlabel("wall seconds")
    axes[1].set_xscale("log")
    for ax in axes:
        ax.set_ylabel("fitness (normalised, episode-weighted)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(args.title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out + ".png", dpi=120)

    envs = sorted({k.split("/", 1)[1] for r in theirs for k in r if k.startswith("weighted_return/")})
    head = ["generation", "authors mean", "ours mean", "authors best", "ours best"]
    head += [f"authors {e}" for e in envs] + [f"ours {e}" for e in envs] + ["authors wall s", "ours wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in range(n):
        a, o = theirs[g], ours[g] if g < len(ours) else {}
        cells = [g, a["mean_fitness"], o.get("mean_fitness"), a["best_fitness"], o.get("best_fitness")]
        cells += [a.get(f"weighted_return/{e}") for e in envs] + [weighted(o, e) for e in envs]
        cells += [a["wall_s"], o.get("wall_s")]
        lines.append("| " + " | ".join("—" if c is None else f"{c:.4g}" if isinstance(c, float) else str(c)
                                       for c in cells) + " |")
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out}.png and {args.out}.md")


if __name__ == "__main__":
    main()

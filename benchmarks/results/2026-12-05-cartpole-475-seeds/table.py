"""The table in docs/RESULTS.md ("CartPole alone to 475", more runs): each run's genomes on the
same 64 fresh wirings (meta-test seed 20000), windows 4-8, from the meta-test JSONs in this folder
and the 2026-12-04 seed-1 run beside it; wall time to each generation from the run's metrics.

    python benchmarks/results/2026-12-05-cartpole-475-seeds/table.py
"""

import gzip
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
EARLIER = HERE.parent / "2026-12-04-cartpole-475-seed1"


def row(name: str, meta_test: Path, metrics: Path, generation: int) -> str:
    agents = json.loads(meta_test.read_text())["results"]["CartPole-v1"]["agents"]
    late = np.asarray(agents["evolved"])[:, 3:8].mean(axis=1)
    frozen = np.asarray(agents["frozen"])[:, 3:8].mean()
    opener = gzip.open if metrics.suffix == ".gz" else open
    with opener(metrics, "rt") as f:
        rows = [json.loads(line) for line in f]
    wall = rows[generation - 1]["wall_s"]  # after `generation` generations (checkpoint N holds N of them)
    q1, med, q3 = np.percentile(late, [25, 50, 75])
    return (f"| {name} | {generation} | {wall / 60:.0f} | **{late.mean():.1f}** ± {late.std(ddof=1) / np.sqrt(len(late)):.1f} "
            f"| {q1:.0f} / {med:.0f} / {q3:.0f} | {(late < 100).sum()} of {len(late)} | {frozen:.1f} |")


def main() -> None:
    print("| run | generation | wall time (min, as run) | windows 4–8 (± s.e.) | lifetimes' quartiles | lifetimes that never learn (< 100) | learning off |")
    print("|---|---|---|---|---|---|---|")
    print(row("seed 1, first machine (2026-12-04), final genome", EARLIER / "meta_test_64.json", EARLIER / "metrics.jsonl.gz", 692))
    for seed in (1, 2, 3):
        folder = HERE / f"seed{seed}"
        finals = {json.loads(p.read_text())["generations"] for p in folder.glob("summary*.json")}
        for path in sorted(folder.glob("meta_test_64_*.json"), key=lambda p: int(p.stem.split("_")[-1])):
            generation = int(path.stem.split("_")[-1])
            kind = "final genome" if generation in finals else "checkpoint's mean genome"
            print(row(f"seed {seed}, {kind}", path, folder / "metrics.jsonl.gz", generation))


if __name__ == "__main__":
    main()

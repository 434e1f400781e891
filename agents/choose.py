"""Choosing a run's genome among its kept checkpoints (``sfnn choose``).

A long run's search mean can be better hundreds of generations before the run stops (a
population that peaked and fell back, or a mean that wanders between checkpoints), while the
final evaluation weighs only the last state's best member against its mean. Here the mean genome
of every checkpoint the run kept is scored as the final evaluation scores its candidates, on the
same fresh lifetimes (or tasks), drawn with a seed of their own: report the chosen genome with ``sfnn meta-test
--checkpoint STEP`` on another seed (the default 20000), so that its figures do not include the
luck of the lifetimes that chose it.

Where checkpoints differ by less than the noise of a few dozen lifetimes (Acrobot: a lifetime's
late mean has an s.d. of 60-80), ranking them all on many lifetimes is costly and ranking them on
few mostly picks noise. ``halving`` (successive halving) scores every checkpoint on ``lifetimes``,
keeps the better half, scores the survivors on as many new lifetimes (the next seed), and so on
until two remain: the last two are compared on ``lifetimes`` × rounds each, for about twice the
cost of one round over all checkpoints.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from agents.family import family
from agents.files import write_json_atomic
from agents.rundir import RunError, checkpoint_genomes

CHOOSE_SEED = 10  # not meta-testing's default (20000) nor the final evaluation's lifetimes (10000)


def pooled(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One checkpoint's scores over rounds of equally many lifetimes: the mean of each figure,
    and the standard error of that mean (independent rounds)."""
    out: dict[str, Any] = {"fitness": sum(r["fitness"] for r in rounds) / len(rounds)}
    ses = [r["fitness_se"] for r in rounds]
    out["fitness_se"] = None if None in ses else math.sqrt(sum(s * s for s in ses)) / len(rounds)
    for key in ("late_return", "final_objective"):
        if key in rounds[0]:
            out[key] = {k: round(sum(r[key][k] for r in rounds) / len(rounds), 4) for k in rounds[0][key]}
    return out


def choose_checkpoint(run_dir: Path, lifetimes: int = 32, seed: int = CHOOSE_SEED, out: Path | None = None,
                      halving: bool = False) -> dict[str, Any]:
    """Score every kept checkpoint's genome (``halving``: in rounds, see the module doc); write
    and return the ranking (best first; under halving, those that survived more rounds first)
    and the chosen step."""
    cfg, genomes, unusable = checkpoint_genomes(run_dir)
    if not genomes:
        raise RunError(f"{run_dir}: none of its checkpoints can be read ({'; '.join(unusable.values())})")
    rounds: dict[int, list[dict[str, Any]]] = {s: [] for s in genomes}
    alive, r = sorted(genomes), 0
    while True:
        scores = family(cfg).score(cfg, {str(s): genomes[s] for s in alive}, lifetimes, seed + r)
        for s in alive:
            rounds[s].append(scores[str(s)])
        r += 1
        if not halving or len(alive) <= 2:
            break
        alive = sorted(alive, key=lambda s: -pooled(rounds[s])["fitness"])[: math.ceil(len(alive) / 2)]
    ranking = sorted(({"step": s, **pooled(rounds[s]), "lifetimes": lifetimes * len(rounds[s])} for s in genomes),
                     key=lambda row: (-row["lifetimes"], -row["fitness"]))
    doc = {"run": str(run_dir), "lifetimes": lifetimes, "seed": seed, "halving": halving, "rounds": r,
           "chosen": ranking[0]["step"], "ranking": ranking, "unusable": {str(s): why for s, why in unusable.items()}}  # fmt: skip
    write_json_atomic(out or run_dir / "choose.json", doc, indent=1)
    return doc

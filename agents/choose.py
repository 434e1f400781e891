"""Choosing a run's genome among its kept checkpoints (``sfnn choose``).

A long run's search mean can be better hundreds of generations before the run stops (a
population that peaked and fell back, or a mean that wanders between checkpoints), while the
final evaluation weighs only the last state's best member against its mean. Here the mean genome
of every checkpoint the run kept is scored as the final evaluation scores its candidates, on the
same fresh lifetimes (or tasks), drawn with a seed of their own: report the chosen genome with ``sfnn meta-test
--checkpoint STEP`` on another seed (the default 20000), so that its figures do not include the
luck of the lifetimes that chose it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.family import family
from agents.files import write_json_atomic
from agents.rundir import RunError, checkpoint_genomes

CHOOSE_SEED = 10  # not meta-testing's default (20000) nor the final evaluation's lifetimes (10000)


def choose_checkpoint(run_dir: Path, lifetimes: int = 32, seed: int = CHOOSE_SEED, out: Path | None = None) -> dict[str, Any]:
    """Score every kept checkpoint's genome; write and return the ranking (best first) and the chosen step."""
    cfg, genomes, unusable = checkpoint_genomes(run_dir)
    if not genomes:
        raise RunError(f"{run_dir}: none of its checkpoints can be read ({'; '.join(unusable.values())})")
    scores = family(cfg).score(cfg, {str(s): g for s, g in genomes.items()}, lifetimes, seed)
    ranking = sorted(({"step": s, **scores[str(s)]} for s in genomes), key=lambda r: -r["fitness"])
    doc = {"run": str(run_dir), "lifetimes": lifetimes, "seed": seed, "chosen": ranking[0]["step"],
           "ranking": ranking, "unusable": {str(s): why for s, why in unusable.items()}}  # fmt: skip
    write_json_atomic(out or run_dir / "choose.json", doc, indent=1)
    return doc

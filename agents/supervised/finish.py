"""How a dataset run ends: the final genome chosen on fresh tasks, its accuracy curves beside the
start genome's, all in summary.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from agents.config import TrainConfig, model_label
from agents.plots import lifetime_curves, safe_name, training_curve
from agents.rundir import save_genomes
from agents.run import write_summary
from agents.supervised.meta import evaluator
from agents.supervised.tasks import CHOOSE_STREAM, FINAL_STREAM, load_sources, objective
from agents.sweep import standard_error
from agents.trainer import Trainer


def score_genomes(cfg: TrainConfig, genomes: dict[str, Any], tasks: int, seed: int) -> dict[str, dict[str, Any]]:
    """Each named genome's meta-objective after T inner steps, as the final evaluation scores it,
    averaged over the same ``tasks`` fresh tasks per dataset drawn with ``seed`` (a stream of
    their own: not the tasks the final evaluation chose or reported on), and per dataset."""
    sources = load_sources(cfg)
    evaluate = evaluator(cfg, sources, tasks, jax.random.fold_in(jax.random.fold_in(jax.random.key(cfg.seed), CHOOSE_STREAM), seed))
    data = tuple(s.data for s in sources)
    out = {}
    for name, g in genomes.items():
        finals = {ds: np.asarray(objective(cfg, {k: v[:, -1] for k, v in c.items()}))
                  for ds, c in jax.tree.map(np.asarray, evaluate(g, data)).items()}  # fmt: skip
        every = np.concatenate(list(finals.values()))
        out[name] = {"fitness": float(np.mean(every)), "fitness_se": standard_error(every),
                     "final_objective": {ds: round(float(np.mean(f)), 4) for ds, f in finals.items()}}  # fmt: skip
    return out


def finish(
    cfg: TrainConfig, trainer: Trainer, state: Any, metrics: list[dict[str, Any]], run_dir: Path, logger: Any
) -> dict[str, Any]:
    """A dataset learner's finish (BLUR and the rest of ``agents.supervised.learners``): choose the final
    genome on fresh tasks; save genomes, plots and summary.json.

    Candidates are the search's current genome and its best one (ES: mean and best single
    evaluation; gradient: last and best-generation genome). Each learns on
    ``log.final_lifetimes`` fresh tasks per dataset (same task distribution, new keys), and
    the higher mean objective after T steps wins; the summary reports the winner, and the
    start genome to show what meta-training changed, on as many further fresh tasks.
    """
    n, steps = cfg.log.final_lifetimes, cfg.supervised.inner_steps
    sources = trainer.tasks
    # tasks 0..n-1 choose the genome, n..2n-1 report it: the winner is flattered by the tasks that chose it
    evaluate = evaluator(cfg, sources, 2 * n, jax.random.fold_in(trainer.run_key, FINAL_STREAM))
    data = tuple(s.data for s in sources)
    if trainer.es is None:
        candidates = {"final": trainer.mean_genome(state), "best_generation": trainer.best_genome(state)}
    else:
        candidates = {"es_mean": trainer.mean_genome(state), "es_best": trainer.best_genome(state)}
    curves, scores = {}, {}
    for name, g in {**candidates, "start": trainer.start_genome()}.items():
        both = jax.tree.map(np.asarray, evaluate(g, data))
        finals = [objective(cfg, {k: v[:n, -1] for k, v in c.items()}) for c in both.values()]
        score = float(np.mean(np.concatenate([np.asarray(f) for f in finals])))
        scores[name] = round(score, 4) if np.isfinite(score) else None  # diverged on some task
        curves[name] = jax.tree.map(lambda v: v[n:], both)
    chosen = max(candidates, key=lambda k: -np.inf if scores[k] is None else scores[k])
    save_genomes(run_dir / "genomes.npz", {"best": candidates[chosen], **candidates})
    title = f"{'+'.join(cfg.envs)} · " + (f"BLUR K={cfg.blur.states}, meta={cfg.supervised.meta}" if cfg.model.kind == "blur"
                                         else f"{model_label(cfg)}, meta={cfg.supervised.meta}")
    plots = {"training_curve": str(training_curve(metrics, run_dir / "training_curve.png", title))}
    per_dataset = {}
    for ds, c in curves[chosen].items():
        start = curves["start"][ds]
        p = lifetime_curves(
            {"meta-trained genome": c["acc"], "start genome": start["acc"]},
            run_dir / f"accuracy_{safe_name(ds)}.png",
            f"{ds}: {n} fresh meta-training tasks",
            ylabel="validation accuracy",
            xlabel="inner step",
            x=np.arange(steps + 1),
        )
        plots[f"accuracy_{ds}"] = str(p)
        acc = c["acc"]
        per_dataset[ds] = {
            "accuracy_after_T": round(float(acc[:, -1].mean()), 4),
            "accuracy_after_T_std": round(float(acc[:, -1].std()), 4),
            "loss_after_T": round(float(np.nanmean(c["loss"][:, -1])), 4),
            "start_genome_accuracy_after_T": round(float(start["acc"][:, -1].mean()), 4),
            "accuracy_curve_mean": [round(float(x), 4) for x in acc.mean(0)],
        }
    logger.images(plots)
    return write_summary(
        run_dir, cfg, trainer, metrics, cfg.strategy.population if trainer.es is not None else 1,
        model=cfg.model.kind, meta=cfg.supervised.meta, objective=cfg.supervised.objective, inner_steps=steps,
        final_genome=chosen, final_genome_fitness=scores, final_tasks_per_dataset=n,
        per_dataset=per_dataset, plots=plots,
    )

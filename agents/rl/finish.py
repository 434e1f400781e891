"""How an environment run ends: the final genome chosen on fresh lifetimes, its learning and frozen
curves, a rendered brax lifetime and the SFNN figures, all in summary.json; and the lifetime
evaluation that meta-testing shares."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from agents import checkpoint as ckpt
from agents.config import TrainConfig, model_label
from agents.fitness import lifetime_fitness
from agents.plots import lifetime_curves, safe_name, training_curve
from agents.rl.evaluate import combine_task_fitness, env_tasks, population_fitness
from agents.rundir import save_genomes
from agents.run import warn, write_summary
from agents.sweep import late_spread, standard_error
from agents.trainer import Trainer
from sfnn import Genome


def repeat_genome(genome: Genome, n: int) -> Genome:
    return jax.tree.map(lambda x: jnp.repeat(x[None], n, axis=0), genome)


def evaluate_lifetimes(
    cfg: TrainConfig,
    genomes: Genome,
    envs: list[str] | None = None,
    seed_offset: int = 10_000,
    learn: bool = True,
    lifetime_ids: jax.Array | None = None,
    own_wiring: bool = False,
    learn_windows: int | None = None,
) -> dict[str, np.ndarray]:
    """Per-episode returns per env, (L, episodes), of L lifetimes with fresh wirings and seeds.

    ``genomes`` has a leading axis L: lifetime l is lived by genome l (use ``repeat_genome``
    for L lifetimes of one genome). Lifetime l's wiring and environment seeds depend only on
    (config seed, seed_offset, ``lifetime_ids[l]``), default l: several genomes go through
    the very same lifetimes in one compiled call when the ids are repeated.
    ``own_wiring`` (runs with ``lifetime.wiring=fixed``): every lifetime has the run's own
    wiring, the one its genomes were evolved on (its first, with ``lifetime.lifetimes`` > 1),
    and fresh environment seeds. ``learn_windows`` = K: learning off after window K.
    """
    own = own_wiring and cfg.lifetime.wiring == "fixed"
    eval_cfg = dataclasses.replace(
        cfg,
        envs=list(envs) if envs is not None else list(cfg.envs),
        lifetime=dataclasses.replace(cfg.lifetime, lifetimes=cfg.lifetime.lifetimes if own else 1,
                                     wiring="fixed" if own else "fresh"),  # fmt: skip
        fitness=dataclasses.replace(cfg.fitness, kind="mean"),
    )
    tasks = env_tasks(eval_cfg)
    n = jax.tree.leaves(genomes)[0].shape[0]
    ids = jnp.arange(n) if lifetime_ids is None else jnp.asarray(lifetime_ids)
    key = jax.random.fold_in(jax.random.key(cfg.seed), seed_offset)
    wiring_key = jax.random.key(cfg.seed) if own else key  # fixed wirings come from the run key, as in training
    fn = jax.jit(lambda g, m: population_fitness(eval_cfg, tasks, g, m, wiring_key, key, learn=learn,
                                                       learn_windows=learn_windows)[1])
    return {k: np.asarray(v[:, 0, :]) for k, v in fn(genomes, ids).items()}


def final_evaluation(
    cfg: TrainConfig, genomes: dict[str, Genome], lifetimes: int, learn: bool = True, own_wiring: bool = False,
    first_lifetime: int = 0, seed_offset: int = 10_000,
) -> dict[str, tuple[dict[str, np.ndarray], np.ndarray]]:
    """Each named genome -> (returns per env (lifetimes, episodes), fitness per lifetime).

    All genomes live the same lifetimes, ids ``first_lifetime`` onwards, in one compiled call
    (``own_wiring`` and ``seed_offset``: see ``evaluate_lifetimes``).
    """
    names = list(genomes)
    stacked = jax.tree.map(lambda *xs: jnp.concatenate(xs), *(repeat_genome(genomes[k], lifetimes) for k in names))
    ids = jnp.tile(jnp.arange(first_lifetime, first_lifetime + lifetimes), len(names))
    rets = evaluate_lifetimes(cfg, stacked, seed_offset=seed_offset, learn=learn, lifetime_ids=ids, own_wiring=own_wiring)
    tasks = env_tasks(cfg)  # once: an unknown return range is estimated by random play
    out = {}
    for i, name in enumerate(names):
        mine = {env: r[i * lifetimes : (i + 1) * lifetimes] for env, r in rets.items()}
        fits = [lifetime_fitness(jnp.asarray(mine[t.env.name]), cfg.fitness.kind, t.return_range) for t in tasks]
        out[name] = (mine, np.asarray(combine_task_fitness(cfg, tasks, fits)))
    return out


def score_genomes(cfg: TrainConfig, genomes: dict[str, Genome], lifetimes: int, seed: int) -> dict[str, dict[str, Any]]:
    """Each named genome's score as the final evaluation computes it (the run's fitness of each
    lifetime, environments combined as configured, averaged) over the same ``lifetimes``
    fresh lifetimes drawn with ``seed`` (as ``sfnn meta-test --seed`` draws them; a run on one
    fixed wiring keeps it, as its final evaluation does), and each environment's mean return over
    the late episodes that meta-tests report."""
    evaluated = final_evaluation(cfg, genomes, lifetimes, own_wiring=cfg.lifetime.wiring == "fixed", seed_offset=seed)
    return {name: {"fitness": float(np.mean(fit)), "fitness_se": standard_error(fit),
                   "late_return": {env: round(late_spread(r)[1], 2) for env, r in rets.items()}}
            for name, (rets, fit) in evaluated.items()}  # fmt: skip


def finish(
    cfg: TrainConfig, trainer: Trainer, state: Any, metrics: list[dict[str, Any]], run_dir: Path, logger: Any
) -> dict[str, Any]:
    """Pick the final genome on fresh lifetimes; save genomes, plots and summary.json.

    Candidates are the best single evaluation seen by the ES and the ES mean; the best
    single score is often a lucky wiring, so the choice is made on new lifetimes. The
    figures reported are from n further lifetimes: the winner of a choice made on some
    lifetimes is flattered by them. A run that evolved on one fixed wiring is judged on that
    wiring (fresh environment seeds), and its summary also reports what the genome does on
    fresh wirings.
    """
    n = cfg.log.final_lifetimes
    own = cfg.lifetime.wiring == "fixed"
    candidates = {"es_best": trainer.best_genome(state), "es_mean": trainer.mean_genome(state)}
    # one compiled call: lifetimes 0..n-1 choose, n..2n-1 report
    evaluated = final_evaluation(cfg, candidates, 2 * n, own_wiring=own)
    scores = {name: float(np.mean(fit[:n])) for name, (_, fit) in evaluated.items()}
    chosen = max(scores, key=scores.get)
    curves = {env: r[n:] for env, r in evaluated[chosen][0].items()}
    heldout = float(np.mean(evaluated[chosen][1][n:]))
    one = {chosen: candidates[chosen]}
    frozen, _ = final_evaluation(cfg, one, n, learn=False, own_wiring=own, first_lifetime=n)[chosen]
    fresh = final_evaluation(cfg, one, n, first_lifetime=n)[chosen][0] if own else None
    save_genomes(run_dir / "genomes.npz", {"best": candidates[chosen], **candidates})
    title = f"{'+'.join(cfg.envs)} · {model_label(cfg)}"
    plots = {"training_curve": str(training_curve(metrics, run_dir / "training_curve.png", title))}
    per_env = {}
    for env_name, rets in curves.items():
        p = lifetime_curves(
            {"learning": rets, "frozen (learning off)": frozen[env_name]},
            run_dir / f"lifetime_{safe_name(env_name)}.png",
            f"{env_name}: final genome, {n} lifetimes" + (" on the run's own wiring" if own else " with fresh wirings"),
        )
        plots[f"lifetime_{env_name}"] = str(p)
        per_env[env_name] = {
            "wiring": "the run's own (lifetime.wiring=fixed)" if own else "fresh",
            "episode_returns_mean": [round(float(x), 2) for x in rets.mean(0)],
            "episode_returns_std": [round(float(x), 2) for x in rets.std(0)],
            "frozen_episode_returns_mean": [round(float(x), 2) for x in frozen[env_name].mean(0)],
            "best_lifetime_mean_return": round(float(rets.mean(1).max()), 2),
        }
        if fresh is not None:
            per_env[env_name]["fresh_wiring_episode_returns_mean"] = [round(float(x), 2) for x in fresh[env_name].mean(0)]
    rollout = _render_brax(cfg, run_dir)
    rendered = {}
    if rollout:
        plots["rollout_gif"] = rollout["gif"]
        rendered = {"rendered_lifetime": {k: rollout[k] for k in ("env", "episode_returns", "episode_travel_m")}}
    plots.update(_sfnn_figures(cfg, candidates[chosen], run_dir))
    logger.images(plots)
    valid = [m for m in metrics if m["best_fitness"] is not None]
    return write_summary(
        run_dir, cfg, trainer, metrics, cfg.strategy.population,
        best_member_return={k: max(m[f"best_return/{k}"] for m in valid) for k in cfg.envs} if valid else {},
        final_genome=chosen, final_genome_fitness=scores, final_genome_heldout_fitness=heldout,
        final_lifetimes=n, per_env=per_env, plots=plots, **rendered,
        return_ranges={t.env.name: {"range": t.return_range, "source": t.range_source} for t in trainer.tasks},
    )


def _render_brax(cfg: TrainConfig, run_dir: Path) -> dict[str, Any] | None:
    """A rendered lifetime (HTML + GIF, ``agents.rl.render``) for runs with a brax environment; a
    failure to render is a warning, never the end of a finished run."""
    if not cfg.log.render or not any(e.startswith("brax/") for e in cfg.envs):
        return None
    from agents.rl.render import render_run

    try:
        return render_run(run_dir)
    except Exception as e:  # noqa: BLE001 - rendering is a by-product of the run
        warn(f"rollout not rendered ({ckpt.one_line(e)}); try sfnn render {run_dir}")
        return None


def _sfnn_figures(cfg: TrainConfig, genome: Genome, run_dir: Path) -> dict[str, str]:
    """SFNN runs: the wiring graph and plastic-vector heat-map of the final genome (``agents.rl.viz``);
    a figure that fails is a warning, never the end of a finished run."""
    if cfg.model.kind != "sfnn" or not cfg.log.figures:
        return {}
    try:
        from agents.rl.viz import run_figures

        return run_figures(cfg, genome, run_dir)
    except Exception as e:  # noqa: BLE001 - figures are a by-product of the run
        warn(f"wiring and plastic-state figures not drawn ({ckpt.one_line(e)})")
        return {}

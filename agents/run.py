"""A training run: the generation loop, logging, resume, the final evaluation and summary.

The run directory itself (layout, reading and writing it) is ``agents.rundir``. The loop is a
host loop around one jitted generation; Ctrl-C finishes the current generation, writes a
checkpoint and exits so that ``--resume`` continues exactly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from agents import checkpoint as ckpt
from agents.config import TrainConfig, is_supervised, model_label, to_dict
from agents.evaluate import env_tasks, population_fitness
from agents.files import write_json_atomic
from agents.fitness import combine_envs, lifetime_fitness
from agents.plots import lifetime_curves, safe_name, training_curve
from agents.processes import from_process_0, to_local
from agents.rundir import RunError, save_genomes, write_metrics
from agents.rundir import (  # noqa: F401 - importable from here too, as before agents.rundir held them
    check_resumable,
    default_run_dir,
    load_genome,
    load_run_config,
    prepare_new_run,
    read_metrics,
)
from agents.trainer import Trainer, metrics_to_host
from sfnn import Genome


class Interrupted(Exception):
    def __init__(self, run_dir: Path, generation: int):
        self.generation = generation
        super().__init__(
            f"interrupted after generation {generation}; checkpoint saved. Continue with: sfnn train --resume {run_dir}"
        )


def _warn(msg: str) -> None:
    """One line on stderr that does not break the progress bar."""
    tqdm.write(f"warning: {msg}", file=sys.stderr)


class _Wandb:
    """wandb, reported once and switched off if it fails; never stops a run."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, run_id: str | None, enabled: bool = True):
        self.run = None
        self.id = run_id
        if cfg.log.wandb == "disabled" or not enabled:
            return
        try:
            import wandb

            # wandb takes this package's name, `agents`, for the OpenAI Agents SDK and advertises
            # its LLM-tracing tool on every run; a user's own setting wins
            os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")
            self.run = wandb.init(
                project=cfg.log.project,
                mode=cfg.log.wandb,
                dir=str(run_dir),
                config=to_dict(cfg),
                id=run_id,
                resume="allow" if run_id else None,
                name=run_dir.name,
                settings=wandb.Settings(silent=True, console="off"),
            )
            self.id = self.run.id
        except Exception as e:  # network, disk, auth: keep training with local logs
            first = str(e).splitlines()[0] if str(e) else ""
            _warn(f"wandb disabled for this run, logging locally only ({type(e).__name__}: {first})")
            self.run = None

    def log(self, data: dict[str, Any], step: int) -> None:
        if self.run is None:
            return
        try:
            self.run.log({k: v for k, v in data.items() if not isinstance(v, list)}, step=step)
        except Exception as e:
            _warn(f"wandb logging stopped, logging locally only ({type(e).__name__})")
            self.run = None

    def images(self, paths: dict[str, str]) -> None:
        if self.run is None:
            return
        try:
            import wandb

            self.run.log({k: wandb.Video(p) if p.endswith(".gif") else wandb.Image(p) for k, p in paths.items()})
        except Exception:
            pass

    def finish(self, summary: dict[str, Any] | None = None) -> None:
        if self.run is None:
            return
        try:
            for k, v in (summary or {}).items():
                if isinstance(v, (int, float, str)):
                    self.run.summary[k] = v
            self.run.finish()
        except Exception:
            pass


def _same_config(cfg: TrainConfig, run_dir: Path):
    """``check_meta`` for resume: config.yaml must be the config the checkpoint was made with
    (except strategy.generations, log.* and parallel.*, which a resume may change: where the
    population is evaluated does not change the results)."""

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) and k != "ranges" else {f"{prefix}{k}": v})
        return out

    now = flat(to_dict(cfg))

    def check(step: int, meta: dict[str, Any]) -> None:
        then = flat(meta.get("config") or {})
        free = ("log.", "parallel.")  # besides strategy.generations
        diff = sorted(k for k in now.keys() & then.keys()
                      if now[k] != then[k] and k != "strategy.generations" and not k.startswith(free))
        if diff:
            k = diff[0]
            raise ckpt.CheckpointError(
                f"{run_dir / 'config.yaml'} does not match checkpoint {step} ({k}={now[k]!r}, checkpoint has {then[k]!r}"
                f"{f' and {len(diff) - 1} more' if len(diff) > 1 else ''}): restore the run's config.yaml"
            )

    return check


def _fmt(x: float | None) -> str:
    return "nan" if x is None else f"{x:.3f}"


def train(cfg: TrainConfig, run_dir: Path, resume: bool = False) -> dict[str, Any] | None:
    """Run (or continue) training into ``run_dir``; returns the summary written to summary.json.

    Resume continues from the newest checkpoint that reads back and matches its checksums;
    newer unusable ones are moved to ``checkpoints_unusable/`` (kept) with one warning. A
    checkpoint that cannot be written (full disk) is a warning, not the end of the run. A
    generation in which every member's fitness is non-finite stops the run with a
    ``RunError`` after checkpointing the state before it.

    In a multi-process run every process runs this loop, but only process 0 touches
    ``run_dir``: it restores the checkpoint and sends the state to the others, and it alone
    writes metrics, checkpoints, wandb, the final evaluation and summary.json. The other
    processes return None. Process 0 also decides when Ctrl-C stops the run, so all stop together.
    """
    trainer = Trainer.build(cfg)
    primary = jax.process_index() == 0
    mngr = ckpt.manager(run_dir / "checkpoints", cfg.log.keep_checkpoints) if primary else None
    state = trainer.init_state()
    metrics: list[dict[str, Any]] = []
    start_gen, wall_before, wandb_id = 0, 0.0, None
    if resume and primary:
        got = ckpt.restore_newest_good(mngr, state, check_meta=_same_config(cfg, run_dir))
        if got.skipped:
            dest = run_dir / "checkpoints_unusable"
            ckpt.set_aside(mngr, sorted(got.skipped), dest)
            newest = max(got.skipped)
            _warn(f"checkpoint{'s' if len(got.skipped) > 1 else ''} {', '.join(map(str, sorted(got.skipped)))} "
                  f"unusable (newest: {got.skipped[newest]}); moved to {dest}, resuming from checkpoint {got.step}")
        start_gen, state, meta = got.step, got.state, got.meta
        metrics, wall_before, wandb_id = meta["metrics"], meta["wall_s"], meta.get("wandb_id")
    if resume:
        start, state = from_process_0((np.int32(start_gen), state))
        start_gen = int(start)
    metrics_path = run_dir / "metrics.jsonl"
    if primary:
        write_metrics(metrics_path, metrics)  # exactly the generations the checkpoint holds
    logger = _Wandb(cfg, run_dir, wandb_id, enabled=primary)
    stop = {"flag": False}

    def on_sigint(signum, frame):
        if stop["flag"]:
            raise KeyboardInterrupt
        stop["flag"] = True
        tqdm.write("Ctrl-C: finishing this generation, then saving a checkpoint (press again to abort)")

    old_handler = signal.signal(signal.SIGINT, on_sigint)
    t0 = time.time()

    def meta(done: int) -> dict[str, Any]:
        return {
            "generation": done,
            "wall_s": wall_before + time.time() - t0,
            "metrics": metrics,
            "wandb_id": logger.id,
            "config": to_dict(cfg),
        }

    def save(done: int, at_state: Any) -> bool:
        """Checkpoint ``done``; on failure (full disk, unwritable directory) warn and go on."""
        if not primary:
            return True
        try:
            ckpt.save(mngr, done, at_state, meta(done))
            return True
        except Exception as e:  # orbax/tensorstore wrap OS errors in several types
            try:
                mngr.reload()  # forget the failed step
            except Exception:
                pass
            _warn(f"checkpoint {done} not saved ({ckpt.one_line(e)}); the run goes on, "
                  f"earlier checkpoints are kept (newest: {mngr.latest_step()})")
            return False

    total = cfg.strategy.generations
    evaluated = cfg.blur.tasks_per_member if trainer.es is None else cfg.strategy.population
    devs = trainer.devices
    where = f" on {len(devs)} {devs[0].platform} devices" if len(devs) > 1 else ""  # parallel.devices: null chooses
    bar = tqdm(total=total, initial=start_gen, desc=f"generations{where}",
               disable=not (cfg.log.progress and primary), dynamic_ncols=True)
    try:
        with metrics_path.open("a") if primary else open(os.devnull, "w") as fh:
            for gen in range(start_gen, total):
                before = state
                state, m = trainer.generation(state, jnp.int32(gen))
                row = {"generation": gen, **metrics_to_host(m), "wall_s": round(wall_before + time.time() - t0, 3)}
                if (row.get("nonfinite") or 0) >= evaluated:  # nothing to learn from: stop, keep the state before
                    saved = (primary and gen in mngr.all_steps()) or save(gen, before)
                    where = f"checkpoint {gen} holds the state before it" if saved else "its checkpoint could not be saved"
                    raise RunError(
                        f"generation {gen}: all {evaluated} fitness values are NaN or infinite, so the run stopped "
                        f"({where}); look for overflowing settings such as model.plastic_lr, lifetime.obs_scale "
                        "or fitness.ranges"
                    )
                metrics.append(row)
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                logger.log(row, step=gen)
                bar.set_postfix(best=_fmt(row.get("best_fitness")), mean=_fmt(row.get("mean_fitness")), refresh=False)
                bar.update(1)
                done = gen + 1
                if bool(from_process_0(np.asarray(stop["flag"]))):
                    if not save(done, state):
                        raise RunError(f"interrupted after generation {done}, but its checkpoint could not be saved: "
                                       f"sfnn train --resume {run_dir} continues from checkpoint {mngr.latest_step()}")
                    raise Interrupted(run_dir, done)
                if done % cfg.log.checkpoint_every == 0 and done < total:
                    save(done, state)
        if primary and (start_gen < total or mngr.latest_step() != total):
            save(total, state)
    finally:
        bar.close()
        signal.signal(signal.SIGINT, old_handler)
    if not primary:
        return None
    summary = finish(cfg, trainer, to_local(state), metrics, run_dir, logger)
    logger.finish(summary)
    return summary


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
) -> dict[str, np.ndarray]:
    """Per-episode returns per env, (L, episodes), of L lifetimes with fresh wirings and seeds.

    ``genomes`` has a leading axis L: lifetime l is lived by genome l (use ``repeat_genome``
    for L lifetimes of one genome). Lifetime l's wiring and environment seeds depend only on
    (config seed, seed_offset, ``lifetime_ids[l]``), default l: several genomes go through
    the very same lifetimes in one compiled call when the ids are repeated.
    ``own_wiring`` (runs with ``lifetime.wiring=fixed``): every lifetime has the run's own
    wiring, the one its genomes were evolved on (its first, with ``lifetime.lifetimes`` > 1),
    and fresh environment seeds.
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
    fn = jax.jit(lambda g, m: population_fitness(eval_cfg, tasks, g, m, wiring_key, key, learn=learn)[1])
    return {k: np.asarray(v[:, 0, :]) for k, v in fn(genomes, ids).items()}


def final_evaluation(
    cfg: TrainConfig, genomes: dict[str, Genome], lifetimes: int, learn: bool = True, own_wiring: bool = False
) -> dict[str, tuple[dict[str, np.ndarray], np.ndarray]]:
    """Each named genome -> (returns per env (lifetimes, episodes), fitness per lifetime).

    All genomes live the same ``lifetimes`` lifetimes, in one compiled call (``own_wiring``: see
    ``evaluate_lifetimes``).
    """
    names = list(genomes)
    stacked = jax.tree.map(lambda *xs: jnp.concatenate(xs), *(repeat_genome(genomes[k], lifetimes) for k in names))
    rets = evaluate_lifetimes(cfg, stacked, learn=learn, lifetime_ids=jnp.tile(jnp.arange(lifetimes), len(names)),
                              own_wiring=own_wiring)  # fmt: skip
    tasks = env_tasks(cfg)  # once: an unknown return range is estimated by random play
    out = {}
    for i, name in enumerate(names):
        mine = {env: r[i * lifetimes : (i + 1) * lifetimes] for env, r in rets.items()}
        fits = [lifetime_fitness(jnp.asarray(mine[t.env.name]), cfg.fitness.kind, t.return_range) for t in tasks]
        out[name] = (mine, np.asarray(combine_envs(jnp.stack(fits, -1), cfg.fitness.combine)))
    return out


def finish(
    cfg: TrainConfig, trainer: Trainer, state: Any, metrics: list[dict[str, Any]], run_dir: Path, logger: _Wandb
) -> dict[str, Any]:
    """Pick the final genome on fresh lifetimes; save genomes, plots and summary.json.

    Candidates are the best single evaluation seen by the ES and the ES mean; the best
    single score is often a lucky wiring, so the choice is made on new lifetimes. A run that
    evolved on one fixed wiring is judged on that wiring (fresh environment seeds), and its
    summary also reports what the genome does on fresh wirings.
    """
    if is_supervised(cfg):
        return finish_blur(cfg, trainer, state, metrics, run_dir, logger)
    n = cfg.log.final_lifetimes
    own = cfg.lifetime.wiring == "fixed"
    candidates = {"es_best": trainer.best_genome(state), "es_mean": trainer.mean_genome(state)}
    evaluated = final_evaluation(cfg, candidates, n, own_wiring=own)
    scores = {name: float(np.mean(fit)) for name, (_, fit) in evaluated.items()}
    curves = {name: rets for name, (rets, _) in evaluated.items()}
    chosen = max(scores, key=scores.get)
    frozen, _ = final_evaluation(cfg, {chosen: candidates[chosen]}, n, learn=False, own_wiring=own)[chosen]
    fresh = final_evaluation(cfg, {chosen: candidates[chosen]}, n)[chosen][0] if own else None
    save_genomes(run_dir / "genomes.npz", {"best": candidates[chosen], **candidates})
    title = f"{'+'.join(cfg.envs)} · {model_label(cfg)}"
    plots = {"training_curve": str(training_curve(metrics, run_dir / "training_curve.png", title))}
    per_env = {}
    for env_name, rets in curves[chosen].items():
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
    return _write_summary(
        run_dir, cfg, trainer, metrics, cfg.strategy.population,
        best_member_return={k: max(m[f"best_return/{k}"] for m in valid) for k in cfg.envs} if valid else {},
        final_genome=chosen, final_genome_fitness=scores, final_lifetimes=n, per_env=per_env, plots=plots, **rendered,
        return_ranges={t.env.name: {"range": t.return_range, "source": t.range_source} for t in trainer.tasks},
    )


def _render_brax(cfg: TrainConfig, run_dir: Path) -> dict[str, Any] | None:
    """A rendered lifetime (HTML + GIF, ``agents.render``) for runs with a brax environment; a
    failure to render is a warning, never the end of a finished run."""
    if not cfg.log.render or not any(e.startswith("brax/") for e in cfg.envs):
        return None
    from agents.render import render_run

    try:
        return render_run(run_dir)
    except Exception as e:  # noqa: BLE001 - rendering is a by-product of the run
        _warn(f"rollout not rendered ({ckpt.one_line(e)}); try sfnn render {run_dir}")
        return None


def _sfnn_figures(cfg: TrainConfig, genome: Genome, run_dir: Path) -> dict[str, str]:
    """SFNN runs: the wiring graph and plastic-vector heat-map of the final genome (``agents.viz``);
    a figure that fails is a warning, never the end of a finished run."""
    if cfg.model.kind != "sfnn" or not cfg.log.figures:
        return {}
    try:
        from agents.viz import run_figures

        return run_figures(cfg, genome, run_dir)
    except Exception as e:  # noqa: BLE001 - figures are a by-product of the run
        _warn(f"wiring and plastic-state figures not drawn ({ckpt.one_line(e)})")
        return {}


def _write_summary(
    run_dir: Path, cfg: TrainConfig, trainer: Trainer, metrics: list[dict[str, Any]], population: int, **fields: Any
) -> dict[str, Any]:
    """summary.json: what every run reports (budget, wall time, best generation) plus the learner's ``fields``."""
    valid = [m for m in metrics if m["best_fitness"] is not None]
    best_gen = max(valid, key=lambda m: m["best_fitness"]) if valid else None
    summary = {
        "envs": cfg.envs,
        "generations": cfg.strategy.generations,
        "population": population,
        "genome_params": trainer.num_params,
        "wall_s": metrics[-1]["wall_s"] if metrics else 0.0,
        "best_fitness": best_gen["best_fitness"] if best_gen else None,
        "best_fitness_generation": best_gen["generation"] if best_gen else None,
        **_generation_times(metrics),
        **fields,
    }
    write_json_atomic(run_dir / "summary.json", summary)
    return summary


def _generation_times(metrics: list[dict[str, Any]]) -> dict[str, float]:
    """Wall time of the first generation (compilation included) and the median of the others."""
    walls = [m["wall_s"] for m in metrics]
    if len(walls) < 2:
        return {}
    steps = np.diff(walls)
    return {"first_generation_s": round(walls[0], 2), "generation_s_median": round(float(np.median(steps)), 3)}


def finish_blur(
    cfg: TrainConfig, trainer: Trainer, state: Any, metrics: list[dict[str, Any]], run_dir: Path, logger: _Wandb
) -> dict[str, Any]:
    """A dataset learner's finish (BLUR and the rest of ``agents.supervised.learners``): choose the final
    genome on fresh tasks; save genomes, plots and summary.json.

    Candidates are the search's current genome and its best one (ES: mean and best single
    evaluation; gradient: last and best-generation genome). Each learns on
    ``log.final_lifetimes`` fresh tasks per dataset (same task distribution, new keys), and
    the higher mean objective after T steps wins. The start genome is scored too, to show
    what meta-training changed.
    """
    from agents.supervised.meta import evaluator
    from agents.supervised.tasks import FINAL_STREAM, objective

    n, steps = cfg.log.final_lifetimes, cfg.blur.inner_steps
    sources = trainer.tasks
    evaluate = evaluator(cfg, sources, n, jax.random.fold_in(trainer.run_key, FINAL_STREAM))
    data = tuple(s.data for s in sources)
    if trainer.es is None:
        candidates = {"final": trainer.mean_genome(state), "best_generation": trainer.best_genome(state)}
    else:
        candidates = {"es_mean": trainer.mean_genome(state), "es_best": trainer.best_genome(state)}
    curves, scores = {}, {}
    for name, g in {**candidates, "start": trainer.start_genome()}.items():
        curves[name] = jax.tree.map(np.asarray, evaluate(g, data))
        finals = [objective(cfg, {k: v[:, -1] for k, v in c.items()}) for c in curves[name].values()]
        score = float(np.mean(np.concatenate([np.asarray(f) for f in finals])))
        scores[name] = round(score, 4) if np.isfinite(score) else None  # diverged on some task
    chosen = max(candidates, key=lambda k: -np.inf if scores[k] is None else scores[k])
    save_genomes(run_dir / "genomes.npz", {"best": candidates[chosen], **candidates})
    title = f"{'+'.join(cfg.envs)} · " + (f"BLUR K={cfg.blur.states}, meta={cfg.blur.meta}" if cfg.model.kind == "blur"
                                         else f"{model_label(cfg)}, meta={cfg.blur.meta}")
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
    return _write_summary(
        run_dir, cfg, trainer, metrics, cfg.strategy.population if trainer.es is not None else 1,
        model=cfg.model.kind, meta=cfg.blur.meta, objective=cfg.blur.objective, inner_steps=steps,
        final_genome=chosen, final_genome_fitness=scores, final_tasks_per_dataset=n,
        per_dataset=per_dataset, plots=plots,
    )



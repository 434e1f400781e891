"""A training run: the generation loop, logging, resume, and the summary every run writes.

The run directory itself (layout, reading and writing it) is ``agents.rundir``; how a finished
run picks and reports its final genome is its family's (``agents.family``, ``finish``). The loop is a
host loop around one jitted generation; Ctrl-C finishes the current generation, writes a
checkpoint and exits so that ``--resume`` continues exactly.
"""

from __future__ import annotations

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
from agents.config import TrainConfig, to_dict
from agents.family import family
from agents.files import write_json_atomic
from agents.processes import from_process_0, to_local
from agents.provenance import machine_record
from agents.rundir import RunError, write_metrics
from agents.rundir import (  # noqa: F401 - importable from here too, as before agents.rundir held them
    check_resumable,
    default_run_dir,
    load_genome,
    load_run_config,
    prepare_new_run,
    read_metrics,
)
from agents.trainer import Trainer, metrics_to_host
from agents.wandb_init import start_wandb


class Interrupted(Exception):
    def __init__(self, run_dir: Path, generation: int):
        self.generation = generation
        super().__init__(
            f"interrupted after generation {generation}; checkpoint saved. Continue with: sfnn train --resume {run_dir}"
        )


def warn(msg: str) -> None:
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
            self.run = start_wandb(
                cfg, run_dir, config=to_dict(cfg), id=run_id, resume="allow" if run_id else None, name=run_dir.name
            )
            self.id = self.run.id
        except Exception as e:  # network, disk, auth: keep training with local logs
            first = str(e).splitlines()[0] if str(e) else ""
            warn(f"wandb disabled for this run, logging locally only ({type(e).__name__}: {first})")
            self.run = None

    def log(self, data: dict[str, Any], step: int) -> None:
        if self.run is None:
            return
        try:
            self.run.log({k: v for k, v in data.items() if not isinstance(v, list)}, step=step)
        except Exception as e:
            warn(f"wandb logging stopped, logging locally only ({type(e).__name__})")
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
            warn(f"checkpoint{'s' if len(got.skipped) > 1 else ''} {', '.join(map(str, sorted(got.skipped)))} "
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
            warn(f"checkpoint {done} not saved ({ckpt.one_line(e)}); the run goes on, "
                  f"earlier checkpoints are kept (newest: {mngr.latest_step()})")
            return False

    total = cfg.strategy.generations
    evaluated = cfg.supervised.tasks_per_member if trainer.es is None else cfg.strategy.population
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
                post = {"best": _fmt(row.get("best_fitness")), "mean": _fmt(row.get("mean_fitness"))}
                if row.get("search_std") is not None:  # the ES's step size: a stalled search shows it falling
                    post["sigma"] = f"{row['search_std']:.3g}"
                bar.set_postfix(post, refresh=False)
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
    summary = family(cfg).finish(cfg, trainer, to_local(state), metrics, run_dir, logger)
    logger.finish(summary)
    return summary


def write_summary(
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
        "machine": machine_record(),  # where it was computed: another CPU or build may round otherwise
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

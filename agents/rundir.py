"""A run directory on disk: creating it, reading its config, metrics and genomes back.

Layout (README.md, Configs): config.yaml, metrics.jsonl, checkpoints/, genomes.npz, summary.json
and PNG plots. Everything that reads or creates a run directory goes through here, so that the
training loop (``agents.run``), meta-testing, rendering and the CLI agree on one layout and
refuse a damaged or unfinished directory with the same one-line errors.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from jax.flatten_util import ravel_pytree

from agents import checkpoint as ckpt
from agents.config import ConfigError, TrainConfig, load_config, model_label, save_config
from agents.files import savez_atomic, write_text_atomic
from agents.plots import safe_name
from agents.trainer import Trainer, read_genome
from sfnn import Genome


class RunError(RuntimeError):
    """A run directory that cannot be used as asked; one line for the user."""


def prepare_new_run(cfg: TrainConfig, out: Path) -> Path:
    """Create the run directory and write the resolved config; never reuse a non-empty one."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"run directory {out} already exists and is not empty: choose another --out, or --resume {out}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot create run directory {out}: {e.strerror}") from None
    save_config(cfg, out / "config.yaml")
    return out


def load_run_config(run_dir: Path, overrides: list[str] = (), check: bool = True) -> TrainConfig:
    """A run's config.yaml with ``overrides``; ``check=False``: types only (see ``load_config``)."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run directory (no config.yaml): pass the --out directory of an earlier sfnn train")
    try:
        return load_config(path, list(overrides), check=check)
    except ConfigError as e:  # a damaged config.yaml: say which file (not when the bad value is an override)
        msg, overridden = str(e), {o.split("=", 1)[0] for o in overrides}
        raise ConfigError(msg if str(path) in msg or msg.split("=", 1)[0] in overridden else f"{path}: {msg}") from None


def has_checkpoints(run_dir: Path) -> bool:
    """Whether the run kept at least one finished checkpoint (orbax names them by their step)."""
    ck = run_dir / "checkpoints"
    return ck.is_dir() and any(p.name.isdigit() for p in ck.iterdir())


def check_resumable(run_dir: Path) -> None:
    if not has_checkpoints(run_dir):
        raise RunError(f"{run_dir} has no checkpoints to resume from: start a new run instead")


def save_genomes(path: Path, genomes: dict[str, Genome]) -> None:
    """Flat float32 vectors, loadable without pickle; the config rebuilds their structure."""
    savez_atomic(path, {k: np.asarray(ravel_pytree(g)[0], np.float32) for k, g in genomes.items()})


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The per-generation rows of a run's metrics.jsonl (a torn last line is ignored), or of
    metrics.jsonl.gz where only that is there: recorded results keep their metrics compressed
    beside config.yaml, so that ``sfnn compare`` plots them without their run directory."""
    path, packed = run_dir / "metrics.jsonl", run_dir / "metrics.jsonl.gz"
    if path.is_file():
        text = path.read_text()
    elif packed.is_file():
        path = packed
        try:
            text = gzip.decompress(packed.read_bytes()).decode()
        except (OSError, EOFError, UnicodeDecodeError) as e:
            raise RunError(f"{packed} cannot be read as gzip-compressed JSON lines: {e}") from None
    else:
        raise RunError(f"{run_dir} has no metrics.jsonl: pass the --out directory of an sfnn train run")
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    if not rows:
        raise RunError(f"{path} holds no generations yet")
    return rows


def load_genome(run_dir: Path, cfg: TrainConfig, which: str = "best") -> Genome:
    path = run_dir / "genomes.npz"
    if not path.is_file():
        raise RunError(f"{path} not found: the run has not finished; resume it with sfnn train --resume {run_dir}, "
                       "or meta-test its newest checkpoint with --checkpoint")
    try:
        return read_genome(path, cfg, which)
    except ValueError as e:
        raise RunError(f"{e}: re-run or resume the training") from None


def _checkpoint_reader(run_dir: Path, if_none: str) -> tuple[Trainer, Any]:
    """A trainer rebuilt from the run's saved config (its ES state's shape) and a manager of its
    checkpoints; a warm start's source file need not still be there, it only shaped the start.
    ``if_none``: what the one-line error for a run without checkpoints advises."""
    if not has_checkpoints(run_dir):
        raise RunError(f"{run_dir} has no checkpoints: {if_none}")
    cfg = load_run_config(run_dir)
    cfg = dataclasses.replace(cfg, strategy=dataclasses.replace(cfg.strategy, init_from=None))
    trainer = Trainer.build(cfg)
    return trainer, ckpt.manager(run_dir / "checkpoints", trainer.cfg.log.keep_checkpoints)


def checkpoint_genome(run_dir: Path, step: int | None = None) -> tuple[Genome, int]:
    """The search's current genome (the ES mean, or a meta-gradient run's genome) in the run's
    newest usable checkpoint, or in checkpoint ``step``, and the generations it holds.

    A run writes genomes.npz only when it finishes; a run of hours that is still training, or
    paused at a session's end, can be meta-tested from here without stopping it, and a long run's
    mean genome can be chosen among its kept checkpoints (``log.keep_checkpoints``). The state is
    rebuilt from the run's saved config, so that a meta-test's lifetime overrides cannot change
    its shape. Nothing on disk is changed (a checkpoint that fails its checksum is skipped, not
    moved; resuming moves it aside).
    """
    trainer, mngr = _checkpoint_reader(run_dir, "meta-test its final genome without --checkpoint")
    try:
        if step is None:
            got = ckpt.restore_newest_good(mngr, trainer.init_state())
        else:
            got = ckpt.restore_step(mngr, trainer.init_state(), step)
    except ckpt.CheckpointError as e:
        raise RunError(str(e).replace("nothing to resume", "nothing to meta-test")) from None
    finally:
        mngr.close()
    return trainer.mean_genome(got.state), got.step


def checkpoint_genomes(run_dir: Path) -> tuple[TrainConfig, dict[int, Genome], dict[int, str]]:
    """The run's config, the search's genome in every checkpoint it kept (by step), and the
    checkpoints that could not be read (step: why), as ``checkpoint_genome`` reads them."""
    trainer, mngr = _checkpoint_reader(run_dir, "nothing to choose from (pass the directory of an sfnn train run; "
                                                "a shipped pretrained/ folder keeps only its final genome)")
    template = trainer.init_state()
    genomes, unusable = {}, {}
    try:
        for step in sorted(mngr.all_steps()):
            try:
                genomes[step] = trainer.mean_genome(ckpt.restore_step(mngr, template, step).state)
            except ckpt.CheckpointError as e:
                unusable[step] = str(e)
    finally:
        mngr.close()
    return trainer.cfg, genomes, unusable


def write_metrics(path: Path, metrics: list[dict[str, Any]]) -> None:
    """Rewrite metrics.jsonl whole and atomically (resume trims it to the checkpoint's generation)."""
    write_text_atomic(path, "".join(json.dumps(m) + "\n" for m in metrics))


def default_run_dir(cfg: TrainConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / safe_name(f"{stamp}-{'_'.join(cfg.envs)}-{model_label(cfg)}")

"""Meta-test: a trained genome on any registered environment or dataset, learning within fresh lifetimes.

``meta_test`` reads the run and hands it to its family: ``agents.rl.metatest`` (the evolved
genome against itself frozen, random genomes and ``--compare`` runs, in environments) or
``agents.supervised.metatest`` (accuracy curves against SGD, Adam and the backprop genome, on
datasets). What both share lives here: the options, the names of compared runs, the wandb log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agents.config import TrainConfig, model_label
from agents.family import family
from agents.rundir import checkpoint_genome, load_genome, load_run_config
from agents.wandb_init import start_wandb
from sfnn import Genome


@dataclass(frozen=True)
class MetaTestOptions:
    """The meta-test's options that belong to one family; the other family refuses them by name."""

    steps: int | None = None  # datasets: inner learning steps
    hidden: list[int] | None = None  # datasets: the meta-test network's hidden layers
    hidden_neurons: int | None = None  # environments, SFNN: hidden neurons of each network
    max_steps: int | None = None  # environments: the episode cap
    lifetime: tuple[str, ...] = ()  # environments: lifetime.* overrides given (--episode-mode, --episodes)
    # a checkpoint's mean genome instead of the final genome (--checkpoint [STEP]): "newest" or its step
    checkpoint: int | Literal["newest"] | None = None
    learn_windows: int | None = None  # environments, windows: one more agent, learning off after window K
    connect_prob: float | None = None  # environments, SFNN: edge probability of each wiring


def meta_test(
    run_dir: Path,
    envs: list[str],
    lifetimes: int,
    out: Path | None = None,
    seed: int = 20_000,
    steps: int | None = None,
    compare: list[Path] = (),
    hidden: list[int] | None = None,
    hidden_neurons: int | None = None,
    max_steps: int | None = None,
    episode_mode: str | None = None,
    episodes: int | None = None,
    checkpoint: int | Literal["newest"] | None = None,
    learn_windows: int | None = None,
    connect_prob: float | None = None,
) -> dict[str, Any]:
    """Evaluate the run's final genome on ``envs``; writes JSON and one PNG per environment.

    Environment runs meet each environment in a network and lifetime made for it
    (``env_config``): an SFNN has that environment's inputs and outputs and at least the hidden
    neurons it was evolved with (``hidden_neurons`` to set them), and episodes end at the
    environment's own cap (the run's where the run trained on it; ``max_steps`` to set it).
    ``episode_mode`` (``window`` or ``consecutive``) replaces the run's ``lifetime.episode_mode``,
    e.g. to report a genome evolved under the authors' windows on episodes back to back as well;
    ``episodes`` replaces ``lifetime.episodes`` (back to back, 8 episodes can be a few hundred steps).

    ``steps`` and ``hidden`` (dataset runs only): inner learning steps (default the run's T) and
    the meta-test network's hidden layers (default the run's ``supervised.hidden``). ``compare`` are
    other runs (baselines, other placements, other dataset learners) evaluated on the same
    environments or datasets and seeds, with this run's lifetime length or inner steps.
    ``checkpoint``: evaluate the search's mean genome in the run's ``"newest"`` checkpoint (a run
    still training or paused) or in the checkpoint of that step (to choose among a run's kept
    checkpoints) instead of its final genome; the JSON's "genome" says which was used.
    ``learn_windows`` = K (environment runs under windows): one more agent, the evolved genome with
    learning off after window K, to tell whether it needs to keep learning or unlearns.
    ``connect_prob`` (SFNN runs): the edge probability of every meta-test wiring, the run's and
    those of SFNN runs compared with it (a genome does not depend on it).
    """
    # the lifetime options as config overrides: the config's own checks (choices, bounds) apply to them
    lifetime = [f"lifetime.{k}={v}" for k, v in (("episode_mode", episode_mode), ("episodes", episodes)) if v is not None]
    network = [] if connect_prob is None else [f"model.connect_prob={connect_prob}"]
    cfg = load_run_config(run_dir, lifetime + network)
    opts = MetaTestOptions(steps, hidden, hidden_neurons, max_steps, tuple(lifetime), checkpoint, learn_windows,
                           connect_prob)
    return family(cfg).meta_test(run_dir, cfg, envs, lifetimes, out, seed, list(compare), opts)


def run_genome(run_dir: Path, cfg: TrainConfig, opts: MetaTestOptions) -> tuple[Genome, str]:
    """The genome a meta-test evaluates, and where it came from (the JSON's "genome")."""
    if opts.checkpoint is not None:
        genome, step = checkpoint_genome(run_dir, None if opts.checkpoint == "newest" else opts.checkpoint)
        return genome, f"checkpoint {step}: the search's mean genome after {step} generations"
    return load_genome(run_dir, cfg), "genomes.npz: the run's final genome"


def compare_label(ocfg: TrainConfig, other: Path, taken: Any) -> str:
    """An agent name for the ``--compare`` run ``other``: its learner and directory name, or its
    whole path when two compared runs share a directory name."""
    name = f"{model_label(ocfg)} ({other.name})"
    return f"{model_label(ocfg)} ({other})" if name in taken else name


def log_meta_test(cfg: TrainConfig, run_dir: Path, doc: dict[str, Any], plots: dict[str, Path], where: Path) -> None:
    """Log a meta-test to wandb (the run's log.wandb mode) as its own run of job type meta-test,
    its files under ``where`` (beside the JSON), so that meta-testing a shipped genome with
    ``--out`` elsewhere leaves the genome's folder as it was.

    Mean return per episode of every agent becomes a line series; a wandb failure is reported
    once and never fails the meta-test, whose JSON and PNGs are already written.
    """
    if cfg.log.wandb == "disabled":
        return
    try:
        import wandb

        run = start_wandb(
            cfg, where, job_type="meta-test", name=f"{run_dir.name}-meta-test",
            config={"run": str(run_dir), "lifetimes": doc["lifetimes"], "seed": doc["seed"]},
        )  # fmt: skip
        for env, r in doc["results"].items():
            names = list(r["agents"])
            if not names:
                continue
            ys = [np.mean(r["agents"][a], axis=0).tolist() for a in names]
            run.log({
                f"meta_test/{env}": wandb.plot.line_series(xs=r["x"], ys=ys, keys=names, title=env, xname="episode"),
                f"meta_test_plot/{env}": wandb.Image(str(plots[env])),
            })  # fmt: skip
        run.finish()
    except Exception as e:  # offline disk, network: the local results stand
        print(f"warning: meta-test not logged to wandb ({type(e).__name__})")

"""Meta-test: a trained genome on any registered environment or dataset, learning within fresh lifetimes.

SFNN: compares the evolved plastic genome with itself frozen (plasticity off: what is learned
versus what is built in) and with random genomes, over K lifetimes with fresh wiring.
BLUR: held-out accuracy after every inner step on whole datasets (other input sizes and
class counts included) for the learned genome, the backprop genome, and an MLP of the same
architecture and loss trained by SGD and by Adam with learning rates tuned on the
meta-training tasks; K lifetimes differ in initial weights and batch order.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import jax
import numpy as np

from agents.config import ConfigError, TrainConfig, check_dataset_name
from agents.plots import lifetime_curves, safe_name
from agents.policy import genome_template
from agents.run import evaluate_lifetimes, load_genome, load_run_config, repeat_genome


def meta_test(
    run_dir: Path,
    envs: list[str],
    lifetimes: int,
    out: Path | None = None,
    seed: int = 20_000,
    steps: int | None = None,
) -> dict[str, Any]:
    """Evaluate the run's final genome on ``envs``; writes JSON and one PNG per environment.

    ``steps`` (BLUR runs only) is the number of inner learning steps; default the run's T.
    """
    cfg = load_run_config(run_dir)
    if cfg.model.kind == "blur":
        return meta_test_blur(run_dir, cfg, envs, lifetimes, out, seed, steps)
    if steps is not None:
        raise ConfigError("--steps applies to BLUR runs only; an SFNN lifetime's length is lifetime.episodes")
    from agents.config import validate

    check = load_run_config(run_dir)
    check.envs = list(envs)
    check.fitness.kind = "mean"
    validate(check)
    genome = load_genome(run_dir, cfg)
    random = jax.vmap(lambda k: genome_template(cfg, k))(jax.random.split(jax.random.key(seed), lifetimes))
    agents = {
        "plastic": evaluate_lifetimes(cfg, repeat_genome(genome, lifetimes), envs, seed),
        "frozen": evaluate_lifetimes(cfg, repeat_genome(genome, lifetimes), envs, seed, learn=False),
        "random": evaluate_lifetimes(cfg, random, envs, seed),
    }
    out = out or run_dir / "meta_test.json"
    results: dict[str, Any] = {}
    for env in envs:
        curves = {a: np.asarray(r[env]) for a, r in agents.items()}
        png = lifetime_curves(curves, out.with_name(f"{out.stem}_{env}.png"), f"meta-test on {env} ({lifetimes} lifetimes)")
        results[env] = {
            "metric": "return",
            "x": list(range(1, cfg.lifetime.episodes + 1)),
            "agents": {a: c.round(3).tolist() for a, c in curves.items()},
            "plot": str(png),
        }
    doc = {"run": str(run_dir), "lifetimes": lifetimes, "results": results}
    out.write_text(json.dumps(doc, indent=1))
    return doc


def meta_test_blur(
    run_dir: Path, cfg: TrainConfig, envs: list[str], lifetimes: int, out: Path | None, seed: int, steps: int | None
) -> dict[str, Any]:
    """BLUR meta-test: accuracy-vs-step curves per dataset for blur, backprop_genome, sgd and adam.

    Datasets are loaded with split seed ``cfg.seed + 1``: synthetic teachers are then new
    tasks even for a name used in meta-training. Baseline learning rates come from a grid
    search on the meta-training tasks at the same number of steps, recorded in the JSON.
    """
    from agents.blur_task import load_sources, meta_test_curves, tune_learning_rates

    for name in envs:
        check_dataset_name(name)
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps={steps} must be at least 1")
    steps = steps or cfg.blur.inner_steps
    genome = load_genome(run_dir, cfg)
    sources = load_sources(cfg, list(envs), seed=cfg.seed + 1)
    tuned = tune_learning_rates(cfg, load_sources(cfg), steps)
    lrs = {k: v["lr"] for k, v in tuned.items()}
    out = out or run_dir / "meta_test.json"
    base = jax.random.fold_in(jax.random.key(cfg.seed), seed)
    results: dict[str, Any] = {}
    for src in sources:
        key = jax.random.fold_in(base, zlib.crc32(src.name.encode()) & 0x7FFFFFFF)
        curves = meta_test_curves(cfg, genome, src, lifetimes, steps, key, lrs)
        labels = {"blur": "blur (meta-trained rule)", "backprop_genome": "backprop_genome (same steps as sgd)"}
        png = lifetime_curves(
            {labels.get(a, a): c for a, c in curves.items()},
            out.with_name(f"{out.stem}_{safe_name(src.name)}.png"),
            f"meta-test on {src.name} ({src.n_features} inputs, {src.n_classes} classes; {lifetimes} lifetimes)",
            ylabel="validation accuracy",
            xlabel="inner step",
            x=np.arange(steps + 1),
        )
        results[src.name] = {
            "metric": "accuracy",
            "x": list(range(steps + 1)),
            "agents": {a: c.round(4).tolist() for a, c in curves.items()},
            "plot": str(png),
            "n_features": src.n_features,
            "n_classes": src.n_classes,
            "used_in_meta_training": src.name in cfg.envs,
        }
    doc = {"run": str(run_dir), "lifetimes": lifetimes, "steps": steps, "learning_rates": tuned, "results": results}
    out.write_text(json.dumps(doc, indent=1))
    return doc

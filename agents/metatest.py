"""Meta-test: a trained genome on any registered environment, learning within fresh lifetimes.

Compares the evolved plastic genome with itself frozen (plasticity off: what is learned
versus what is built in) and with random genomes, over K lifetimes with fresh wiring.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from agents.plots import lifetime_curves
from agents.policy import genome_template
from agents.run import evaluate_lifetimes, load_genome, load_run_config, repeat_genome


def meta_test(run_dir: Path, envs: list[str], lifetimes: int, out: Path | None = None, seed: int = 20_000) -> dict[str, Any]:
    """Evaluate the run's final genome on ``envs``; writes JSON and one PNG per environment."""
    cfg = load_run_config(run_dir)
    from agents.config import ConfigError, validate

    check = load_run_config(run_dir)
    check.envs = list(envs)
    check.fitness.kind = "mean"
    try:
        validate(check)
    except ConfigError:
        raise
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

"""Meta-test on datasets (every learner of ``agents.supervised.learners``): held-out accuracy after
every inner step on whole datasets (other input sizes and class counts included) for the run's
learner, the runs named by ``--compare``, the backprop genome, and an MLP of the same
architecture and loss trained by SGD and by Adam with learning rates tuned on the first run's
meta-training tasks; K lifetimes differ in initial weights and batch order, and lifetime l is the
same for every agent."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import jax
import numpy as np

from agents.config import MAX_LAYER_SIZE, MAX_LAYERS, ConfigError, TrainConfig, check_dataset_name, is_supervised, model_label
from agents.files import write_json_atomic
from agents.metatest import MetaTestOptions, compare_label, run_genome
from agents.plots import lifetime_curves, safe_name
from agents.rundir import load_genome, load_run_config
from agents.supervised.learners import learner
from agents.supervised.meta import BASELINE_AGENTS, meta_test_curves, tune_learning_rates
from agents.supervised.tasks import load_sources


def meta_test_datasets(run_dir: Path, cfg: TrainConfig, envs: list[str], lifetimes: int, out: Path | None,
                       seed: int, compare: list[Path], opts: MetaTestOptions) -> dict[str, Any]:
    """Accuracy-vs-step curves per dataset for this run's learner, the ``compare`` runs, the
    backprop genome, sgd and adam, all on the same lifetimes (initial weights and batches).

    Datasets are loaded with split seed ``cfg.seed + 1``: synthetic teachers are then new
    tasks even for a name used in meta-training. Baseline learning rates come from a grid
    search on this run's meta-training tasks at the same number of steps, recorded in the
    JSON. Each agent's ``protocol`` line says how it met the datasets (e.g. MAML's projection).
    """
    if opts.lifetime:
        raise ConfigError("--episode-mode and --episodes apply to runs in environments; a dataset run has no episodes")
    for flag, value in (("--hidden-neurons", opts.hidden_neurons), ("--max-steps", opts.max_steps),
                        ("--learn-windows", opts.learn_windows), ("--connect-prob", opts.connect_prob)):
        if value is not None:
            raise ConfigError(f"{flag} applies to runs in environments; a dataset run has no episodes or SFNN")
    steps, hidden = opts.steps, opts.hidden
    for name in envs:
        check_dataset_name(name)
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps={steps} must be at least 1")
    if hidden is not None and (not hidden or any(not 1 <= h <= MAX_LAYER_SIZE for h in hidden) or len(hidden) > MAX_LAYERS):
        raise ConfigError(f"--hidden {hidden}: give 1 to {MAX_LAYERS} layer sizes between 1 and {MAX_LAYER_SIZE}, "
                          "e.g. 64 or 64,32")
    steps = steps or cfg.supervised.inner_steps
    main = cfg.model.kind
    genome, source = run_genome(run_dir, cfg, opts)
    agents = [(main, cfg, genome, run_dir)]
    for other in compare:
        ocfg = load_run_config(other)
        if not is_supervised(ocfg):
            raise ConfigError(f"--compare {other}: model.kind={ocfg.model.kind} acts in environments; "
                              f"compare {run_dir} with runs on datasets")
        name = compare_label(ocfg, other, {a[0] for a in agents})
        agents.append((name, ocfg, load_genome(other, ocfg), other))
    sources = load_sources(cfg, list(envs), seed=cfg.seed + 1)
    tuned = tune_learning_rates(cfg, load_sources(cfg), steps)
    lrs = {k: v["lr"] for k, v in tuned.items()}
    out = out or run_dir / "meta_test.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    base = jax.random.fold_in(jax.random.key(cfg.seed), seed)
    net_hidden = list(cfg.supervised.hidden if hidden is None else hidden)
    protocols = {name: learner(acfg).protocol(acfg) for name, acfg, _, _ in agents}
    protocols.update({
        "backprop_genome": "BLUR's K=2 genome that equals SGD, at SGD's tuned step",
        "sgd": f"plain SGD at lr {lrs['sgd']} (tuned on {run_dir.name}'s meta-training tasks at {steps} steps)",
        "adam": f"Adam at lr {lrs['adam']} (tuned on {run_dir.name}'s meta-training tasks at {steps} steps)",
    })  # fmt: skip
    labels = {"blur": "blur (meta-trained rule)", "backprop_genome": "backprop_genome (same steps as sgd)"}
    results: dict[str, Any] = {}
    for src in sources:
        key = jax.random.fold_in(base, zlib.crc32(src.name.encode()) & 0x7FFFFFFF)
        curves = meta_test_curves(cfg, [a[:3] for a in agents], src, lifetimes, steps, key, lrs, net_hidden)
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
            "used_in_meta_training_by": [name for name, acfg, _, _ in agents if src.name in acfg.envs],
        }
    doc = {
        "run": str(run_dir), "genome": source, "model": model_label(cfg), "lifetimes": lifetimes, "seed": seed, "steps": steps,
        "hidden": net_hidden, "compare": [str(c) for c in compare], "learning_rates": tuned,
        "protocols": protocols, "agent_order": [a[0] for a in agents] + list(BASELINE_AGENTS), "results": results,
    }  # fmt: skip
    write_json_atomic(out, doc, indent=1)
    return doc

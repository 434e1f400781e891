"""Meta-test: a trained genome on any registered environment or dataset, learning within fresh lifetimes.

Environments: compares the evolved genome with itself frozen (learning off: what is learned
versus what is built in), with random genomes, and with other runs named by ``--compare``
(baselines, other placements), over K lifetimes with fresh wiring and the same seeds.
Datasets (every learner of ``agents.supervised.learners``: blur, learned_opt, maml, reptile, ...):
held-out accuracy after every inner step on whole datasets (other input sizes and class counts
included) for the run's learner, the runs named by ``--compare``, the backprop genome, and an
MLP of the same architecture and loss trained by SGD and by Adam with learning rates tuned on
the first run's meta-training tasks; K lifetimes differ in initial weights and batch order,
and lifetime l is the same for every agent.
"""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from agents.config import (
    MAX_LAYER_SIZE, MAX_LAYERS, MAXIMUM, ConfigError, TrainConfig, check_dataset_name, is_supervised, model_label,
)
from agents.files import write_json_atomic
from agents.plots import lifetime_curves, safe_name
from agents.policy import genome_template
from agents.run import evaluate_lifetimes, repeat_genome
from agents.rundir import load_genome, load_run_config


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
    the meta-test network's hidden layers (default the run's ``blur.hidden``). ``compare`` are
    other runs (baselines, other placements, other dataset learners) evaluated on the same
    environments or datasets and seeds, with this run's lifetime length or inner steps.
    """
    # the lifetime options as config overrides: the config's own checks (choices, bounds) apply to them
    lifetime = [f"lifetime.{k}={v}" for k, v in (("episode_mode", episode_mode), ("episodes", episodes)) if v is not None]
    cfg = load_run_config(run_dir, lifetime)
    if is_supervised(cfg):
        if lifetime:
            raise ConfigError("--episode-mode and --episodes apply to runs in environments; a dataset run has no episodes")
        return meta_test_supervised(run_dir, cfg, envs, lifetimes, out, seed, steps, compare, hidden)
    if steps is not None:
        raise ConfigError("--steps applies to runs on datasets only; an environment lifetime's length is lifetime.episodes")
    if hidden is not None:
        raise ConfigError("--hidden applies to runs on datasets only; for an SFNN's hidden neurons use --hidden-neurons")
    if hidden_neurons is not None and cfg.model.kind != "sfnn":
        raise ConfigError(f"--hidden-neurons applies to SFNN runs; model.kind={cfg.model.kind} keeps its own network")
    for flag, value, most in (("--hidden-neurons", hidden_neurons, MAXIMUM["model.neurons"]),
                              ("--max-steps", max_steps, MAXIMUM["lifetime.max_steps"])):
        if value is not None and not 1 <= value <= most:
            raise ConfigError(f"{flag}={value} must be a positive count (at most {most})")
    _check_envs(cfg, envs)
    genome = load_genome(run_dir, cfg)
    per_env = {env: env_config(cfg, env, hidden_neurons, max_steps, lifetimes) for env in envs}
    random = jax.vmap(lambda k: genome_template(cfg, k))(jax.random.split(jax.random.key(seed), lifetimes))
    # the evolved and the random genomes live the same lifetimes (ids repeat) in one compiled call
    both = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), repeat_genome(genome, lifetimes), random)
    ids = np.tile(np.arange(lifetimes), 2)
    joint = _returns(per_env, both, seed, lifetime_ids=ids)
    agents = {  # keys: "evolved" (this run's genome), "frozen" (learning off), "random" (random genomes)
        "evolved": {k: v[:lifetimes] if k != "skipped" else v for k, v in joint.items()},
        "frozen": _returns(per_env, repeat_genome(genome, lifetimes), seed, learn=False),
        "random": {k: v[lifetimes:] for k, v in joint.items() if k != "skipped"},
    }
    skipped: dict[str, dict[str, str]] = {}  # env -> agent -> why it cannot act there
    for other in compare:
        ocfg = load_run_config(other)
        if is_supervised(ocfg):
            raise ConfigError(f"--compare {other}: a run on datasets (model.kind={ocfg.model.kind}) cannot act in an environment")
        ocfg.lifetime = dataclasses.replace(cfg.lifetime)  # same lifetime length and reward shaping
        name = _compare_label(ocfg, other, agents)
        other_env = {env: env_config(ocfg, env, hidden_neurons if ocfg.model.kind == "sfnn" else None,
                                            per_env[env][1]["max_steps"], lifetimes) for env in envs}  # fmt: skip
        agents[name] = _returns(other_env, repeat_genome(load_genome(other, ocfg), lifetimes), seed)
    for name, rets in agents.items():
        for env, why in rets.pop("skipped", {}).items():
            skipped.setdefault(env, {})[name] = why
    out = out or run_dir / "meta_test.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    plots = {}
    for env in envs:
        curves = {a: np.asarray(r[env]) for a, r in agents.items() if env in r}
        labels = {"evolved": f"{model_label(cfg)} (this run)", "frozen": "same genome, learning off", "random": "random genomes"}
        png = None
        if curves:
            png = lifetime_curves({labels.get(a, a): c for a, c in curves.items()},
                                  out.with_name(f"{out.stem}_{safe_name(env)}.png"),
                                  f"meta-test on {env} ({lifetimes} lifetimes)")  # fmt: skip
            plots[env] = png
        results[env] = {
            "metric": "return",
            "x": list(range(1, cfg.lifetime.episodes + 1)),
            "agents": {a: c.round(3).tolist() for a, c in curves.items()},
            "skipped": skipped.get(env, {}),
            "plot": None if png is None else str(png),
            "used_in_training": env in cfg.envs,
            "episode_mode": cfg.lifetime.episode_mode,
            **per_env[env][1],  # max_steps, and for an SFNN its network's inputs, hidden and outputs
        }
    doc = {"run": str(run_dir), "model": model_label(cfg), "lifetimes": lifetimes,
           "compare": [str(c) for c in compare], "results": results}  # fmt: skip
    write_json_atomic(out, doc, indent=1)
    log_meta_test(cfg, run_dir, doc, plots)
    return doc


def _compare_label(ocfg: TrainConfig, other: Path, taken: Any) -> str:
    """An agent name for the ``--compare`` run ``other``: its learner and directory name, or its
    whole path when two compared runs share a directory name."""
    name = f"{model_label(ocfg)} ({other.name})"
    return f"{model_label(ocfg)} ({other})" if name in taken else name


def _check_envs(cfg: TrainConfig, envs: list[str]) -> None:
    from agents.config import validate

    check = dataclasses.replace(cfg, envs=list(envs), fitness=dataclasses.replace(cfg.fitness, kind="mean"))
    validate(check)


def _returns(per_env: dict[str, tuple[Any, dict]], genomes: Any, seed: int, learn: bool = True,
             lifetime_ids: Any = None) -> dict[str, Any]:
    """Per-env returns of ``genomes`` (``lifetime_ids`` as in ``evaluate_lifetimes``), each env under
    its own config (``per_env``: env -> (config, info), or (None, info) with info["refused"] when it
    cannot be built); an env the learner cannot act in (a baseline genome too small for it, a
    network too large) is listed under "skipped" with the reason."""
    out: dict[str, Any] = {}
    for env, (ecfg, info) in per_env.items():
        if ecfg is None:
            out.setdefault("skipped", {})[env] = info["refused"]
            continue
        try:
            out.update(evaluate_lifetimes(ecfg, genomes, [env], seed, learn=learn, lifetime_ids=lifetime_ids))
        except ValueError as e:
            out.setdefault("skipped", {})[env] = str(e)
    return out


def run_hidden_neurons(cfg: TrainConfig) -> int:
    """The fewest hidden neurons an SFNN run's genome was evolved with, over its training
    environments (``model.neurons`` is a total, so each environment had its own count)."""
    from envs.registry import make_env

    return min(cfg.model.neurons - e.obs_size - e.n_actions
               for e in (make_env(n, cfg.lifetime.max_steps) for n in cfg.envs))  # fmt: skip


# a meta-test network whose lifetimes would hold more than this in plastic state is refused
MAX_PLASTIC_STATE_BYTES = 2 * 2**30


def env_config(cfg: TrainConfig, env: str, hidden_neurons: int | None, max_steps: int | None,
               lifetimes: int) -> tuple[TrainConfig | None, dict[str, Any]]:
    """The run's config as it meets ``env`` at meta-test, and what was chosen (for the JSON);
    None with ``info["refused"]`` (one line) when the network would not fit in memory.

    Episode cap: ``max_steps``, else the run's for an environment it trained on, else the
    environment's own. A discrete ``model.initial_action`` becomes none (zeros) where actions are
    continuous. SFNN network: the environment's inputs and outputs, and as hidden neurons
    ``hidden_neurons``, else the run's convention (``model.neurons`` in all) where that leaves
    at least as many hidden neurons as training had, else training's count: a genome does not
    depend on the neuron count, so no environment is too large for it, only for memory.
    """
    from envs.registry import make_env

    cap = max_steps if max_steps is not None else (cfg.lifetime.max_steps if env in cfg.envs else None)
    ecfg = dataclasses.replace(cfg, lifetime=dataclasses.replace(cfg.lifetime, max_steps=cap),
                               model=dataclasses.replace(cfg.model))  # fmt: skip
    e = make_env(env, cap)
    info: dict[str, Any] = {"max_steps": e.max_steps}
    if cfg.model.kind != "sfnn":
        return ecfg, info
    if e.continuous and cfg.model.initial_action is not None:  # an index means nothing there: start from none
        ecfg.model.initial_action = None
        info["initial_action"] = None
    hidden = hidden_neurons
    if hidden is None:
        hidden = max(cfg.model.neurons - e.obs_size - e.n_actions, run_hidden_neurons(cfg))
    ecfg.model.neurons = e.obs_size + hidden + e.n_actions
    info["network"] = {"inputs": e.obs_size, "hidden": hidden, "outputs": e.n_actions}
    per_lifetime = sfnn_state_bytes(cfg, e.obs_size, hidden, e.n_actions)
    if 3 * lifetimes * per_lifetime > MAX_PLASTIC_STATE_BYTES:  # evolved + random + frozen
        need = 3 * lifetimes * per_lifetime / 2**30
        info["refused"] = (f"an SFNN of {e.obs_size}+{hidden}+{e.n_actions} neurons would need ~{need:.1f} GiB of "
                           f"plastic state for {lifetimes} lifetimes (at most {MAX_PLASTIC_STATE_BYTES / 2**30:.0f}); "
                           f"pass fewer --lifetimes or --hidden-neurons")
        return None, info
    return ecfg, info


def sfnn_state_bytes(cfg: TrainConfig, n_in: int, n_hidden: int, n_out: int) -> int:
    """Float32 bytes of one SFNN lifetime's wiring and plastic state (edge vectors under
    ``synapse`` placement, one vector per neuron under ``neuron``), the part that grows with size."""
    edges = n_in * n_hidden + n_hidden * n_hidden + 2 * n_hidden * n_out
    plastic = edges * cfg.model.channels if cfg.model.plasticity == "synapse" else (n_in + n_hidden + n_out) * cfg.model.channels
    return 4 * (edges + 2 * plastic)  # masks, the state and the step's new state


def log_meta_test(cfg: TrainConfig, run_dir: Path, doc: dict[str, Any], plots: dict[str, Path]) -> None:
    """Log a meta-test to wandb (the run's log.wandb mode) as its own run of job type meta-test.

    Mean return per episode of every agent becomes a line series; a wandb failure is reported
    once and never fails the meta-test, whose JSON and PNGs are already written.
    """
    if cfg.log.wandb == "disabled":
        return
    try:
        import wandb

        run = wandb.init(
            project=cfg.log.project, mode=cfg.log.wandb, dir=str(run_dir), job_type="meta-test",
            name=f"{run_dir.name}-meta-test", config={"run": str(run_dir), "lifetimes": doc["lifetimes"]},
            settings=wandb.Settings(silent=True, console="off"),
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


def meta_test_supervised(
    run_dir: Path,
    cfg: TrainConfig,
    envs: list[str],
    lifetimes: int,
    out: Path | None,
    seed: int,
    steps: int | None,
    compare: list[Path] = (),
    hidden: list[int] | None = None,
) -> dict[str, Any]:
    """Accuracy-vs-step curves per dataset for this run's learner, the ``compare`` runs, the
    backprop genome, sgd and adam, all on the same lifetimes (initial weights and batches).

    Datasets are loaded with split seed ``cfg.seed + 1``: synthetic teachers are then new
    tasks even for a name used in meta-training. Baseline learning rates come from a grid
    search on this run's meta-training tasks at the same number of steps, recorded in the
    JSON. Each agent's ``protocol`` line says how it met the datasets (e.g. MAML's projection).
    """
    from agents.supervised.learners import learner
    from agents.supervised.meta import BASELINE_AGENTS, meta_test_curves, tune_learning_rates
    from agents.supervised.tasks import load_sources

    for name in envs:
        check_dataset_name(name)
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps={steps} must be at least 1")
    if hidden is not None and (not hidden or any(not 1 <= h <= MAX_LAYER_SIZE for h in hidden) or len(hidden) > MAX_LAYERS):
        raise ConfigError(f"--hidden {hidden}: give 1 to {MAX_LAYERS} layer sizes between 1 and {MAX_LAYER_SIZE}, "
                          "e.g. 64 or 64,32")
    steps = steps or cfg.blur.inner_steps
    main = cfg.model.kind
    agents = [(main, cfg, load_genome(run_dir, cfg), run_dir)]
    for other in compare:
        ocfg = load_run_config(other)
        if not is_supervised(ocfg):
            raise ConfigError(f"--compare {other}: model.kind={ocfg.model.kind} acts in environments; "
                              f"compare {run_dir} with runs on datasets")
        name = _compare_label(ocfg, other, {a[0] for a in agents})
        agents.append((name, ocfg, load_genome(other, ocfg), other))
    sources = load_sources(cfg, list(envs), seed=cfg.seed + 1)
    tuned = tune_learning_rates(cfg, load_sources(cfg), steps)
    lrs = {k: v["lr"] for k, v in tuned.items()}
    out = out or run_dir / "meta_test.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    base = jax.random.fold_in(jax.random.key(cfg.seed), seed)
    net_hidden = list(cfg.blur.hidden if hidden is None else hidden)
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
        "run": str(run_dir), "model": model_label(cfg), "lifetimes": lifetimes, "steps": steps,
        "hidden": net_hidden, "compare": [str(c) for c in compare], "learning_rates": tuned,
        "protocols": protocols, "agent_order": [a[0] for a in agents] + list(BASELINE_AGENTS), "results": results,
    }  # fmt: skip
    write_json_atomic(out, doc, indent=1)
    return doc

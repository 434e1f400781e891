"""Meta-test in environments: the evolved genome against itself frozen (learning off: what is
learned versus what is built in), random genomes, and the runs named by ``--compare``, over K
lifetimes with fresh wirings and the same seeds, each environment with a network made for it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from agents.config import MAXIMUM, ConfigError, TrainConfig, is_supervised, model_label
from agents.files import write_json_atomic
from agents.metatest import MetaTestOptions, compare_label, log_meta_test, run_genome
from agents.plots import lifetime_curves, safe_name
from agents.rl.finish import evaluate_lifetimes, repeat_genome
from agents.rl.policy import genome_template
from agents.rundir import load_genome, load_run_config


def meta_test_envs(run_dir: Path, cfg: TrainConfig, envs: list[str], lifetimes: int, out: Path | None, seed: int,
                   compare: list[Path], opts: MetaTestOptions) -> dict[str, Any]:
    """``agents.metatest.meta_test`` for a run in environments; writes JSON and one PNG per environment."""
    hidden_neurons, max_steps = opts.hidden_neurons, opts.max_steps
    if opts.steps is not None:
        raise ConfigError("--steps applies to runs on datasets only; an environment lifetime's length is lifetime.episodes")
    if opts.hidden is not None:
        raise ConfigError("--hidden applies to runs on datasets only; for an SFNN's hidden neurons use --hidden-neurons")
    for flag, value in (("--hidden-neurons", hidden_neurons), ("--connect-prob", opts.connect_prob)):
        if value is not None and cfg.model.kind != "sfnn":
            raise ConfigError(f"{flag} applies to SFNN runs; model.kind={cfg.model.kind} keeps its own network")
    for flag, value, most in (("--hidden-neurons", hidden_neurons, MAXIMUM["model.neurons"]),
                              ("--max-steps", max_steps, MAXIMUM["lifetime.max_steps"])):
        if value is not None and not 1 <= value <= most:
            raise ConfigError(f"{flag}={value} must be a positive count (at most {most})")
    learn_k, episodes = opts.learn_windows, cfg.lifetime.episodes
    if learn_k is not None and (cfg.lifetime.episode_mode != "window" or not 1 <= learn_k < episodes):
        raise ConfigError(f"--learn-windows {learn_k}: needs windows (lifetime.episode_mode=window, this meta-test: "
                          f"{cfg.lifetime.episode_mode}) and 1 <= K < {episodes} episodes (0 is the frozen agent)")
    _check_envs(cfg, envs)
    genome, source = run_genome(run_dir, cfg, opts)
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
    if learn_k is not None:  # the same lifetimes as "evolved": identical through window K
        agents[learn_windows_agent(learn_k)] = _returns(per_env, repeat_genome(genome, lifetimes), seed,
                                                        learn_windows=learn_k)
    skipped: dict[str, dict[str, str]] = {}  # env -> agent -> why it cannot act there
    for other in compare:
        ocfg = load_run_config(other)
        if is_supervised(ocfg):
            raise ConfigError(f"--compare {other}: a run on datasets (model.kind={ocfg.model.kind}) cannot act in an environment")
        ocfg.lifetime = dataclasses.replace(cfg.lifetime)  # same lifetime length and reward shaping
        if opts.connect_prob is not None and ocfg.model.kind == "sfnn":  # and, asked for, the same edge density
            ocfg.model.connect_prob = opts.connect_prob
        name = compare_label(ocfg, other, agents)
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
    doc = {"run": str(run_dir), "genome": source, "model": model_label(cfg), "lifetimes": lifetimes, "seed": seed,
           "compare": [str(c) for c in compare], "results": results}  # fmt: skip
    write_json_atomic(out, doc, indent=1)
    log_meta_test(cfg, run_dir, doc, plots, out.parent)
    return doc


def _check_envs(cfg: TrainConfig, envs: list[str]) -> None:
    from agents.config import validate

    check = dataclasses.replace(cfg, envs=list(envs), fitness=dataclasses.replace(cfg.fitness, kind="mean"))
    validate(check)


def learn_windows_agent(k: int) -> str:
    """The meta-test agent name of ``--learn-windows K`` (a key of the JSON's "agents")."""
    return f"learning off after window {k}"


def _returns(per_env: dict[str, tuple[Any, dict]], genomes: Any, seed: int, learn: bool = True,
             lifetime_ids: Any = None, learn_windows: int | None = None) -> dict[str, Any]:
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
            out.update(evaluate_lifetimes(ecfg, genomes, [env], seed, learn=learn, lifetime_ids=lifetime_ids,
                                          learn_windows=learn_windows))
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
    environment's own. A discrete ``model.initial_action`` becomes none (zeros), and
    ``model.action_readout`` the values, where actions are continuous. SFNN network: the
    environment's inputs and outputs, and as hidden neurons ``hidden_neurons``, else the run's
    convention (``model.neurons`` in all) where that leaves at least as many hidden neurons as
    training had, else training's count: a genome does not depend on the neuron count, so no
    environment is too large for it, only for memory.
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
    if e.continuous and cfg.model.action_readout != "value":  # continuous actions are the output values
        ecfg.model.action_readout = "value"
        info["action_readout"] = "value"
    hidden = hidden_neurons
    if hidden is None:
        hidden = max(cfg.model.neurons - e.obs_size - e.n_actions, run_hidden_neurons(cfg))
    ecfg.model.neurons = e.obs_size + hidden + e.n_actions
    info["network"] = {"inputs": e.obs_size, "hidden": hidden, "outputs": e.n_actions, "connect_prob": cfg.model.connect_prob}
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

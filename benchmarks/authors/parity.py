"""Record the authors' SFNN (Joachm/SFNN @ 29b51a8) living whole lifetimes: the parity fixture.

Runs under the authors' own pins (``requirements.txt`` here, JAX 0.4.20), never under this
library's. For each of CartPole-v1, Acrobot-v1 and MountainCar-v0 it builds their model and
task as ``scripts/sfnn/main.py`` does (their configs, ``model.make``, ``eqx.partition``,
``MultiEpisodeTask``), draws their generation-0 population the way their trainer does
(``scripts/sfnn/trainer.make``: evosax 0.1.4 CMA-ES, ``ParameterReshaper``, seed 100), and lives
one lifetime of a chosen member through a scan that is their ``MultiEpisodeTask.__call__`` and
``_rollout`` line for line, with two additions: each step also emits ``done`` and the reward
the network was given, and the plastic state is kept at a few steps. The harness checks that its
per-episode returns and fitness equal their own ``task(params, key)`` before writing anything.

The output (``--out``, default ``tests/fixtures/authors_lifetimes.npz``, plain arrays, no pickle)
holds per environment: the genome in this library's layout (mapped parameter by parameter, see
``to_library_genome``), their flat 565-vector, the wiring and initial edge vectors, every step's
observation, reward given, action, reward and done, the per-episode returns and fitness, and
edge vectors and activations at the snapshot steps. ``tests/test_authors_parity.py`` replays it
through ``configs/authors.yaml`` without any of the authors' code.

With ``--distribution`` it instead evaluates their whole generation-0 population (several keys
per member) with their task and writes per-member per-episode returns as JSON, for
``distribution.py`` to compare with this library's numbers for the same genomes.

    benchmarks/authors/.venv/bin/python benchmarks/authors/parity.py            # the fixture
    benchmarks/authors/.venv/bin/python benchmarks/authors/parity.py --distribution --keys 4
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from time_authors import _install_stubs  # noqa: E402  (empty brax/wandb modules, as when timing)

FIRST_EPISODE_SNAPSHOTS = (0, 1, 2, 9, 99)  # steps of the first episode whose plastic state is kept, and each episode's last
ENVS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")


def build(authors_dir: str, env_name: str, pop: int):
    """Their model, task and trainer for one environment, as scripts/sfnn/main.py builds them."""
    sys.path.insert(0, authors_dir)
    import equinox as eqx
    import jax.random as jr

    from scripts.sfnn.main import Config, ConfigAcro, ConfigCart, ConfigMount
    from scripts.sfnn.model import make as model_factory
    from scripts.sfnn.task import EnvManager, MultiEpisodeTask
    from scripts.sfnn.trainer import make as trainer_factory

    env_config = {"CartPole-v1": ConfigCart, "Acrobot-v1": ConfigAcro, "MountainCar-v0": ConfigMount}[env_name]()
    config = Config(popsize=pop, log=0, ckpt_file=os.path.join(os.getcwd(), "authors_ckpts", "sfnn"))
    key = jr.key(config.seed)
    model = model_factory(env_config, key)
    params, statics = eqx.partition(model, eqx.is_array)
    # their task.make, with a data_fn that keeps the rollout data (theirs drops it)
    task = MultiEpisodeTask(statics, n_episodes=env_config.n_episodes, env=env_config.env_name,
                            max_score=env_config.max_score, min_score=env_config.min_score, data_fn=lambda d: d)
    trainer = trainer_factory(config, EnvManager([task]), params)
    return config, env_config, model, params, statics, task, trainer


def first_population(config, trainer):
    """Their generation-0 population: trainer.initialize, then the strategy's ask, keyed as train_step."""
    import jax.random as jr

    key = jr.key(config.seed)
    _, train_key = jr.split(key)
    init_key, train_key = jr.split(train_key)
    es_state = trainer.initialize(init_key)
    ask_key, eval_key = jr.split(train_key)
    x, _ = trainer.strategy.ask(ask_key, es_state, trainer.es_params)
    return x, eval_key


def lifetime(task, params, key, perturb: float = 0.0):
    """Their MultiEpisodeTask.__call__ with _rollout inlined, emitting done, the reward given, and states.
    ``perturb`` scales the initial edge vectors by (1 + perturb): how much a lifetime amplifies it
    tells whether the lifetime is chaotic."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jr

    model = eqx.combine(params, task.statics)
    policy_state = None
    first = None
    episodes = []
    for _episode in range(task.n_episodes):
        key, key_ = jr.split(key)
        key_reset, key_episode, key_model = jr.split(key_, 3)
        obs, state = task.env.reset(key_reset, task.env_params)

        def policy_step(state_input, tmp):
            policy_state, obs, state, rng, cum_reward, valid_mask = state_input
            rng, rng_step, rng_net = jax.random.split(rng, 3)
            given = policy_state.r
            action, policy_state = model(obs, policy_state, rng_net)
            next_obs, next_state, reward, done, _ = task.env.step(rng_step, state, action, task.env_params)
            new_cum_reward = cum_reward + reward * valid_mask
            new_valid_mask = valid_mask * (1 - done)
            policy_state = policy_state._replace(r=reward)
            carry = [policy_state, next_obs, next_state, rng, new_cum_reward, new_valid_mask]
            return carry, (obs, jnp.asarray(given, obs.dtype), action, reward, done, policy_state.e, policy_state.y_prev)

        if policy_state is None:
            policy_state = model.initialize(key_model)
            policy_state = policy_state._replace(e=policy_state.e * (1.0 + perturb))
            first = policy_state
        carry_out, ys = jax.lax.scan(
            policy_step,
            [policy_state, obs, state, key_episode, jnp.array([0.0]), jnp.array([1.0])],
            (),
            task.env.default_params.max_steps_in_episode,
        )
        policy_state = carry_out[0]
        episodes.append((carry_out[-2][0], ys))
    returns = jnp.stack([r for r, _ in episodes])
    weights = jnp.arange(0, task.n_episodes) / jnp.arange(0, task.n_episodes).sum()
    norm = (returns - task.min_score) / (task.max_score - task.min_score)
    return first, returns, jnp.dot(norm, weights), [ys for _, ys in episodes]


def to_library_genome(params) -> dict:
    """Their parameters in this library's genome layout (sfnn/units.py), parameter by parameter.

    equinox computes ``W @ x`` with W (out, in); the library computes ``x @ K``: K = Wᵀ. The GRU
    gates are [reset | update | candidate] in both, its input is [pre (M) | post (M) | reward].
    Their ``learning_rate`` is the library's ``plastic_lr_scale`` (η = 0.01·λ in both).
    """
    import numpy as np

    t = lambda a: np.swapaxes(np.asarray(a), -1, -2)  # noqa: E731
    gru = params.edge_cells
    return {
        "neuron/kernel": t(params.node_cells.out.weight),
        "gru/input_kernel": t(gru.weight_ih),
        "gru/hidden_kernel": t(gru.weight_hh),
        "gru/input_bias": np.asarray(gru.bias),
        "gru/hidden_bias_n": np.asarray(gru.bias_n),
        "plastic_lr_scale": np.asarray(params.learning_rate),
    }


def groups(n: int, n_in: int, n_out: int):
    import numpy as np

    return {"i": np.arange(n_in), "h": np.arange(n_in, n - n_out), "o": np.arange(n - n_out, n)}


BLOCKS = {"ih": ("i", "h"), "hh": ("h", "h"), "ho": ("h", "o"), "oh": ("o", "h")}


def to_blocks(full, idx) -> dict:
    """An (N, N, ...) array of theirs as the library's four wiring blocks (rows pre, columns post)."""
    import numpy as np

    full = np.asarray(full)
    return {b: full[np.ix_(idx[pre], idx[post])] for b, (pre, post) in BLOCKS.items()}


def record(args) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    assert jax.config.jax_enable_x64, "the fixture is recorded in float64 (JAX_ENABLE_X64=1, set by main)"
    out: dict[str, np.ndarray] = {}
    report = {}
    for env_name in ENVS:
        config, env_config, model, params, statics, task, trainer = build(args.authors_dir, env_name, args.pop)
        x, eval_key = first_population(config, trainer)
        member_keys = jax.random.split(eval_key, args.pop)
        run = jax.jit(lambda p, k: lifetime(task, p, k))
        theirs = jax.jit(lambda p, k: task(p, k)[:2])
        nudged = jax.jit(lambda p, k: lifetime(task, p, k, perturb=1e-12))
        best, best_score = None, -1.0
        for m in range(args.candidates):
            # The member whose lifetime acts most variedly, among those whose lifetime is not chaotic:
            # where a 1e-12 nudge of the initial edge vectors grows by orders of magnitude (a few
            # lifetimes double it every step), rounding differences do the same, and no other code
            # can be held to one rounding of them.
            p = trainer.params_shaper.reshape_single(x[m])
            _, rets, fit, ys = run(p, member_keys[m])
            _, _, _, ys2 = nudged(p, member_keys[m])
            acts = np.concatenate([np.asarray(y[2]) for y in ys])
            acts2 = np.concatenate([np.asarray(y[2]) for y in ys2])
            biggest = max(float(jnp.abs(y[5]).max()) for y in ys)
            drift = max(float(jnp.abs(a[5] - b[5]).max()) for a, b in zip(ys, ys2)) / max(1.0, biggest)
            repeatable = bool(np.array_equal(acts, acts2)) and drift < 1e-8
            score = float(np.mean(acts[1:] != acts[:-1])) * (len(np.unique(acts)) > 1) * repeatable * (biggest < 1e3)
            print(f"{env_name} member {m}: returns {np.asarray(rets).tolist()} drift={drift:.2g} "
                  f"max|e|={biggest:.3g} score={score:.3f}", file=sys.stderr)
            if score > best_score:
                best, best_score = m, score
        p = trainer.params_shaper.reshape_single(x[best])
        first, rets, fit, ys = run(p, member_keys[best])
        fit_theirs, ret_theirs = theirs(p, member_keys[best])
        assert best_score > 0, f"{env_name}: no candidate lifetime is repeatable and varied; raise --candidates"
        assert abs(float(fit) - float(fit_theirs)) < 1e-9, (fit, fit_theirs)  # the inlined loop is theirs
        assert abs(float(jnp.dot(rets, jnp.arange(8) / 28.0)) - float(ret_theirs)) < 1e-6
        n, n_in, n_out = env_config.n_nodes, env_config.obs_dims, env_config.action_dims
        idx = groups(n, n_in, n_out)
        assert np.all(np.asarray(first.types)[idx["i"]] == 0) and np.all(np.asarray(first.types)[idx["h"]] == 1)
        assert np.all(np.asarray(first.types)[idx["o"]] == 2)
        A = np.asarray(first.A)
        off_blocks = A.copy()
        for pre, post in BLOCKS.values():
            off_blocks[np.ix_(idx[pre], idx[post])] = 0
        assert not off_blocks.any(), "their wiring has edges outside the library's four blocks"
        pre = f"{env_name}/"
        for k, v in to_library_genome(p).items():
            out[pre + "genome/" + k] = v
        out[pre + "flat"] = np.asarray(x[best])
        for b, v in to_blocks(A, idx).items():
            out[pre + "mask/" + b] = v.astype(np.float32)
        for b, v in to_blocks(first.e, idx).items():
            out[pre + "edges0/" + b] = v
        cat = lambda i: np.concatenate([np.asarray(y[i]) for y in ys])  # noqa: E731
        out[pre + "obs"] = cat(0)
        out[pre + "reward_given"] = cat(1).reshape(-1)
        out[pre + "action"] = cat(2).astype(np.int32)
        out[pre + "reward"] = cat(3).reshape(-1)
        out[pre + "done"] = cat(4).astype(bool).reshape(-1)
        out[pre + "returns"] = np.asarray(rets)
        out[pre + "fitness"] = np.asarray(fit)
        t_max = int(task.env.default_params.max_steps_in_episode)
        steps = sorted({*FIRST_EPISODE_SNAPSHOTS, *(e * t_max + t_max - 1 for e in range(task.n_episodes))})
        out[pre + "snapshot_steps"] = np.asarray(steps, np.int32)
        e_all, y_all = cat(5), cat(6)
        for b, v in to_blocks(np.moveaxis(e_all[steps], 0, 2), idx).items():  # (pre, post, S, M)
            out[pre + "edges/" + b] = np.moveaxis(v, 2, 0).astype(np.float32)  # compared to ~1e-6: float32 holds it
        out[pre + "y"] = y_all[steps].astype(np.float32)  # (S, N, M) in their neuron order (I, H, O)
        acts = out[pre + "action"]
        report[env_name] = {"member": int(best), "returns": [float(r) for r in rets], "fitness": float(fit),
                            "action_changes": int(np.sum(acts[1:] != acts[:-1])), "steps": int(acts.size),
                            "max_abs_edge": float(np.abs(e_all).max())}
        print(env_name, json.dumps(report[env_name]), file=sys.stderr)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(json.dumps({"out": args.out, "jax": jax.__version__, "envs": report}))


def distribution(args) -> None:
    """Their task's per-episode returns for every member of generation 0, ``--keys`` lifetimes each."""
    import jax
    import numpy as np

    result = {"pop": args.pop, "keys": args.keys, "jax": jax.__version__, "envs": {}}
    for env_name in ENVS:
        config, _, _, _, _, task, trainer = build(args.authors_dir, env_name, args.pop)
        x, eval_key = first_population(config, trainer)
        run = jax.jit(jax.vmap(lambda v, k: lifetime(task, trainer.params_shaper.reshape_single(v), k)[1:3]))
        rets = []
        t0 = time.perf_counter()
        for r in range(args.keys):
            keys = jax.random.split(jax.random.fold_in(eval_key, r), args.pop)
            rets.append(np.asarray(run(x, keys)[0]))
        result["envs"][env_name] = {"returns": np.stack(rets, 1).tolist(), "seconds": time.perf_counter() - t0}
        print(env_name, f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    result["genomes"] = np.asarray(x).tolist()
    with open(args.out, "w") as f:
        json.dump(result, f)
    print(json.dumps({"out": args.out}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authors-dir", default=os.environ.get("SFNN_AUTHORS_DIR", os.path.join(HERE, "SFNN")))
    ap.add_argument("--pop", type=int, default=128, help="their population size (Config.popsize)")
    ap.add_argument("--candidates", type=int, default=16, help="members tried for the fixture's lifetime")
    ap.add_argument("--distribution", action="store_true", help="per-member returns of generation 0 instead")
    ap.add_argument("--keys", type=int, default=4, help="--distribution: lifetimes per member")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(args.authors_dir, "src", "models")):
        sys.exit(f"no checkout of Joachm/SFNN at {args.authors_dir}: pass --authors-dir (see README.md here)")
    if not args.distribution:
        # In float32 their code does not repeat its own lifetimes: the same genome and key give other
        # returns when the rollout is compiled differently (jitted or not), rounding differences
        # growing over thousands of plastic updates. In float64 they stay below what is compared.
        os.environ["JAX_ENABLE_X64"] = "1"
    _install_stubs()
    if args.distribution:
        args.out = args.out or os.path.join(ROOT, "benchmarks", "results", "authors-parity", "authors_generation0.json")
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        distribution(args)
    else:
        args.out = args.out or os.path.join(ROOT, "tests", "fixtures", "authors_lifetimes.npz")
        record(args)


if __name__ == "__main__":
    main()

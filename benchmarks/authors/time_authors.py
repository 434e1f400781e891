"""Throughput of the authors' SFNN code (Joachm/SFNN @ 29b51a8) on CartPole-v1.

The figure issue 7's 20x target is measured against, timed on the machine at hand. Not part of
the library and not run by the tests: it needs the authors' repository checked out (``--authors-dir``)
and their pinned dependencies in a virtual environment of its own (``requirements.txt`` beside
this file); see ``README.md`` here for the commands.

Builds the CartPole model/task exactly as scripts/sfnn/main.py does (ConfigCart,
scripts.sfnn.model.make, eqx.partition(model, eqx.is_array), scripts.sfnn.task.make),
builds the authors' trainer with scripts.sfnn.trainer.make (EvosaxTrainer, CMA_ES,
evosax ParameterReshaper, eval_reps=1, n_devices=len(jax.devices())), and times the
trainer's own population evaluation `EvosaxTrainer.eval(x, key, None)` (which, on one
device, is `_eval`: params_shaper.reshape(x) -> jax.vmap(task, in_axes=(0, 0, None))
over jr.split(key, P)). The eval call is wrapped in jax.jit once; compile time is
measured separately (AOT lower+compile), then G generations are timed with
jax.block_until_ready.

With --full-step the whole authors' generation `EvosaxTrainer.train_step`
(CMA-ES ask + eval + tell) is timed instead.

Agent-steps per generation = P * n_episodes * max_steps_in_episode (=500): the
authors' MultiEpisodeTask._rollout runs jax.lax.scan for
env.default_params.max_steps_in_episode steps per episode regardless of `done`
(done only masks the reward; gymnax auto-resets), for n_episodes (=8) episodes.

Only unused imports are stubbed (sys.modules): `brax`/`brax.envs` (imported by
src/tasks/rl.py for a type alias only) and `wandb` (imported by src/training/base.py
and src/training/logging.py; never called with log=0). The authors' files are unchanged.
"""
import argparse
import json
import os
import statistics
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))


def _install_stubs():
    # brax: src/tasks/rl.py does `from brax import envs; from brax.envs import Env`
    # and only uses Env in a TypeAlias. brax==0.9.2 is not needed for gymnax tasks.
    if "brax" not in sys.modules:
        try:
            import brax  # noqa: F401  (use the real one if installed)
        except ImportError:
            brax = types.ModuleType("brax")
            envs = types.ModuleType("brax.envs")

            class Env:  # placeholder type for the TypeAlias
                pass

            envs.Env = Env
            brax.envs = envs
            sys.modules["brax"] = brax
            sys.modules["brax.envs"] = envs
    # wandb: imported at module level; logging disabled (config.log=0).
    if "wandb" not in sys.modules:
        try:
            import wandb  # noqa: F401
        except ImportError:
            wandb = types.ModuleType("wandb")

            def _no_wandb(*a, **k):
                raise RuntimeError("wandb is stubbed in time_authors.py")

            wandb.log = wandb.init = wandb.finish = _no_wandb
            sys.modules["wandb"] = wandb



ENVS = ("cart", "acro", "mount")  # the three tasks of scripts/sfnn/main.py, in its order


def build(authors_dir: str, seed, pop: int, ckpt_dir: str, envs=("cart",)):
    """The authors' trainer built exactly as their scripts/sfnn/main.py builds it, for the
    tasks named in ``envs`` (main.py uses all three; the timing uses CartPole alone).

    Returns (trainer, tasks, params, train_key). Shared by time_authors.py and train_authors.py
    so that what is timed and what is trained are one construction."""
    _install_stubs()
    if not os.path.isdir(os.path.join(authors_dir, "src", "models")):
        sys.exit(f"no checkout of Joachm/SFNN at {authors_dir}: pass --authors-dir (see README.md here)")
    sys.path.insert(0, authors_dir)

    import equinox as eqx
    import jax.random as jr

    from scripts.sfnn.main import Config, ConfigAcro, ConfigCart, ConfigMount
    from scripts.sfnn.model import make as model_factory
    from scripts.sfnn.task import EnvManager
    from scripts.sfnn.task import make as task_factory
    from scripts.sfnn.trainer import make as trainer_factory

    seed = Config().seed if seed is None else seed
    # --- as in scripts/sfnn/main.py -------------------------------------------
    config = Config(seed=seed, popsize=pop, log=0,
                    ckpt_file=os.path.join(ckpt_dir, "sfnn"))  # the Logger makes this folder
    key = jr.key(config.seed)
    model_key, train_key = jr.split(key)
    configs = {"cart": ConfigCart, "acro": ConfigAcro, "mount": ConfigMount}
    tasks = []
    for name in envs:
        env_config = configs[name](seed=seed)
        model = model_factory(env_config, key)  # main.py builds every model from `key`
        params, statics = eqx.partition(model, eqx.is_array)
        tasks.append(task_factory(env_config, statics))
    # train_step needs EnvManager's (fitness, per-env fitness [P, n_envs], data) output.
    trainer = trainer_factory(config, EnvManager(tasks), params)
    # ---------------------------------------------------------------------------
    return trainer, tasks, params, train_key


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--authors-dir", default=os.environ.get("SFNN_AUTHORS_DIR", os.path.join(HERE, "SFNN")),
                    help="a checkout of github.com/Joachm/SFNN (default: $SFNN_AUTHORS_DIR, else ./SFNN here)")
    ap.add_argument("--ckpt-dir", default=os.path.join(os.getcwd(), "authors_ckpts"),
                    help="where the authors' Logger creates its (unused) checkpoint folder")
    ap.add_argument("--pop", type=int, default=64)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--seed", type=int, default=None,
                    help="default: the authors' SEED (100) from scripts/sfnn/main.py")
    ap.add_argument("--full-step", action="store_true",
                    help="time EvosaxTrainer.train_step (ask+eval+tell) instead of eval only")
    args = ap.parse_args()

    trainer, tasks, params, train_key = build(args.authors_dir, args.seed, args.pop, args.ckpt_dir, ("cart",))
    task_cart = tasks[0]

    import jax
    import jax.numpy as jnp
    import jax.random as jr

    genome_params = int(trainer.params_shaper.total_params)
    n_leaf = int(sum(x.size for x in jax.tree_util.tree_leaves(params)))
    assert genome_params == n_leaf, (genome_params, n_leaf)
    print(f"genome_params={genome_params}", file=sys.stderr)

    max_steps = int(task_cart.env.default_params.max_steps_in_episode)
    n_episodes = int(task_cart.n_episodes)
    steps_per_gen = args.pop * n_episodes * max_steps
    print(f"n_episodes={n_episodes} max_steps_in_episode={max_steps} "
          f"agent_steps/generation={steps_per_gen} n_devices={trainer.n_devices}",
          file=sys.stderr)

    # Population vectors come from the authors' strategy (CMA_ES) ask, as in train_step.
    init_key, train_key = jr.split(train_key)
    es_state = trainer.initialize(init_key)

    if args.full_step:
        fn = jax.jit(lambda s, k: trainer.train_step(s, k))
        gen_keys = jr.split(train_key, args.generations + 1)
        t0 = time.perf_counter()
        compiled = fn.lower(es_state, gen_keys[0]).compile()
        compile_s = time.perf_counter() - t0
        gen_s = []
        s = es_state
        for g in range(args.generations):
            t0 = time.perf_counter()
            s, out = compiled(s, gen_keys[g + 1])
            jax.block_until_ready((s, out))
            gen_s.append(time.perf_counter() - t0)
        fitness = out["fitness"]
    else:
        ask = jax.jit(lambda k, s: trainer.strategy.ask(k, s, trainer.es_params)[0])
        keys = jr.split(train_key, 2 * (args.generations + 1))
        xs = [jax.block_until_ready(ask(keys[2 * g], es_state)) for g in range(args.generations + 1)]
        eval_keys = [keys[2 * g + 1] for g in range(args.generations + 1)]
        assert xs[0].shape == (args.pop, genome_params), xs[0].shape

        fn = jax.jit(lambda x, k: trainer.eval(x, k, None))
        t0 = time.perf_counter()
        compiled = fn.lower(xs[0], eval_keys[0]).compile()
        compile_s = time.perf_counter() - t0
        gen_s = []
        for g in range(args.generations):
            t0 = time.perf_counter()
            out = compiled(xs[g + 1], eval_keys[g + 1])
            jax.block_until_ready(out)
            gen_s.append(time.perf_counter() - t0)
        fitness = out[0]

    fitness = jnp.asarray(fitness)
    assert fitness.shape == (args.pop,), fitness.shape
    assert bool(jnp.all(jnp.isfinite(fitness)))

    med = statistics.median(gen_s)
    result = {
        "pop": args.pop,
        "generations": args.generations,
        "mode": "train_step" if args.full_step else "eval",
        "compile_s": round(compile_s, 4),
        "generation_s": [round(t, 4) for t in gen_s],
        "agent_steps_per_generation": steps_per_gen,
        "agent_steps_per_s": steps_per_gen / med,
        "agent_steps_per_s_best": steps_per_gen / min(gen_s),
        "genome_params": genome_params,
        "n_episodes": n_episodes,
        "max_steps_in_episode": max_steps,
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "fitness_mean_last_gen": float(fitness.mean()),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

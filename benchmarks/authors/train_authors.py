"""The first generations of the authors' own SFNN training (Joachm/SFNN @ 29b51a8), as a curve.

Issue 22 asks for the authors' code beside ours in the same setting, so that the two learning
curves can be compared generation by generation. This runs their trainer exactly as
``time_authors.build`` constructs it (their ``scripts/sfnn/main.py``: CMA-ES, population 128,
seed 100, 8-episode lifetimes, product of normalised fitness over the tasks) and calls their own
``EvosaxTrainer.train_step`` (ask, evaluate, tell) once per generation, writing one JSON line per
generation. Their ``Logger`` is off (``log=0``) because it needs wandb; the line holds what their
``metrics_fn`` logs (best, mean and worst fitness of the generation, each task's population-mean
return, episodes weighted k/Σk as their fitness weights them), the count of members with a
non-zero fitness, CMA-ES's σ after the generation (``search_std``, as our ``metrics.jsonl``) and
the wall time.

Not part of the library and not run by the tests; needs the checkout and virtual environment of
``README.md`` here. ``compare_authors.py`` in this folder plots the result beside a run of ours.
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from time_authors import ENVS, build  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--authors-dir", default=os.environ.get("SFNN_AUTHORS_DIR", os.path.join(HERE, "SFNN")),
                    help="a checkout of github.com/Joachm/SFNN (default: $SFNN_AUTHORS_DIR, else ./SFNN here)")
    ap.add_argument("--ckpt-dir", default=os.path.join(os.getcwd(), "authors_ckpts"),
                    help="where the authors' Logger creates its (unused) checkpoint folder")
    ap.add_argument("--envs", nargs="+", choices=ENVS, default=list(ENVS),
                    help="their tasks, in main.py's order (default: all three, as main.py)")
    ap.add_argument("--pop", type=int, default=128, help="default: their Config.popsize")
    ap.add_argument("--generations", type=int, default=10)
    ap.add_argument("--seed", type=int, default=None, help="default: their SEED (100)")
    ap.add_argument("--out", required=True, help="JSONL file, one line per generation (appended to)")
    args = ap.parse_args()
    if len(args.envs) == 2:  # their train_step names two tasks cart and mount whatever they are
        ap.error("--envs takes one task or all three (their train_step only names those cases)")

    trainer, tasks, _, train_key = build(args.authors_dir, args.seed, args.pop, args.ckpt_dir, tuple(args.envs))

    import jax
    import jax.numpy as jnp
    import jax.random as jr
    from scripts.sfnn.main import Config
    from tqdm import tqdm

    seed = Config().seed if args.seed is None else args.seed

    init_key, train_key = jr.split(train_key)
    state = trainer.initialize(init_key)
    step = jax.jit(lambda s, k: trainer.train_step(s, k))
    names = {"cart": "CartPole-v1", "acro": "Acrobot-v1", "mount": "MountainCar-v0"}
    fields = {"cart": "cart_fit", "acro": "acro_fit", "mount": "mount_fit"}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    t_start = time.perf_counter()
    best_ever = -jnp.inf
    with open(args.out, "a") as f:
        for g in tqdm(range(args.generations), desc="authors' generations"):
            train_key, key = jr.split(train_key)  # as their BaseTrainer.train's scan does
            state, data = step(state, key)
            fitness = jax.block_until_ready(data["fitness"])
            best_ever = max(best_ever, float(fitness.max()))
            line = {
                "generation": g,
                "wall_s": round(time.perf_counter() - t_start, 3),
                "best_fitness": float(fitness.max()),
                "mean_fitness": float(fitness.mean()),
                "worst_fitness": float(fitness.min()),
                "best_ever_fitness": best_ever,
                "nonzero_members": int(jnp.sum(fitness > 0)),
                "search_std": float(jnp.mean(state.sigma)),  # CMA-ES's sigma after this generation's tell
                "pop": args.pop,
                "seed": seed,
            }
            if len(args.envs) == 1:  # their train_step then returns the [P] weighted returns themselves
                line[f"weighted_return/{names[args.envs[0]]}"] = float(jnp.mean(data["cart_fit"]))
            else:
                for name in args.envs:
                    line[f"weighted_return/{names[name]}"] = float(jnp.mean(data[fields[name]]))
            f.write(json.dumps(line) + "\n")
            f.flush()


if __name__ == "__main__":
    main()

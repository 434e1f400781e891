"""Which torque an Acrobot genome applies against the second joint's swing, under any readout.

For each run (or pretrained) directory, lives 64 fresh lifetimes (seed 20000) and over windows 4-8
splits the actions by the sign of the second joint's velocity θ̇₂: the one-line pumping rule
sign(θ̇₂) (-1 torque while θ̇₂ < 0, +1 while θ̇₂ > 0) scores about -90, a rule that pumps one way
and only half the time the other about -118. Prints the windows 4-8 mean beside the split.

    python benchmarks/results/2026-12-06-acrobot-ordinal/actions.py RUN [RUN ...]
"""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from agents.rl.policy import make_policy
from agents.rundir import load_genome, load_run_config
from envs.lifetime import run_lifetimes
from envs.registry import make_env

LIFETIMES, EPISODES, SEED, FIRST = 64, 8, 20_000, 4


def late_actions(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(returns (L, episodes), θ̇₂ (T, L), actions (T, L)) over windows FIRST..EPISODES."""
    cfg = load_run_config(run_dir)
    genome = load_genome(run_dir, cfg)
    env = make_env("Acrobot-v1", cfg.lifetime.max_steps)
    policy = make_policy(cfg, env, jax.tree.map(lambda x: jnp.repeat(jnp.asarray(x)[None], LIFETIMES, 0), genome))
    steps = EPISODES * env.max_steps

    def step(carry, obs, last_r, last_term):
        inner, dth2, acts, t = carry
        action, inner = policy.step(inner, obs, last_r, last_term)
        return action, (inner, dth2.at[t].set(obs[:, 5]), acts.at[t].set(action), t + 1)

    @jax.jit
    def run(keys):
        k_wire, k_env = jax.vmap(jax.random.split, out_axes=1)(keys)
        carry = (policy.init(k_wire), jnp.zeros((steps, LIFETIMES)), jnp.zeros((steps, LIFETIMES), jnp.int32), jnp.int32(0))
        res = run_lifetimes(env, step, carry, k_env, EPISODES, mode="window")
        return res.returns, res.final_agent_state[1], res.final_agent_state[2]

    returns, dth2, acts = (np.asarray(x) for x in run(jax.random.split(jax.random.key(SEED), LIFETIMES)))
    late = slice((FIRST - 1) * env.max_steps, None)
    return returns, dth2[late], acts[late]


def main(runs: list[str]) -> None:
    for run in runs:
        returns, dth2, acts = late_actions(Path(run))
        readout = load_run_config(Path(run)).model.action_readout
        print(f"{run} (readout {readout}): windows {FIRST}-{EPISODES} mean {returns[:, FIRST - 1:].mean():.1f} on "
              f"{LIFETIMES} lifetimes of seed {SEED}")
        for name, side in (("dtheta2 > 0", dth2 > 0), ("dtheta2 < 0", dth2 < 0)):
            print(f"  {name}: actions -1 / 0 / +1 on " + " / ".join(f"{np.mean(acts[side] == a):.1%}" for a in range(3)))


if __name__ == "__main__":
    main(sys.argv[1:])

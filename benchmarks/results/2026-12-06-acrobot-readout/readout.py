"""How a genome's discrete actions are decided: ties between saturated outputs, and the readout.

For a run (or pretrained) directory and an environment, lives 64 fresh lifetimes (seed 20000)
and over windows 4-8 reports how often the two largest output values are equal (float32 tanh is
exactly +-1 beyond ~9, and the value argmax then takes the lowest index), which index those ties
go to, and the windows 4-8 mean under both readouts (``model.action_readout``), the genome
unchanged; then how often the values tie in window 1, before the rule has learned. For Acrobot it also splits the actions by the sign of the second joint's velocity and
scores one-line rules that pump in one direction and only sometimes in the other.

    python benchmarks/results/2026-12-06-acrobot-readout/readout.py RUN ENV [ENV ...]
"""

import dataclasses
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from agents.rl.policy import make_policy
from agents.rundir import load_genome, load_run_config
from envs.lifetime import run_lifetimes
from envs.registry import make_env

LIFETIMES, EPISODES, SEED = 64, 8, 20_000


def live(cfg, env, genome, first=4, last=EPISODES):
    """Returns (L, episodes), and windows first..last's observations (T, L, d), output values and scores (T, L, n), actions (T, L)."""
    policy = make_policy(cfg, env, jax.tree.map(lambda x: jnp.repeat(jnp.asarray(x)[None], LIFETIMES, 0), genome))
    steps, n = EPISODES * env.max_steps, env.n_actions

    def step(carry, obs, last_r, last_term):
        inner, seen, values, scores, acts, t = carry
        action, inner = policy.step(inner, obs, last_r, last_term)
        y = inner.y
        score = y["o_pre"] if "o_pre" in y else y["o"][:, 0, :]
        return action, (inner, seen.at[t].set(obs), values.at[t].set(y["o"][:n, 0, :].T), scores.at[t].set(score[:n].T),
                        acts.at[t].set(action), t + 1)

    @jax.jit
    def run(keys):
        k_wire, k_env = jax.vmap(jax.random.split, out_axes=1)(keys)
        z = lambda *shape: jnp.zeros((steps, LIFETIMES, *shape))  # noqa: E731
        carry = (policy.init(k_wire), z(env.obs_size), z(n), z(n), jnp.zeros((steps, LIFETIMES), jnp.int32), jnp.int32(0))
        res = run_lifetimes(env, step, carry, k_env, EPISODES, mode="window")
        return res.returns, *res.final_agent_state[1:5]

    out = [np.asarray(x) for x in run(jax.random.split(jax.random.key(SEED), LIFETIMES))]
    late = slice((first - 1) * env.max_steps, last * env.max_steps)
    return out[0], *(x[late] for x in out[1:])


def rule_score(env, rule, n=1000):
    """Mean return of a memoryless rule over n one-window episodes; the rule gets (step, obs)."""
    policy = lambda t, o, r, d: (rule(t, o), t + 1)  # noqa: E731
    res = jax.jit(lambda k: run_lifetimes(env, policy, jnp.zeros((n,), jnp.int32), k, 1, mode="window"))(
        jax.random.split(jax.random.key(0), n))
    return float(np.asarray(res.returns).mean())


def acrobot_report(env, obs, acts):
    dth2 = obs[..., 5]
    for name, side in (("dtheta2 > 0", dth2 > 0), ("dtheta2 < 0", dth2 < 0)):
        print(f"  {name}: actions -1 / 0 / +1 on " + " / ".join(f"{np.mean(acts[side] == a):.1%}" for a in range(3)))
    for p in (1.0, 0.5, 0.0):
        def rule(t, o, p=p):  # -1 when dtheta2 < 0; when > 0, +1 with probability p, else no torque
            u = jax.random.uniform(jax.random.fold_in(jax.random.key(1), t[0]), (o.shape[0],))
            return jnp.where(o[:, 5] < 0, 0, jnp.where(u < p, 2, 1))
        print(f"  rule: -1 where dtheta2 < 0, else +1 with probability {p}: mean {rule_score(env, rule):.1f} (1,000 episodes)")


def main(run_dir: str, envs: list[str]) -> None:
    cfg = load_run_config(Path(run_dir))
    genome = load_genome(Path(run_dir), cfg)
    for name in envs:
        env = make_env(name, cfg.lifetime.max_steps)
        print(f"{run_dir} on {name} (readout {cfg.model.action_readout}), {LIFETIMES} lifetimes of seed {SEED}:")
        returns, obs, values, scores, acts = live(cfg, env, genome)
        top = np.sort(values, -1)
        tied = top[..., -1] == top[..., -2]
        print(f"  windows 4-8 mean {returns[:, 3:].mean():.1f}; the two largest output values equal on {tied.mean():.1%} "
              f"of steps ({np.mean(tied & (np.abs(top[..., -1]) == 1.0)):.1%} at +-1); those ties' value argmax: "
              + " / ".join(f"{x:.1%}" for x in np.bincount(np.argmax(values[tied], -1), minlength=env.n_actions) / max(tied.sum(), 1)))
        other = "preactivation" if cfg.model.action_readout == "value" else "value"
        ocfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, action_readout=other))
        print(f"  the same genome read by {other}: windows 4-8 mean {live(ocfg, env, genome)[0][:, 3:].mean():.1f}")
        if name.startswith("Acrobot"):
            acrobot_report(env, obs, acts)
        values = live(cfg, env, genome, 1, 1)[2]
        top = np.sort(values, -1)
        print(f"  window 1: the two largest output values equal on {np.mean(top[..., -1] == top[..., -2]):.1%} of steps")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])

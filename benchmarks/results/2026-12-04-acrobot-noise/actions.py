"""What the best Acrobot genome has learned by windows 4-8, set against one-line pumping rules.

Plays 1,000 episodes of each rule (torque in the direction of the second joint's velocity,
sign(dtheta2), or of the two velocities' sum, sign(dtheta1 + dtheta2)) and records 32 lifetimes
of the four-wirings genome, every step's observation and action, to say how often the learned
controller torques as each rule would in windows 4-8 (torque steps only: it rarely picks 0).

    python benchmarks/results/2026-12-04-acrobot-noise/actions.py
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from agents.rl.policy import make_policy
from agents.rundir import load_genome, load_run_config
from envs.lifetime import run_lifetimes
from envs.registry import make_env

RUN = Path(__file__).parents[1] / "2026-12-03-acrobot-two-wirings" / "acrobot_l4_from_739"
RULES = {"sign(dtheta2)": lambda o: jnp.where(o[:, 5] > 0, 2, 0),
         "sign(dtheta1 + dtheta2)": lambda o: jnp.where(o[:, 4] + o[:, 5] > 0, 2, 0)}
LIFETIMES, EPISODES = 32, 8

cfg = load_run_config(RUN)
env = make_env("Acrobot-v1", cfg.lifetime.max_steps)
steps = EPISODES * env.max_steps

for name, rule in RULES.items():  # the rule alone, 1,000 episodes (lifetimes of one window each)
    res = jax.jit(lambda k: run_lifetimes(env, lambda s, o, r, t: (rule(o), s), (), k, 1, mode="window"))(
        jax.random.split(jax.random.key(0), 1000))
    r = np.asarray(res.returns)[:, 0]
    print(f"rule {name:24s}: mean {r.mean():7.1f}, median {np.median(r):6.1f}, quartiles "
          f"{np.percentile(r, 25):6.1f} / {np.percentile(r, 75):6.1f}, never reaching the goal {np.mean(r <= -500):.1%}")

genome = load_genome(RUN, cfg)
policy = make_policy(cfg, env, jax.tree.map(lambda x: jnp.repeat(jnp.asarray(x)[None], LIFETIMES, 0), genome))


def step(carry, obs, last_r, last_term):
    inner, seen, acts, t = carry
    action, inner = policy.step(inner, obs, last_r, last_term)
    return action, (inner, seen.at[t].set(obs), acts.at[t].set(action), t + 1)


@jax.jit
def live(keys):
    k_wire, k_env = jax.vmap(jax.random.split, out_axes=1)(keys)
    carry = (policy.init(k_wire), jnp.zeros((steps, LIFETIMES, env.obs_size)), jnp.zeros((steps, LIFETIMES), jnp.int32),
             jnp.int32(0))
    res = run_lifetimes(env, step, carry, k_env, EPISODES, mode="window")
    return res.returns, res.final_agent_state[1], res.final_agent_state[2]


returns, obs, acts = map(np.asarray, live(jax.random.split(jax.random.key(20_000), LIFETIMES)))
late = slice(3 * env.max_steps, steps)  # windows 4-8
obs, acts = obs[late], acts[late]
print(f"\ngenome, {LIFETIMES} fresh lifetimes: windows 4-8 mean {returns[:, 3:].mean():.1f}; actions "
      + ", ".join(f"{a}: {np.mean(acts == a):.1%}" for a in range(3)))
torque = acts != 1
lifetime_means = returns[:, 3:].mean(1)
for name, rule in RULES.items():
    agree = (np.asarray(rule(obs.reshape(-1, obs.shape[-1]))).reshape(acts.shape) == acts) & torque
    per_life = agree.sum(0) / torque.sum(0)
    corr = np.corrcoef(per_life, lifetime_means)[0, 1]
    print(f"agrees with {name:24s} on {agree.sum() / torque.sum():.1%} of torque steps "
          f"(lifetimes: {per_life.min():.0%} ... {per_life.max():.0%}; correlation with the lifetime's windows 4-8 mean {corr:+.2f})")
idle = (~torque).mean(0)
print(f"no torque (action 1) on {idle.mean():.1%} of steps (lifetimes: {idle.min():.0%} ... {idle.max():.0%}; "
      f"correlation with the lifetime's windows 4-8 mean {np.corrcoef(idle, lifetime_means)[0, 1]:+.2f})")

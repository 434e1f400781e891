"""A rendered lifetime of a trained agent in a brax environment (``sfnn render RUN_DIR``).

Writes two files into the run directory: ``rollout_<env>.html``, brax's own 3-D viewer (the
file is written offline; opening it loads three.js from a CDN, so viewing needs a network),
and ``rollout_<env>.gif``, a side view (x–z plane) of the model's capsules drawn with
matplotlib, which needs nothing. The lifetime is the run's final genome with a fresh wiring (a
``lifetime.wiring=fixed`` run's own wiring in its own environments), all its episodes in order,
so the learning within the lifetime is what is shown.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from agents.config import ConfigError, TrainConfig, is_supervised
from agents.plots import safe_name
from agents.rl.policy import make_policy
from envs.brax_env import brax_env_for
from envs.registry import check_env_name, make_env

GIF_FRAMES = 150  # at most this many frames, evenly spaced over the lifetime


def rollout(
    cfg: TrainConfig, genome: Any, env_name: str, seed: int = 0, wiring_key: jax.Array | None = None
) -> tuple[Any, np.ndarray, np.ndarray]:
    """One lifetime of ``genome``: (brax pipeline states stacked over steps, rewards, done flags),
    cut after the lifetime's last episode. ``wiring_key`` fixes the wiring (default: from ``seed``)."""
    env = make_env(env_name, cfg.lifetime.max_steps)
    genomes = jax.tree.map(lambda x: x[None], genome)
    policy = make_policy(cfg, env, genomes)
    k_wire, k_reset, k_steps = jax.random.split(jax.random.key(seed), 3)
    k_wire = k_wire if wiring_key is None else wiring_key
    steps = cfg.lifetime.episodes * env.max_steps

    @jax.jit
    def run():
        obs, env_state = jax.vmap(env.reset)(k_reset[None])
        init = (env_state, obs, policy.init(k_wire[None]), jnp.zeros((1,)), jnp.zeros((1,), bool))

        def body(carry, t):
            env_state, obs, agent, r, term = carry
            action, agent = policy.step(agent, obs, r, term)
            obs, env_state, r, term, trunc = jax.vmap(env.step)(jax.random.fold_in(k_steps, t)[None], env_state, action)
            return (env_state, obs, agent, r, term), (env_state.env.pipeline_state, r[0], (term | trunc)[0])

        return jax.lax.scan(body, init, jnp.arange(steps))[1]

    states, rewards, dones = run()
    rewards, dones = np.asarray(rewards), np.asarray(dones)
    ends = np.flatnonzero(dones)
    n = int(ends[cfg.lifetime.episodes - 1]) + 1 if len(ends) >= cfg.lifetime.episodes else steps
    states = jax.tree.map(lambda x: x[:n, 0], states)
    return states, rewards[:n], dones[:n]


def episode_returns(rewards: np.ndarray, dones: np.ndarray) -> list[float]:
    ends = np.flatnonzero(dones)
    return [float(r.sum()) for r in np.split(rewards, ends + 1) if len(r)][: len(ends)]


def episode_travel(x: np.ndarray, dones: np.ndarray) -> list[float]:
    """How far the first body (hopper's torso, the pendulum's cart) moved along x in each episode.

    ``x`` (T,) is its position after each step of a ``rollout``; at the step that ends an
    episode the environment has already reset, so an episode runs from the state its
    predecessor's last step reset to (the first episode: its first step's state) to the state
    before its own last step. Returns matter less than this for locomotion: hopper pays +1 per
    step for staying up, so a high return can mean standing still.
    """
    ends = np.flatnonzero(dones)
    out, start = [], float(x[0])
    for e in ends:
        out.append(round(float(x[max(e - 1, 0)]) - start, 3))
        start = float(x[e])
    return out


def save_html(path: Path, sys: Any, states: Any) -> Path:
    """brax's viewer: the model and every frame, as one self-contained HTML page (viewer JS from a CDN)."""
    from brax.io import html

    n = jax.tree.leaves(states)[0].shape[0]
    frames = [jax.tree.map(lambda x: x[i], states) for i in range(n)]
    path.write_text(html.render(sys, frames))
    return path


def _rotate(v: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4) in (w, x, y, z) order."""
    w, u = q[..., :1], q[..., 1:]
    return v + 2.0 * np.cross(u, np.cross(u, v) + w * v)


def _segments(sys: Any, pos: np.ndarray, rot: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """World-frame (start, end, radius) of every capsule/cylinder; spheres as points. Planes skipped."""
    out = []
    for g, body in enumerate(np.asarray(sys.geom_bodyid)):
        kind = int(sys.geom_type[g])
        if kind not in (2, 3, 5, 6):  # sphere, capsule, cylinder, box
            continue
        size = np.asarray(sys.geom_size[g])
        half = 0.0 if kind == 2 else float(size[2] if kind == 6 else size[1])
        axis = _rotate(np.array([0.0, 0.0, half]), np.asarray(sys.geom_quat[g]))
        centre = np.asarray(sys.geom_pos[g])
        a, b = centre - axis, centre + axis
        if body > 0:  # bodies move; body 0 is the world
            p, q = pos[body - 1], rot[body - 1]
            a, b = p + _rotate(a, q), p + _rotate(b, q)
        out.append((a, b, float(size[0])))
    return out


def save_gif(path: Path, sys: Any, states: Any, title: str, returns: list[float], dones: np.ndarray) -> Path:
    """A side view (x–z) of the model's capsules, at most ``GIF_FRAMES`` frames over the lifetime."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    pos, rot = np.asarray(states.x.pos), np.asarray(states.x.rot)
    n = pos.shape[0]
    idx = np.unique(np.linspace(0, n - 1, min(n, GIF_FRAMES)).astype(int))
    episode = np.concatenate([[0], np.cumsum(dones)[:-1]]).astype(int)
    segs = [_segments(sys, pos[i], rot[i]) for i in idx]
    pts = np.array([p for frame in segs for s in frame for p in s[:2]])
    lo, hi = pts.min(0), pts.max(0)
    centre_z = (lo[2] + hi[2]) / 2
    span = max(hi[2] - lo[2], 1.0) * 0.6 + 0.2

    fig, ax = plt.subplots(figsize=(4, 4), dpi=80)

    def draw(k):
        ax.clear()
        frame, i = segs[k], idx[k]
        cx = pos[i, 0, 0]  # follow the first body along x
        for a, b, r in frame:
            ax.plot([a[0], b[0]], [a[2], b[2]], lw=max(1.5, 60 * r), solid_capstyle="round", color="tab:blue")
        ax.set_xlim(cx - span, cx + span)
        ax.set_ylim(centre_z - span, centre_z + span)
        ax.set_aspect("equal")
        ep = int(episode[i])
        ret = f", return {returns[ep]:.0f}" if ep < len(returns) else ""
        ax.set_title(f"{title}\nepisode {ep + 1}{ret}, step {i + 1}", fontsize=8)

    anim = FuncAnimation(fig, draw, frames=len(idx))
    anim.save(path, writer=PillowWriter(fps=15))
    plt.close(fig)
    return path


def render_run(run_dir: Path, env_name: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Render one lifetime of the run's final genome in ``env_name`` (default: the run's first
    brax environment); returns the written paths, and the episode returns and the distance the
    first body travelled along x per episode (``episode_travel``) in that lifetime."""
    from agents.rundir import load_genome, load_run_config

    cfg = load_run_config(run_dir)
    if is_supervised(cfg):
        raise ConfigError(f"{run_dir} learns on datasets (model.kind={cfg.model.kind}): only agents acting in a brax "
                          "environment can be rendered")
    if env_name is None:
        env_name = next((e for e in cfg.envs if e.startswith("brax/")), None)
        if env_name is None:
            raise ConfigError(f"{run_dir} was not trained on a brax environment: name one with --env brax/NAME")
    if not env_name.startswith("brax/"):
        raise ConfigError(f"--env {env_name}: rendering needs a brax environment (brax/NAME; sfnn envs lists them)")
    try:
        check_env_name(env_name)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    genome = load_genome(run_dir, cfg)
    wiring_key = None
    if cfg.lifetime.wiring == "fixed" and env_name in cfg.envs:  # the wiring the genome was evolved on
        from agents.rl.evaluate import own_wiring_key

        wiring_key = own_wiring_key(cfg, cfg.envs.index(env_name))
    cfg = dataclasses.replace(cfg, envs=[env_name])
    states, rewards, dones = rollout(cfg, genome, env_name, seed, wiring_key)
    returns = episode_returns(rewards, dones)
    sys = brax_env_for(env_name).sys
    stem = f"rollout_{safe_name(env_name)}"
    html = save_html(run_dir / f"{stem}.html", sys, states)
    gif = save_gif(run_dir / f"{stem}.gif", sys, states, env_name, returns, dones)
    travel = episode_travel(np.asarray(states.x.pos[:, 0, 0]), dones)
    return {"html": str(html), "gif": str(gif), "env": env_name, "episode_returns": [round(r, 2) for r in returns],
            "episode_travel_m": travel}

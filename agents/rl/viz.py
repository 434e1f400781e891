"""Pictures of what an SFNN is and does: its sampled wiring, and its plastic vectors over a lifetime.

Learning curves (training fitness, returns per episode, accuracy per step) live in
``agents.plots`` and are re-exported here, so notebooks import every figure from one place.
Like ``agents.plots``, each figure function writes a PNG and returns its path: the same files
go into run directories, to wandb and into notebooks (``IPython.display.Image``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from agents.config import TrainConfig
from agents.plots import lifetime_curves, safe_name, training_curve
from agents.rl.policy import NormedState, make_policy, sfnn_spec, shaped_reward
from envs.lifetime import run_lifetimes
from envs.registry import make_env
from sfnn import Genome, SFNNSpec, Topology, sample_masks
from sfnn.topology import BLOCKS, GROUP_TYPE

__all__ = [
    "LifetimeTrace", "lifetime_curves", "plastic_heatmap", "run_figures", "sample_wirings",
    "trace_lifetimes", "training_curve", "wiring_graph",
]  # fmt: skip

GROUP_NAMES = {"i": "input", "h": "hidden", "o": "output"}
TYPE_COLOURS = ("tab:blue", "tab:orange", "tab:green")  # neuron (and synapse) type 0, 1, 2


def sample_wirings(spec: SFNNSpec, keys: list[jax.Array]) -> list[dict[str, np.ndarray]]:
    """One wiring per key, drawn exactly as a lifetime draws it (``sfnn.topology.sample_masks``)."""
    return [{k: np.asarray(v) for k, v in sample_masks(key, spec.topo, spec.connect_prob, spec.self_loops).items()} for key in keys]


def _positions(topo: Topology) -> dict[str, np.ndarray]:
    """(x, y) of every neuron: one column per group, each column centred on y = 0."""
    pos = {}
    for x, g in enumerate("iho"):
        n = topo.size(g)
        ys = (np.arange(n)[::-1] - (n - 1) / 2) * (1.0 if g == "h" else max(1.0, topo.n_hidden / max(n, 1) / 2))
        pos[g] = np.stack([np.full(n, float(x)), ys], 1)
    return pos


def _draw_wiring(ax: Any, masks: dict[str, np.ndarray], topo: Topology, title: str) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.patches import FancyArrowPatch

    pos = _positions(topo)
    for block, (pre, post) in BLOCKS.items():
        colour = TYPE_COLOURS[GROUP_TYPE[pre]]  # a synapse's type is its pre-synaptic neuron's type
        ii, jj = np.nonzero(masks[block])
        if block in ("ih", "ho"):  # forward edges: straight lines between neighbouring columns
            segs = np.stack([pos[pre][ii], pos[post][jj]], 1)
            ax.add_collection(LineCollection(segs, colors=colour, alpha=0.25, linewidths=0.6))
        else:  # recurrent edges (h→h, o→h) curve, so they do not hide the forward ones
            rad = 0.6 if block == "hh" else 0.25
            for i, j in zip(ii, jj):
                if block == "hh" and i == j:
                    continue  # a self-loop has no visible arc; the title's edge count includes it
                ax.add_patch(FancyArrowPatch(pos[pre][i], pos[post][j], connectionstyle=f"arc3,rad={rad}",
                                             arrowstyle="-", color=colour, alpha=0.18, lw=0.5))
    for g in "iho":
        t = GROUP_TYPE[g]
        ax.scatter(*pos[g].T, s=60, color=TYPE_COLOURS[t], edgecolor="black", linewidth=0.5, zorder=3,
                   label=f"{GROUP_NAMES[g]} neurons (type {t}): {topo.size(g)}")
    counts = ", ".join(f"{pre.upper()}→{post.upper()} {int(masks[b].sum())}" for b, (pre, post) in BLOCKS.items())
    ax.set_title(f"{title}\nedges: {counts}", fontsize=9)
    ax.set_xticks([0, 1, 2], ["input", "hidden", "output"])
    ax.set_yticks([])
    ax.set_xlim(-0.5, 2.5)
    ax.autoscale(axis="y")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def wiring_graph(
    wirings: list[dict[str, np.ndarray]], topo: Topology, path: Path, titles: list[str] | None = None
) -> Path:
    """The network graph of one or more wirings side by side: neurons in input, hidden and output
    columns coloured by type, every sampled edge coloured by its synapse type (pre-synaptic type)."""
    titles = titles or [f"wiring {i + 1}" for i in range(len(wirings))]
    fig, axes = plt.subplots(1, len(wirings), figsize=(4.2 * len(wirings), 5.5), squeeze=False)
    for ax, masks, title in zip(axes[0], wirings, titles):
        _draw_wiring(ax, masks, topo, title)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class LifetimeTrace(NamedTuple):
    """One lifetime of one agent, recorded step by step (numpy; see ``trace_lifetimes``)."""

    env: str
    placement: str  # synapse | neuron
    rows: dict[str, np.ndarray]  # group (neuron) or block (synapse) -> (frames, units, M) plastic vectors
    frame_steps: np.ndarray  # (frames,) the step whose plastic state each frame holds
    change: np.ndarray  # (steps,) ‖Δ plastic vectors‖ made at each step (all groups together)
    reward: np.ndarray  # (steps,) the reward the network was shown at each step
    terminated: np.ndarray  # (steps,) the network was told the previous step ended by termination
    returns: np.ndarray  # (episodes,)
    lengths: np.ndarray  # (episodes,) steps each episode spans (windows: the whole window); cumulative sums mark episode ends
    masks: dict[str, np.ndarray]  # the wiring this lifetime lived with (``sfnn.topology.BLOCKS``)


def _net(state: Any) -> Any:
    return state.net if isinstance(state, NormedState) else state


def trace_lifetimes(
    cfg: TrainConfig,
    env_name: str,
    genome: Genome,
    keys: jax.Array,
    learn: bool = True,
    max_values: int = 4_000_000,
    wiring_keys: jax.Array | None = None,
) -> list[LifetimeTrace]:
    """Live one lifetime of ``genome`` per key in ``env_name``, all in one compiled call, through the
    training code path (policy, observation pipeline, reward shaping, ``envs.lifetime.run_lifetimes``),
    and record the plastic vectors and each step's change, reward and termination.

    Snapshots of the plastic vectors are kept every k steps, k the smallest that fits
    ``max_values`` floats (synapse state is O(N²)). A key fixes the lifetime's wiring and
    environment seeds, so ``learn=False`` (the frozen ablation) lives the same lifetimes.
    """
    if cfg.model.kind != "sfnn":
        raise ValueError(f"plastic vectors exist in SFNN runs only, not model.kind={cfg.model.kind}")
    env = make_env(env_name, cfg.lifetime.max_steps)
    b = keys.shape[0]
    policy = make_policy(cfg, env, jax.tree.map(lambda x: jnp.repeat(jnp.asarray(x)[None], b, 0), genome), learn=learn)
    total = cfg.lifetime.episodes * env.max_steps
    k_wire, k_env = jax.vmap(jax.random.split, out_axes=1)(keys)
    k_wire = k_wire if wiring_keys is None else wiring_keys  # e.g. a fixed-wiring run's own wiring
    size = sum(math.prod(v.shape) for v in jax.eval_shape(lambda: _net(policy.init(k_wire)).plastic).values())
    every = max(1, math.ceil(total * size / max_values))
    n_frames = math.ceil(total / every)

    def step(carry, obs, last_r, last_term):
        inner, frames, change, reward, term, t = carry
        action, new = policy.step(inner, obs, last_r, last_term)
        old_p, new_p = _net(inner).plastic, _net(new).plastic  # leaves end in the population axis
        sq = [jnp.sum((new_p[k] - old_p[k]) ** 2, axis=tuple(range(new_p[k].ndim - 1))) for k in new_p]
        frames = {k: frames[k].at[t // every].set(new_p[k]) for k in frames}
        shown = shaped_reward(cfg.lifetime, env, last_r, last_term, obs)
        carry = (new, frames, change.at[t].set(jnp.sqrt(sum(sq))), reward.at[t].set(shown), term.at[t].set(last_term),
                 t + 1)  # fmt: skip
        return action, carry

    @jax.jit
    def live(k_wire, k_env):
        inner = policy.init(k_wire)
        frames = {k: jnp.zeros((n_frames, *v.shape), v.dtype) for k, v in _net(inner).plastic.items()}
        zeros = jnp.zeros((total, b), jnp.float32)
        carry = (inner, frames, zeros, zeros, jnp.zeros((total, b), bool), jnp.int32(0))
        res = run_lifetimes(env, step, carry, k_env, cfg.lifetime.episodes, mode=cfg.lifetime.episode_mode)
        return res.returns, res.lengths, res.final_agent_state[1:5], _net(inner).masks

    returns, lengths, (frames, change, reward, term), masks = jax.device_get(live(k_wire, k_env))
    if cfg.lifetime.episode_mode == "window":  # an agent lives every step; a window spans max_steps of them
        lengths = np.full_like(lengths, env.max_steps)
    traces = []
    for a in range(b):
        lived = int(lengths[a].sum())  # after its last episode an agent acts on, unrecorded: cut there
        kept = math.ceil(lived / every)
        mine = {k: v[..., a] for k, v in masks.items()}
        rows = {}
        for k, v in frames.items():
            v = v[:kept, ..., a]
            if cfg.model.plasticity == "synapse":  # keep the edges that exist in this wiring
                v = v.reshape(kept, -1, v.shape[-1])[:, mine[k].reshape(-1) > 0]
            rows[k] = v
        frame_steps = np.minimum((np.arange(kept) + 1) * every, lived) - 1  # a frame holds its window's last step
        traces.append(LifetimeTrace(env_name, cfg.model.plasticity, rows, frame_steps, change[:lived, a],
                                    reward[:lived, a], term[:lived, a], returns[a], lengths[a], mine))  # fmt: skip
    return traces


def plastic_heatmap(trace: LifetimeTrace, path: Path, title: str | None = None) -> Path:
    """Heat-map of every plastic vector component over the lifetime (rows: unit × channel, by group),
    and below it the size of each step's change next to the reward the network was shown."""
    order = [*"iho", *BLOCKS]  # input, hidden, output (or the blocks in topology order), top to bottom
    names = sorted(trace.rows, key=order.index)
    stacked = np.concatenate([trace.rows[k].reshape(len(trace.frame_steps), -1) for k in names], 1).T
    heights = [trace.rows[k].shape[1] * trace.rows[k].shape[2] for k in names]
    ends = np.cumsum(trace.lengths)[:-1]
    fig = plt.figure(figsize=(10, 6.5))
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 1], width_ratios=[60, 1], hspace=0.08, wspace=0.12)
    top = fig.add_subplot(grid[0, 0])
    bottom = fig.add_subplot(grid[1, 0], sharex=top)  # a colorbar beside the top only would shift its x scale
    vmax = float(np.percentile(np.abs(stacked), 99)) if stacked.size else 1.0
    right = int(trace.frame_steps[-1]) + 1 if len(trace.frame_steps) else 1
    im = top.imshow(stacked, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, extent=(0, right, stacked.shape[0], 0),
                    interpolation="nearest")  # fmt: skip
    edges = np.cumsum([0, *heights])
    for y in edges[1:-1]:
        top.axhline(y, color="black", lw=0.8)
    labels = [GROUP_NAMES[k] if k in GROUP_NAMES else f"{k[0].upper()}→{k[1].upper()}" for k in names]
    top.set_yticks((edges[:-1] + edges[1:]) / 2, labels)
    top.set_ylabel(f"{'neuron' if trace.placement == 'neuron' else 'edge'} × channel")
    top.tick_params(labelbottom=False)
    fig.colorbar(im, cax=fig.add_subplot(grid[0, 1]), label="plastic vector value")
    x = np.arange(len(trace.change))
    bottom.plot(x, trace.change, lw=0.7, color="black", label="‖Δ plastic‖ per step")
    bottom.set_ylabel("change")
    twin = bottom.twinx()
    twin.plot(x, trace.reward, lw=0.7, color="tab:red", alpha=0.7, label="reward shown")
    twin.set_ylabel("reward shown", color="tab:red")
    for ax in (top, bottom):
        for e in ends:
            ax.axvline(e, color="grey", lw=0.8, ls="--")
    bottom.set_xlabel("step in lifetime (dashed: episode ends)")
    rets = ", ".join(f"{r:g}" for r in np.round(trace.returns, 1))
    top.set_title(title or f"{trace.env}: plastic vectors ({trace.placement} placement); returns {rets}", fontsize=10)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def run_figures(cfg: TrainConfig, genome: Genome, run_dir: Path) -> dict[str, str]:
    """The SFNN figures a finished run saves: two sampled wirings of its first environment's network
    (``wiring.png``) and the plastic vectors of ``genome`` over one fresh lifetime there
    (``plastic_<env>.png``); wirings and lifetime are drawn from the run's seed. A
    ``lifetime.wiring=fixed`` run shows its own wiring, and its lifetime lives it."""
    env_name = cfg.envs[0]
    spec = sfnn_spec(cfg, make_env(env_name, cfg.lifetime.max_steps))
    base = jax.random.fold_in(jax.random.key(cfg.seed), 30_000)
    own = cfg.lifetime.wiring == "fixed"  # a fixed-wiring run is shown on the one wiring it evolved on
    wiring_keys = None
    if own:
        from agents.rl.evaluate import own_wiring_key

        wiring_keys = own_wiring_key(cfg, 0)[None]
    trace = trace_lifetimes(cfg, env_name, genome, jax.random.fold_in(base, 3)[None], wiring_keys=wiring_keys)[0]
    if own:
        wirings, titles = [trace.masks], [f"{env_name}: the run's own wiring (lifetime.wiring=fixed)"]
    else:
        wirings = sample_wirings(spec, [jax.random.fold_in(base, i) for i in (1, 2)])
        titles = [f"{env_name}: wiring {i}" for i in (1, 2)]
    out = {"wiring": str(wiring_graph(wirings, spec.topo, run_dir / "wiring.png", titles))}
    rets = ", ".join(f"{r:g}" for r in np.round(trace.returns, 1))
    png = run_dir / f"plastic_{safe_name(env_name)}.png"
    out[f"plastic_{env_name}"] = str(plastic_heatmap(trace, png, f"{env_name}, final genome: plastic vectors; returns {rets}"))
    return out

"""``configs/authors.yaml`` is the authors' SFNN, step by step, against a recording of their code.

``tests/fixtures/authors_lifetimes.npz`` was written by ``benchmarks/authors/parity.py`` running
the authors' own code (Joachm/SFNN @ 29b51a8, JAX 0.4.20) through one whole lifetime in each of
CartPole, Acrobot and MountainCar: their genome (mapped to this library's layout), their wiring
and initial edge vectors, every observation, reward, action and ``done``, and the plastic state
at some steps. The tests below replay it through this library alone, in float64 (in float32
neither code repeats its own lifetimes over thousands of steps: see the harness), and then check
that each difference between the authors' model and the library's defaults, switched back one
at a time, breaks the replay.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.config import load_config
from agents.fitness import lifetime_fitness
from agents.rl.policy import NormedState, genome_template, make_policy, sfnn_spec
from envs.lifetime import run_lifetimes, window_reset_keys
from envs.registry import EnvAdapter, make_env
from sfnn import genome_size, init_state
from sfnn.network import PlasticState, step
from sfnn.population import to_population_first, to_population_last
from sfnn.topology import BLOCKS

FIXTURE = Path(__file__).parent / "fixtures" / "authors_lifetimes.npz"
AUTHORS = Path(__file__).parents[1] / "configs" / "authors.yaml"
ENVS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")


@pytest.fixture(scope="module")
def fixture():
    with np.load(FIXTURE, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def recorded(fx: dict, env: str) -> dict:
    """One environment's part of the fixture, with the genome nested as the library's."""
    part = {k.removeprefix(env + "/"): v for k, v in fx.items() if k.startswith(env + "/")}
    genome: dict = {}
    for k, v in part.items():
        if k.startswith("genome/"):
            *path, leaf = k.removeprefix("genome/").split("/")
            node = genome
            for p in path:
                node = node.setdefault(p, {})
            node[leaf] = v  # numpy: made a JAX array inside the float64 context, not truncated before it
    part["genome"] = genome
    return part


def authors_cfg(*overrides: str):
    return load_config(AUTHORS, [*overrides, "log.wandb=disabled"])


def start_state(cfg, env: EnvAdapter, rec: dict) -> PlasticState:
    """The library's fresh lifetime for this config, with the recorded wiring and edge vectors in it."""
    spec = sfnn_spec(cfg, env)
    ours = init_state(jax.random.key(0), spec)
    masks = {b: jnp.asarray(rec["mask/" + b]) for b in BLOCKS}
    plastic = ours.plastic
    if spec.plasticity == "synapse":
        plastic = {b: jnp.asarray(rec["edges0/" + b]) * masks[b][..., None] for b in BLOCKS}
    # float: float64 inside jax.enable_x64 (the replays to the recording), float32 outside
    y = {g: jnp.zeros_like(v, dtype=float) for g, v in ours.y.items()}
    return PlasticState(masks, plastic, y, ours.prev_action.astype(float))


def replay(cfg, env: EnvAdapter, rec: dict, steps: int, impl: str):
    """Feed the recorded observations and rewards through the library's policy for ``cfg``, each
    recorded end told on the next step as the lifetime loop tells a termination (the authors'
    config shows the raw reward whatever it is told): (actions (steps,), edge vectors and
    activations at the recorded snapshot steps below ``steps``)."""
    genome = rec["genome"]
    policy = make_policy(cfg, env, jax.tree.map(lambda x: x[None], genome), impl=impl)
    state = jax.tree.map(lambda x: x[None], start_state(cfg, env, rec))
    if impl == "fast":
        state = to_population_last(state)
    state = policy.pre.init(state, 1, env.obs_size)  # observation statistics, where lifetime.obs_norm keeps them
    obs, given = jnp.asarray(rec["obs"][:steps]), jnp.asarray(rec["reward_given"][:steps])
    told = jnp.asarray(np.concatenate([[False], rec["done"][:-1]])[:steps])

    def body(s, x):
        o, r, t = x
        action, s = policy.step(s, o[None], r[None], t[None])
        net = s.net if isinstance(s, NormedState) else s
        net = to_population_first(net) if impl == "fast" else net
        return s, (action[0], net.plastic, net.y)

    _, (actions, plastic, y) = jax.jit(lambda s: jax.lax.scan(body, s, (obs, given, told)))(state)
    snaps = rec["snapshot_steps"][rec["snapshot_steps"] < steps]
    return np.asarray(actions), jax.tree.map(lambda x: np.asarray(x[snaps, 0]), plastic), \
        jax.tree.map(lambda x: np.asarray(x[snaps, 0]), y), snaps


def mismatches(cfg, env_name: str, rec: dict, steps: int, impl: str = "reference") -> list[str]:
    """What differs between the library's replay under ``cfg`` and the authors' recording."""
    env = make_env(env_name)
    if jax.tree.structure(genome_template(cfg)) != jax.tree.structure(rec["genome"]):
        return ["genome layout"]
    if cfg.model.plasticity != "synapse":
        return ["plastic state placement"]
    actions, plastic, y, snaps = replay(cfg, env, rec, steps, impl)
    found = []
    wrong = np.flatnonzero(actions != rec["action"][:steps])
    if wrong.size:
        found.append(f"{wrong.size} of {steps} actions, first at step {wrong[0]}")
    n_in, n_out = env.obs_size, env.n_actions
    theirs_y = rec["y"][: len(snaps)]
    ours_y = np.concatenate([y["i"], y["h"], y["o"]], axis=1)
    assert ours_y.shape[1] == n_in + (theirs_y.shape[1] - n_in - n_out) + n_out
    if not np.allclose(ours_y, theirs_y, rtol=1e-6, atol=1e-7):
        found.append(f"activations (largest difference {np.abs(ours_y - theirs_y).max():.2e})")
    for b in BLOCKS:
        theirs = rec["edges/" + b][: len(snaps)] * rec["mask/" + b][None, ..., None]
        if not np.allclose(plastic[b], theirs, rtol=1e-6, atol=1e-7):
            found.append(f"edges {b} (largest difference {np.abs(plastic[b] - theirs).max():.2e})")
    return found


@pytest.mark.parametrize("env_name", ENVS)
def test_authors_config_replays_their_whole_lifetime(fixture, env_name):
    """Every action of a whole lifetime (8 episodes, 1,600-4,000 steps) and the plastic state at
    the snapshot steps equal the authors' code, for the readable reference and the fast path."""
    rec = recorded(fixture, env_name)
    cfg = authors_cfg()
    assert genome_size(rec["genome"]) == 565
    steps = rec["action"].size
    with jax.enable_x64(True):
        assert mismatches(cfg, env_name, rec, steps, "reference") == []
        assert mismatches(cfg, env_name, rec, steps, "fast") == []
    assert len(np.unique(rec["action"])) > 1 and np.sum(np.diff(rec["action"]) != 0) > 100  # not a constant policy


def test_authors_genome_has_565_parameters():
    """48 neuron weights (no biases) + 516 GRU parameters + the evolved plastic rate scale."""
    cfg = authors_cfg()
    g = genome_template(cfg)
    assert genome_size(g) == 565
    assert genome_size(g["neuron"]) == 48 and genome_size(g["gru"]) == 516 and g["plastic_lr_scale"].shape == (1,)


class ReplayEnv:
    """An environment that plays back the authors' recorded trajectory: a window's reset gives the
    observation they saw at that window's start, each step their next observation, reward and done.
    Which window a reset starts is read off its key (``envs.lifetime.window_reset_keys``)."""

    def __init__(self, rec: dict, episodes: int, agent_key: jax.Array):
        self.obs = jnp.asarray(rec["obs"])
        self.reward = jnp.asarray(rec["reward"], jnp.float32)
        self.done = jnp.asarray(rec["done"])
        self.t_max = self.obs.shape[0] // episodes
        self.table = jax.random.key_data(window_reset_keys(agent_key[None], episodes)[:, 0])

    def adapter(self, base: EnvAdapter) -> EnvAdapter:
        def reset(key):
            w = jnp.argmax(jnp.all(self.table == jax.random.key_data(key), axis=-1))
            t = w * self.t_max
            return self.obs[t], t

        def step(key, t, action):
            nxt = jnp.minimum(t + 1, self.obs.shape[0] - 1)
            return self.obs[nxt], nxt, self.reward[t], self.done[t], jnp.zeros((), bool)

        return EnvAdapter(name="replay/" + base.name, obs_size=base.obs_size, n_actions=base.n_actions,
                          max_steps=self.t_max, reset=reset, step=step, return_range=base.return_range)


@pytest.mark.parametrize("env_name", ENVS)
def test_window_lifetime_gives_their_returns_and_fitness(fixture, env_name):
    """The lifetime loop with ``lifetime.episode_mode=window`` (each episode a window from a reset,
    scored to its first end, the network acting and learning on to the window's end, state and last
    reward carried into the next window), fed the authors' trajectory, gives their per-episode
    returns, their fitness, and their final plastic state; back-to-back episodes do not, where the
    recorded lifetime ends episodes before their windows do (the CartPole one)."""
    rec = recorded(fixture, env_name)
    cfg = authors_cfg()
    base = make_env(env_name)
    key = jax.random.key(3)
    env = ReplayEnv(rec, cfg.lifetime.episodes, key).adapter(base)

    def live(cfg):
        policy = make_policy(cfg, env, jax.tree.map(lambda x: x[None], rec["genome"]), impl="fast")
        state = to_population_last(jax.tree.map(lambda x: x[None], start_state(cfg, base, rec)))
        res = jax.jit(lambda s: run_lifetimes(env, policy.step, s, key[None], cfg.lifetime.episodes,
                                              mode=cfg.lifetime.episode_mode))(state)
        return np.asarray(res.returns[0]), to_population_first(res.final_agent_state)

    with jax.enable_x64(True):
        returns, final = live(cfg)
        np.testing.assert_array_equal(returns, rec["returns"])
        fit = lifetime_fitness(jnp.asarray(returns), cfg.fitness.kind, base.return_range)
        np.testing.assert_allclose(float(fit), float(rec["fitness"]), rtol=1e-6)
        for b in BLOCKS:
            theirs = rec["edges/" + b][-1] * rec["mask/" + b][..., None]
            np.testing.assert_allclose(final.plastic[b][0], theirs, rtol=1e-6, atol=1e-7)
        consecutive, _ = live(authors_cfg("lifetime.episode_mode=consecutive"))
    if rec["done"].reshape(cfg.lifetime.episodes, -1)[:, :-1].any():  # an episode ended inside its window
        assert not np.array_equal(consecutive, rec["returns"])


# Each difference between the authors' SFNN and the library's defaults, switched back alone.
# (``model.self_loops`` only changes how wirings are sampled; the replay uses the recorded wiring,
# so ``test_authors_wiring_has_no_self_loops`` checks it instead.)
DEVIATIONS = [
    "model.propagation=sequential",
    "model.prev_action=add",
    "model.action_feedback_from=0",
    "model.initial_action=null",
    "model.neuron_bias=true",
    "model.evolve_plastic_lr=false",
    "model.learn_every=pass",
    "model.passes=2",
    "model.plastic_update=lerp",
    "model.plastic_lr=0.02",
    "model.plasticity=neuron",
    "lifetime.terminal_reward=-1",
]


@pytest.mark.parametrize("override", DEVIATIONS)
def test_each_deviation_from_the_authors_breaks_the_replay(fixture, override):
    """Every option that makes configs/authors.yaml the authors' model matters: with any one of
    them set back to another value, the first 100 steps of the CartPole lifetime no longer match
    (actions, activations or edge vectors). ``terminal_reward``: the replay's first termination is
    told to the network, so a shaped reward there changes what it learns."""
    rec = recorded(fixture, "CartPole-v1")
    first_end = int(np.argmax(rec["done"]))
    steps = max(100, first_end + 2) if override.startswith("lifetime.terminal_reward") else 100
    cfg = authors_cfg(override)
    with jax.enable_x64(True):
        found = mismatches(cfg, "CartPole-v1", rec, steps)
    assert found, f"{override} still matches the authors' code"


def test_authors_wiring_has_no_self_loops(fixture):
    """Their wiring has no hidden→hidden self-connections; the authors' config samples none either,
    while the library's default may."""
    for env_name in ENVS:
        assert not np.diag(fixture[f"{env_name}/mask/hh"]).any()
    env = make_env("CartPole-v1")
    diag = lambda cfg: float(np.mean([np.trace(init_state(jax.random.key(k), sfnn_spec(cfg, env)).masks["hh"])  # noqa: E731
                                      for k in range(20)]))
    assert diag(authors_cfg()) == 0.0
    assert diag(authors_cfg("model.self_loops=true")) > 5


def test_float32_replay_agrees_until_rounding_grows(fixture):
    """In float32 (how runs train) the first 200 steps of the CartPole lifetime still match the
    authors' float64 recording: the two codes differ only in rounding."""
    rec = recorded(fixture, "CartPole-v1")
    rec32 = {**rec, "genome": jax.tree.map(lambda x: x.astype(jnp.float32), rec["genome"]),
             "obs": rec["obs"].astype(np.float32), "reward_given": rec["reward_given"].astype(np.float32)}
    cfg = authors_cfg()
    env = make_env("CartPole-v1")
    actions, plastic, _, snaps = replay(cfg, env, rec32, 200, "fast")
    np.testing.assert_array_equal(actions, rec["action"][:200])
    for b in BLOCKS:
        theirs = rec["edges/" + b][: len(snaps)] * rec["mask/" + b][None, ..., None]
        np.testing.assert_allclose(plastic[b], theirs, rtol=1e-3, atol=1e-4)

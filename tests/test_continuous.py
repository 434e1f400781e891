"""Continuous actions (every model kind), observation normalisation, and the brax adapter."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY, fast_and_reference

from agents.config import ConfigError, load_config
from agents.rl.policy import (
    ObsPipeline, ObsStats, env_actions, genome_template, make_policy, scale_actions, update_obs_stats,
)
from agents.trainer import Trainer
from envs.brax_env import BRAX_SIZES
from envs.lifetime import run_lifetimes
from envs.registry import make_env
from sfnn import SFNNSpec, Topology, baselines
from sfnn.population import to_population_first

BRAX_IP = "configs/brax_inverted_pendulum.yaml"
# brax programs take ~15 s to compile with XLA's full optimisation, ~6 s without: tests check
# semantics, not speed
QUICK_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
SMALL = [*TINY, "strategy.population=4", "strategy.generations=2", "lifetime.max_steps=8", "model.neurons=8",
         "model.passes=1", "model.channels=2", "model.plasticity=neuron", "lifetime.obs_norm=none"]


def test_actions_are_scaled_to_the_bounds_and_clipped():
    values = jnp.array([[-1.0, 0.0, 1.0, 7.0, -3.0]]).T  # (5 agents, 1 action)
    np.testing.assert_allclose(scale_actions(values, (-2.0,), (2.0,))[:, 0], [-2, 0, 2, 2, -2])
    np.testing.assert_allclose(scale_actions(values, (0.0,), (10.0,))[:, 0], [0, 5, 10, 10, 0])
    two = scale_actions(jnp.array([[0.5, -0.5]]), (-1.0, 0.0), (1.0, 4.0))  # per-dimension bounds
    np.testing.assert_allclose(two, [[0.5, 1.0]])
    pend = make_env("Pendulum-v1")
    assert pend.continuous and pend.n_actions == 1 and (pend.action_low, pend.action_high) == ((-2.0,), (2.0,))
    np.testing.assert_allclose(env_actions(pend, jnp.array([[0.25], [-9.0]])), [[0.5], [-2.0]])
    cart = make_env("CartPole-v1")
    assert not cart.continuous
    np.testing.assert_array_equal(env_actions(cart, jnp.array([[0.1, 0.3], [0.2, -0.1]])), [1, 0])


@pytest.mark.parametrize("plasticity", ["neuron", "synapse"])
def test_continuous_sfnn_feeds_back_action_values_fast_equals_reference(plasticity):
    """Output neurons hear the previous action values (not a one-hot), in both implementations."""
    spec = SFNNSpec(Topology(3, 3, 2), channels=2, plasticity=plasticity, continuous=True)
    p = 4
    ref, fast, ref_step, fast_step = fast_and_reference(spec, p, 2)
    for t in range(3):
        obs = jax.random.normal(jax.random.key(10 + t), (p, 3))
        r = jnp.full((p,), 0.5)
        out_ref, ref = ref_step(ref, obs, r)
        out_fast, fast = fast_step(fast, obs.T, r)
        np.testing.assert_allclose(out_fast.T, out_ref, rtol=2e-5, atol=2e-6)
        np.testing.assert_array_equal(ref.prev_action, out_ref)  # the values themselves
        assert np.all(np.abs(out_ref) < 1.0)  # tanh outputs: actions in (-1, 1) without a second tanh
    np.testing.assert_allclose(to_population_first(fast.prev_action), ref.prev_action, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("kind", baselines.BASELINES)
def test_baselines_give_bounded_continuous_outputs(kind):
    spec = baselines.BaselineSpec(kind, n_in=3, n_out=2, init_scale=1.0)
    params = jax.tree.map(lambda x: 10.0 * x, baselines.init_params(jax.random.key(0), spec))  # large outputs
    state = baselines.init_state(jax.random.key(1), spec)
    out, new = baselines.step(params, spec, state, jnp.ones(3), jnp.float32(0.0), jnp.bool_(False), 1, True, True)
    assert np.all(np.abs(np.asarray(out)) <= 1.0)
    if kind == "rnn":  # remembers the value of the one valid action, zero for the unused output
        np.testing.assert_allclose(new["prev_action"], [out[0], 0.0])


def test_running_observation_statistics():
    obs = np.random.default_rng(0).normal(3.0, 2.0, (50, 2, 3)).astype(np.float32)  # steps, agents, dims
    stats = ObsStats(jnp.zeros(2), jnp.zeros((2, 3)), jnp.zeros((2, 3)))
    for o in obs:
        stats = update_obs_stats(stats, jnp.asarray(o))
    np.testing.assert_allclose(stats.mean, obs.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.m2 / stats.count[:, None], obs.var(0), rtol=1e-4)
    cfg = load_config(BRAX_IP, [*SMALL, "lifetime.obs_norm=running"])
    pipe = ObsPipeline(cfg.lifetime, make_env("Pendulum-v1"))
    state = pipe.init("net", 2, 3)  # a new lifetime starts with no statistics
    assert state.net == "net" and float(jnp.sum(state.obs.count)) == 0.0
    _, first, _ = pipe(state, jnp.asarray(obs[0]))
    np.testing.assert_array_equal(first, 0.0)  # the first observation is its own mean
    fixed = ObsPipeline(load_config(BRAX_IP, [*SMALL, "lifetime.obs_norm=fixed"]).lifetime, make_env("Pendulum-v1"))
    assert fixed.mean.shape == (3,) and np.all(np.isfinite(fixed.var)) and np.all(fixed.var > 0)  # from random play
    _, normed, _ = fixed("net", jnp.asarray(100.0 * obs[0]))
    assert np.all(np.abs(normed) <= 5.0)  # clipped


def test_brax_lifetime_of_two_episodes_keeps_the_plastic_state():
    cfg = load_config(BRAX_IP, SMALL)
    env = make_env("brax/inverted_pendulum", 8)
    assert (env.obs_size, env.n_actions) == BRAX_SIZES["inverted_pendulum"] and env.continuous
    assert env.return_range == (0.0, 8.0)
    b, steps = 3, 2 * 8
    genomes = jax.vmap(lambda k: genome_template(cfg, k))(jax.random.split(jax.random.key(0), b))
    policy = make_policy(cfg, env, genomes)

    def recording(state, obs, reward, terminated):  # the SFNN, plus a log of what it saw
        net, t, seen = state
        action, net = policy.step(net, obs, reward, terminated)
        return action, (net, t + 1, seen.at[:, t].set(obs))

    init = (policy.init(jax.random.split(jax.random.key(1), b)), 0, jnp.zeros((b, steps, env.obs_size)))
    run = jax.jit(lambda s, k: run_lifetimes(env, recording, s, k, 2), compiler_options=QUICK_COMPILE)
    res = run(init, jax.random.split(jax.random.key(2), b))
    net, t, seen = res.final_agent_state
    lengths = np.asarray(res.lengths)
    assert int(t) == steps  # the agent's state was carried through every step of both episodes
    assert np.all(lengths >= 1) and np.all(lengths <= 8) and np.all(np.isfinite(res.returns))
    np.testing.assert_allclose(res.returns, lengths)  # +1 per step
    for i in range(b):  # episode 2 restarts from the lifetime's first initial state (reset=first)
        np.testing.assert_array_equal(seen[i, lengths[i, 0]], seen[i, 0])
    start = init[0].plastic
    moved = [float(jnp.max(jnp.abs(a - s))) for a, s in zip(jax.tree.leaves(net.plastic), jax.tree.leaves(start))]
    assert max(moved) > 0 and all(np.isfinite(moved))


@pytest.mark.parametrize("env_name, extra", [
    ("brax/inverted_pendulum", []),
    ("Pendulum-v1", ["lifetime.obs_norm=running", "model.plasticity=synapse"]),
])  # fmt: skip
def test_two_generations_give_finite_fitness(env_name, extra, monkeypatch):
    monkeypatch.setattr("agents.trainer.EVAL_COMPILER_OPTIONS", QUICK_COMPILE)
    cfg = load_config(BRAX_IP, [*SMALL, f"envs=[{env_name}]", *extra])
    trainer = Trainer.build(cfg)
    state = trainer.init_state()
    for gen in range(2):
        state, m = trainer.generation(state, jnp.int32(gen))
        assert np.isfinite(float(m["best_fitness"])) and int(m["nonfinite"]) == 0
        assert np.all(np.isfinite(np.asarray(m[f"episode_returns/{env_name}"])))


def test_unknown_brax_names_and_backends(cli):
    with pytest.raises(ConfigError, match="unknown brax backend 'sprng' for brax/hopper: did you mean spring"):
        load_config(BRAX_IP, ["envs=[brax/hopper:backend=sprng]"])
    with pytest.raises(ConfigError, match="not a variant of brax/hopper"):
        load_config(BRAX_IP, ["envs=[brax/hopper:wings=2]"])
    for bad, hint in [("brax/hoper", "did you mean brax/hopper"), ("brax/ant:backend=warp", "unknown brax backend")]:
        r = cli("train", BRAX_IP, f"envs=[{bad}]", "log.wandb=disabled", "--out", "/nonexistent/never-created")
        assert r.returncode == 2 and hint in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_envs_lists_brax_and_continuous_environments(cli):
    r = cli("envs")
    assert r.returncode == 0
    rows = {line.split()[0]: line.split()[1:4] for line in r.stdout.splitlines() if line.strip()}
    assert rows["brax/hopper"] == ["11", "3", "continuous"]
    assert rows["brax/inverted_pendulum"][:2] == ["4", "1"]
    assert rows["Pendulum-v1"] == ["3", "1", "continuous"] and rows["CartPole-v1"] == ["4", "2", "discrete"]


@pytest.mark.slow
def test_brax_size_table_matches_the_environments():
    from envs.brax_env import _clip_takes_a_min

    for short, sizes in BRAX_SIZES.items():
        if short == "swimmer" and not _clip_takes_a_min():
            continue  # refused with this JAX: the test below
        env = make_env(f"brax/{short}", 10)
        assert (env.obs_size, env.n_actions) == sizes, short


def test_a_brax_model_this_jax_cannot_step_is_refused_in_one_line(cli):
    """brax/swimmer's fluid forces call jnp.clip(a_min=...), which JAX 0.10 removed: refused where
    it is built (a config error before a run exists, a refused cell in a sweep), not a traceback
    from inside its first physics step."""
    from envs.brax_env import _clip_takes_a_min

    if _clip_takes_a_min():
        assert make_env("brax/swimmer", 5).obs_size == BRAX_SIZES["swimmer"][0]
        return
    with pytest.raises(ConfigError, match="cannot run with this JAX"):
        load_config(BRAX_IP, ["envs=[brax/swimmer]"])
    r = cli("meta-test", "pretrained/multi_env", "--env", "brax/swimmer", "--lifetimes", "1", "--max-steps", "3",
            "--out", "/nonexistent/never-written.json")
    assert r.returncode == 2 and "cannot run with this JAX" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_render_writes_html_and_gif_of_one_lifetime(tmp_path, monkeypatch):
    """The rollout that `sfnn render` and the end of a brax run write (agents.rl.render)."""
    from agents.rl import render
    from agents.config import save_config
    from agents.rundir import save_genomes
    from agents.trainer import template_genome

    monkeypatch.setattr(render, "GIF_FRAMES", 10)
    cfg = load_config(BRAX_IP, [*SMALL, "lifetime.episodes=2", "lifetime.max_steps=20"])
    save_config(cfg, tmp_path / "config.yaml")
    save_genomes(tmp_path / "genomes.npz", {"best": template_genome(cfg, jax.random.key(0))})
    out = render.render_run(tmp_path)
    assert len(out["episode_returns"]) == 2 and all(0 < r <= 20 for r in out["episode_returns"])
    assert len(out["episode_travel_m"]) == 2 and all(abs(d) < 5 for d in out["episode_travel_m"])
    assert Path(out["gif"]).read_bytes()[:4] == b"GIF8"
    assert "<html" in Path(out["html"]).read_text().lower()
    with pytest.raises(ConfigError, match="rendering needs a brax environment"):
        render.render_run(tmp_path, "CartPole-v1")


def test_episode_travel_runs_from_each_reset_to_the_last_state_before_the_next():
    from agents.rl.render import episode_travel

    # episode 1: 0.1 -> 0.9, ends at index 4 (reset to 0.0); episode 2: 0.0 -> 2.5, ends at index 8
    x = np.array([0.1, 0.4, 0.7, 0.9, 0.0, 1.0, 2.0, 2.5, 0.0, 0.3])
    dones = np.array([0, 0, 0, 0, 1, 0, 0, 0, 1, 0], bool)
    assert episode_travel(x, dones) == [0.8, 2.5]


def test_brax_nan_action_ends_the_episode_without_reward():
    """A diverged network (NaN action) must not 'balance' the pendulum: brax's |angle| > 0.2 check
    is False on NaN, so without the adapter's check the episode would never end and earn +1 a step."""
    env = make_env("brax/inverted_pendulum", 50)
    nan_policy = lambda s, obs, r, term: (jnp.full((obs.shape[0], 1), jnp.nan), s)  # noqa: E731
    res = jax.jit(lambda k: run_lifetimes(env, nan_policy, jnp.zeros(2), k, 2), compiler_options=QUICK_COMPILE)(
        jax.random.split(jax.random.key(0), 2))
    np.testing.assert_array_equal(res.lengths, 1)  # each episode ends at its first (diverged) step
    np.testing.assert_array_equal(res.returns, 0.0)

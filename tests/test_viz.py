"""agents.rl.viz: lifetime traces record the lifetime that training lives, and figures reach run directories."""

import json

import jax
import numpy as np
import pytest

from agents.rl import viz
from agents.config import load_config
from agents.rl.policy import genome_template, make_policy, sfnn_spec
from conftest import ROOT, TINY
from envs.lifetime import run_lifetimes
from envs.registry import make_env

SMALL = ["lifetime.episodes=3", "lifetime.max_steps=40", "lifetime.terminal_reward=-1", "model.plastic_lr=0.2"]


def small_cfg(*extra: str):
    return load_config(ROOT / "configs" / "cartpole.yaml", [*SMALL, *extra])


def test_trace_records_the_lifetime_training_lives_and_its_changes():
    cfg = small_cfg()
    genome = genome_template(cfg, jax.random.key(4))
    keys = jax.random.split(jax.random.key(7), 3)
    traces = viz.trace_lifetimes(cfg, "CartPole-v1", genome, keys)
    # the recording wrapper must not change what happens: the plain lifetime gives the same returns
    env = make_env("CartPole-v1", cfg.lifetime.max_steps)
    policy = make_policy(cfg, env, jax.tree.map(lambda x: np.repeat(np.asarray(x)[None], 3, 0), genome))
    k_wire, k_env = jax.vmap(jax.random.split, out_axes=1)(keys)
    plain = run_lifetimes(env, policy.step, policy.init(k_wire), k_env, cfg.lifetime.episodes)
    np.testing.assert_array_equal(np.stack([t.returns for t in traces]), np.asarray(plain.returns))
    for t in traces:
        steps = int(t.lengths.sum())
        assert t.change.shape == t.reward.shape == t.terminated.shape == (steps,)
        assert set(t.rows) == {"i", "h", "o"} and t.rows["h"].shape[1:] == (32 - 4 - 2, 4)
        assert len(t.frame_steps) == steps  # neuron state is small: one frame per step
        # each step's recorded change is the distance between consecutive frames
        flat = np.concatenate([v.reshape(steps, -1) for v in t.rows.values()], 1)
        np.testing.assert_allclose(np.linalg.norm(np.diff(flat, axis=0), axis=1), t.change[1:], rtol=1e-4, atol=1e-6)
        assert (t.change > 0).all()
        # the network is told -1 on the step after each termination (lifetime.terminal_reward)
        np.testing.assert_array_equal(t.reward[t.terminated], -1.0)
        assert t.reward[0] == 0.0  # nothing has happened yet at the first step
        np.testing.assert_array_equal(t.reward[1:][~t.terminated[1:]], 1.0)
        assert t.terminated.sum() >= len(t.lengths) - 1


def test_frozen_trace_lives_the_same_wiring_without_change():
    cfg = small_cfg()
    genome = genome_template(cfg, jax.random.key(4))
    key = jax.random.key(7)[None]
    learned, frozen = (viz.trace_lifetimes(cfg, "CartPole-v1", genome, key, learn=b)[0] for b in (True, False))
    for block in learned.masks:
        np.testing.assert_array_equal(learned.masks[block], frozen.masks[block])
    assert (frozen.change == 0).all()
    assert all((v == v[0]).all() for v in frozen.rows.values())


def test_synapse_trace_keeps_existing_edges_and_fits_its_budget(tmp_path):
    cfg = small_cfg("model.plasticity=synapse")
    genome = genome_template(cfg, jax.random.key(1))
    (t,) = viz.trace_lifetimes(cfg, "CartPole-v1", genome, jax.random.key(2)[None], max_values=20_000)
    assert set(t.rows) == {"ih", "hh", "ho", "oh"}
    for block, v in t.rows.items():
        assert v.shape[1] == int(t.masks[block].sum())  # one row per sampled edge
    assert 1 < len(t.frame_steps) < int(t.lengths.sum())  # the budget forces a coarser frame rate
    assert t.frame_steps[-1] == int(t.lengths.sum()) - 1
    png = viz.plastic_heatmap(t, tmp_path / "syn.png")
    assert png.stat().st_size > 10_000


def test_wiring_graph_draws_sampled_wirings(tmp_path):
    import matplotlib.image

    cfg = small_cfg()
    spec = sfnn_spec(cfg, make_env("CartPole-v1"))
    w1, w2 = viz.sample_wirings(spec, [jax.random.key(0), jax.random.key(1)])
    assert set(w1) == {"ih", "hh", "ho", "oh"} and w1["ih"].shape == (4, 26)
    assert any((w1[b] != w2[b]).any() for b in w1)  # two keys, two wirings
    png = viz.wiring_graph([w1, w2], spec.topo, tmp_path / "w.png")
    height, width, _ = matplotlib.image.imread(png).shape
    assert width > 1.5 * height  # two panels side by side


def test_sfnn_train_saves_figures_and_lists_them(tmp_path, cli):
    out = tmp_path / "run"
    r = cli("train", "configs/cartpole.yaml", *TINY, "log.figures=true", "--out", str(out))
    assert r.returncode == 0, r.stderr
    plots = json.loads((out / "summary.json").read_text())["plots"]  # the dict finish logs to wandb
    for name in ("wiring", "plastic_CartPole-v1"):
        assert (out / plots[name].split("/")[-1]).stat().st_size > 10_000, name
    assert "plot: " + str(out / "wiring.png") in r.stdout


def test_a_failing_figure_only_warns(tmp_path, monkeypatch, capsys):
    from agents.rl import finish

    def broken(*args, **kwargs):
        raise RuntimeError("no display\nsecond line")

    monkeypatch.setattr(viz, "run_figures", broken)
    cfg = small_cfg("log.figures=true")
    assert finish._sfnn_figures(cfg, genome_template(cfg), tmp_path) == {}
    err = capsys.readouterr().err
    assert "figures not drawn" in err and "no display" in err and "second line" not in err
    assert finish._sfnn_figures(small_cfg("log.figures=false"), genome_template(cfg), tmp_path) == {}


def test_trace_refuses_other_learners():
    cfg = small_cfg("model.kind=mlp")
    with pytest.raises(ValueError, match="SFNN runs only"):
        viz.trace_lifetimes(cfg, "CartPole-v1", genome_template(cfg), jax.random.key(0)[None])


def test_fixed_wiring_run_is_traced_on_the_wiring_training_used():
    """A lifetime.wiring=fixed run's figures (and rendering) use ``own_wiring_key``: it must be the
    wiring key that training's ``lifetime_keys`` gives every member of that environment."""
    import jax.numpy as jnp

    from agents.rl.evaluate import lifetime_keys, own_wiring_key
    from sfnn import init_state

    cfg = small_cfg("lifetime.wiring=fixed")
    env_key = jax.random.fold_in(jax.random.key(cfg.seed), 0)  # environment 0, as population_fitness folds it
    trained, _ = lifetime_keys(cfg, env_key, jax.random.key(5), jnp.int32(3))
    trace = viz.trace_lifetimes(cfg, "CartPole-v1", genome_template(cfg, jax.random.key(0)), jax.random.key(1)[None],
                                wiring_keys=own_wiring_key(cfg, 0)[None])[0]  # fmt: skip
    expected = init_state(trained[0], sfnn_spec(cfg, make_env("CartPole-v1", 40))).masks
    for block, mask in expected.items():
        np.testing.assert_array_equal(trace.masks[block], np.asarray(mask))


def test_bench_sweep_plot_takes_settings_that_are_not_numbers(tmp_path):
    """``sfnn bench --sweep model.plastic_rescale=false,true`` (or a strategy's name) plots one tick
    per value instead of failing to read them as numbers; numeric sweeps keep their numeric axis."""
    from agents.plots import bench_scaling

    row = {"agent_steps_per_s": 1.0e5, "peak_rss_mb": 800.0, "device_peak_mb": None}
    rows = [{**row, "value": "false"}, {**row, "value": "true", "agent_steps_per_s": 0.95e5}, {"value": "x", "error": "oom"}]
    assert bench_scaling(rows, "model.plastic_rescale", tmp_path / "b.png").stat().st_size > 0
    assert bench_scaling([{**row, "value": "16"}, {**row, "value": "256"}], "strategy.population", tmp_path / "n.png").is_file()

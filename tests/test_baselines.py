"""Baselines (mlp, hebbian, rnn), multi-environment fitness, estimated return ranges, meta-test --compare."""

import gzip
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY, run_main

from agents.config import ConfigError, load_config
from agents.rl.evaluate import env_tasks
from agents.fitness import combine_envs, lifetime_fitness
from agents.rl.policy import baseline_spec, genome_template, make_policy
from agents.trainer import Trainer
from envs.lifetime import run_lifetimes
from envs.registry import estimate_return_range, make_env
from sfnn import baselines

CARTPOLE = "configs/cartpole.yaml"


def cfg_for(kind, *extra):
    return load_config(CARTPOLE, [f"model.kind={kind}", *TINY, *extra])


def test_hebbian_rule_by_hand():
    w = jnp.array([[0.1, -0.2]])
    abcd = jnp.array([[[1.0, 2.0, 3.0, 4.0, 0.5], [0.0, 0.0, 0.0, 1.0, 0.1]]])
    pre, post = jnp.array([0.5]), jnp.array([0.2, -1.0])
    new = baselines.hebbian_update(w, abcd, pre, post)
    # Δw = η (A o_i o_j + B o_i + C o_j + D)
    want = [0.1 + 0.5 * (1 * 0.5 * 0.2 + 2 * 0.5 + 3 * 0.2 + 4), -0.2 + 0.1 * 1.0]
    np.testing.assert_allclose(new[0], want, rtol=1e-6)


@pytest.mark.parametrize("kind", baselines.BASELINES)
def test_learning_switch(kind):
    """learn=True changes what should change within a lifetime; learn=False keeps it fixed."""
    spec = baselines.BaselineSpec(kind, n_in=4, n_out=2)
    params = baselines.init_params(jax.random.key(1), spec)
    state = baselines.init_state(jax.random.key(2), spec)
    obs, r, t = jnp.ones(4), jnp.float32(1.0), jnp.bool_(False)
    outs = {}
    for learn in (True, False):
        s = state
        outs[learn] = []
        for _ in range(3):
            out, s = baselines.step(params, spec, s, obs, r, t, 2, learn)
            outs[learn].append(out)
        if kind == "hebbian":
            same = all(np.array_equal(a, b) for a, b in zip(s["w"], state["w"]))
            assert same != learn  # weights move only when learning
    if kind == "rnn":  # with memory, the same input gives different outputs over time; without, identical
        assert not np.allclose(outs[True][0], outs[True][2])
        np.testing.assert_allclose(outs[False][1], outs[False][2], rtol=1e-6)
    if kind == "mlp":
        np.testing.assert_array_equal(outs[True][2], outs[False][2])


def test_rnn_memory_survives_episode_ends():
    """The GRU's hidden state is not reset when an episode ends within a lifetime."""
    cfg = cfg_for("rnn", "lifetime.episodes=3", "lifetime.max_steps=5")
    env = make_env("CartPole-v1", 5)
    genomes = jax.vmap(lambda k: genome_template(cfg, k))(jax.random.split(jax.random.key(0), 2))
    policy = make_policy(cfg, env, genomes)
    res = run_lifetimes(env, policy.step, policy.init(jax.random.split(jax.random.key(1), 2)),
                        jax.random.split(jax.random.key(2), 2), 3)  # fmt: skip
    assert np.all(np.abs(np.asarray(res.final_agent_state["h"])) > 0)
    assert res.returns.shape == (2, 3)


@pytest.mark.parametrize("kind", baselines.BASELINES)
def test_baseline_trains_with_the_shared_trainer(kind):
    cfg = cfg_for(kind)
    trainer = Trainer.build(cfg)
    state = trainer.init_state()
    for gen in range(2):
        state, m = trainer.generation(state, jnp.int32(gen))
        assert np.isfinite(float(m["best_fitness"])) and int(m["nonfinite"]) == 0
    n_in, n_out, h = 4, 2, cfg.model.hidden[0]
    expected = {"mlp": n_in * h + h + h * n_out + n_out, "hebbian": 5 * (n_in * h + h * n_out),
                "rnn": (n_in + 2 + n_out) * 3 * h + h * 3 * h + 3 * h + h * n_out + n_out}[kind]  # fmt: skip
    assert trainer.num_params == expected


def test_baseline_io_is_the_largest_env_and_padding_works():
    cfg = load_config(CARTPOLE, ["model.kind=mlp", "envs=[CartPole-v1,Acrobot-v1]", "fitness.combine=mean", *TINY])
    spec = baseline_spec(cfg)
    assert (spec.n_in, spec.n_out) == (6, 3)
    trainer = Trainer.build(cfg)
    state, m = trainer.generation(trainer.init_state(), jnp.int32(0))
    assert np.isfinite(float(m["best_fitness"]))
    assert set(k for k in m if k.startswith("return/")) == {"return/CartPole-v1", "return/Acrobot-v1"}


def test_genome_too_small_for_an_env_is_a_clear_error():
    cfg = cfg_for("mlp")
    cfg.model.inputs, cfg.model.outputs = 4, 2
    genomes = jax.vmap(lambda k: genome_template(cfg, k))(jax.random.split(jax.random.key(0), 2))
    with pytest.raises(ValueError, match="4 inputs and 2 outputs, too few for Acrobot-v1"):
        make_policy(cfg, make_env("Acrobot-v1"), genomes)


def test_multi_env_fitness_by_hand():
    """Normalised improvement-weighted fitness per env, then the product or mean across envs."""
    cart = jnp.array([[8.0, 254.0, 500.0]])  # normalised 0, 0.5, 1 with weights 0, 1/3, 2/3
    acro = jnp.array([[-500.0, -290.0, -80.0]])  # normalised 0, 0.5, 1
    f_cart = lifetime_fitness(cart, "normalized_weighted", (8.0, 500.0))
    f_acro = lifetime_fitness(acro, "normalized_weighted", (-500.0, -80.0))
    np.testing.assert_allclose([f_cart[0], f_acro[0]], [0.5 / 3 + 2 / 3] * 2, rtol=1e-6)
    per_env = jnp.array([[0.5, 0.8]])
    assert float(combine_envs(per_env, "product")[0]) == pytest.approx(0.4)
    assert float(combine_envs(per_env, "mean")[0]) == pytest.approx(0.65)


def test_return_range_is_estimated_when_unknown():
    env = make_env("DeepSea-bsuite")
    low, high = estimate_return_range(env)
    assert np.isfinite(low) and high > low
    cfg = load_config(None, ["envs=[DeepSea-bsuite]", "model.plasticity=neuron", "model.neurons=80", *TINY])
    (task,) = env_tasks(cfg)
    assert task.range_source == "estimated" and task.return_range == (low, high)
    cfg = load_config(None, ["envs=[DeepSea-bsuite]", "model.neurons=80", "fitness.ranges={DeepSea-bsuite: [0, 1]}", *TINY])
    assert env_tasks(cfg)[0].range_source == "config"


def test_bad_hidden_sizes_are_refused():
    with pytest.raises(ConfigError, match="model.hidden"):
        cfg_for("mlp", "model.hidden=[0]")


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("runs") / "mlp"
    r = run_cli("train", CARTPOLE, "model.kind=mlp", *TINY, "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_baseline_run_saves_its_sizes_and_meta_tests_with_compare(baseline_run, tmp_path, cli):
    """A baseline run records its input/output sizes; --compare evaluates it beside another run,
    and an environment it is too small for is reported as skipped, not a crash."""
    assert "inputs: 4" in (baseline_run / "config.yaml").read_text()
    other = tmp_path / "hebb"
    r = cli("train", CARTPOLE, "model.kind=hebbian", *TINY, "--out", str(other))
    assert r.returncode == 0, r.stderr
    dest = tmp_path / "mt.json"
    r = cli("meta-test", str(other), "--env", "CartPole-v1:gravity=12", "--env", "Acrobot-v1",
            "--lifetimes", "2", "--compare", str(baseline_run), "--out", str(dest))  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(dest.read_text())
    assert doc["model"] == "hebbian"
    cart, acro = doc["results"]["CartPole-v1:gravity=12"], doc["results"]["Acrobot-v1"]
    assert set(cart["agents"]) == {"evolved", "frozen", "random", "mlp (mlp)"}
    assert "mlp (mlp)" in acro["skipped"] and "too few for Acrobot-v1" in acro["skipped"]["mlp (mlp)"]
    assert "evolved" not in acro["agents"]  # the hebbian genome (4 in, 2 out) cannot act there either
    assert "skipped" in r.stdout


def test_compare_plots_several_runs(baseline_run, tmp_path, cli):
    png = tmp_path / "cmp.png"
    # the first call through a fresh `sfnn` process, the rest in this one (no compile, the same code)
    r = cli("compare", str(baseline_run), str(baseline_run), "--out", str(png), "--x", "wall_s")
    assert r.returncode == 0, r.stderr
    assert png.stat().st_size > 1000
    r = run_main("compare", str(tmp_path), "--out", str(png))
    assert r.returncode == 2 and "not a run directory" in r.stderr and "Traceback" not in r.stderr
    recorded = tmp_path / "recorded"  # a result as committed: config.yaml and metrics.jsonl.gz
    recorded.mkdir()
    shutil.copy(baseline_run / "config.yaml", recorded)
    (recorded / "metrics.jsonl.gz").write_bytes(gzip.compress((baseline_run / "metrics.jsonl").read_bytes()))
    r = run_main("compare", str(baseline_run), str(recorded), "--out", str(png))
    assert r.returncode == 0 and "plot:" in r.stdout, r.stderr
    (recorded / "metrics.jsonl.gz").write_bytes(b"not gzip")
    r = run_main("compare", str(recorded), "--out", str(png))
    assert r.returncode == 2 and "cannot be read" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = run_main("compare", str(baseline_run), "--out", str(png), "--generations", "2", "--smooth", "3")
    assert r.returncode == 0, r.stderr
    r = run_main("compare", str(baseline_run), "--out", str(png), "--smooth", "0")
    assert r.returncode == 2 and "--smooth 0: must be at least 1" in r.stderr
    r = run_main("compare", str(baseline_run), "--out", str(png), "--episodes", "3-2")
    assert r.returncode == 2 and "--episodes 3-2: expected FIRST-LAST" in r.stderr
    r = run_main("compare", str(baseline_run), str(recorded), "--out", str(png), "--blocks", "0")
    assert r.returncode == 2 and "--blocks 0: must be at least 1" in r.stderr
    generations = len((baseline_run / "metrics.jsonl").read_text().splitlines())
    r = run_main("compare", str(baseline_run), "--out", str(png), "--blocks", str(generations + 1))
    assert r.returncode == 2 and f"no run has a whole block of {generations + 1} generations" in r.stderr
    (recorded / "metrics.jsonl.gz").write_bytes(gzip.compress((baseline_run / "metrics.jsonl").read_bytes()))
    r = run_main("compare", str(baseline_run), str(recorded), "--out", str(png), "--blocks", "1")
    assert r.returncode == 0 and "blocks of 1 generations" in r.stdout, r.stderr
    assert r.stdout.count("[+0.0]") == generations, r.stdout  # the same curve twice: no difference
    r = run_main("compare", str(baseline_run), str(recorded), "--out", str(png), "--metric", "search_std", "--log")
    assert r.returncode == 0 and "plot:" in r.stdout, r.stderr  # the ES's step size, one panel
    r = run_main("compare", str(baseline_run), "--out", str(png), "--metric", "sigma")
    assert r.returncode == 2 and "no 'sigma' in its metrics" in r.stderr and "search_std" in r.stderr, r.stderr
    r = run_main("compare", str(baseline_run), "--out", str(png), "--log")
    assert r.returncode == 2 and "--log applies to --metric only" in r.stderr
    r = run_main("compare", str(baseline_run), "--out", str(png), "--metric", "search_std", "--blocks", "1")
    assert r.returncode == 2 and "apply to the returns" in r.stderr


def test_block_table_gives_block_means_and_paired_differences_to_the_first_run():
    """The ablation tables compare runs in blocks of generations, with each run's difference to
    the control taken generation by generation; checked against numpy on made-up curves."""
    from agents.plots import block_table

    rng = np.random.default_rng(0)
    ref_y, a_y = rng.normal(-150, 10, 7), rng.normal(-140, 10, 9)

    def rows(ys, env="Acrobot-v1", skip=()):
        return [{"generation": g, f"return/{env}": float(y)} for g, y in enumerate(ys) if g not in skip]

    table = block_table({"control": rows(ref_y, skip={5}), "lever": rows(a_y), "other env": rows(a_y, "CartPole-v1")}, 3)
    acro_head, acro, cart_head, cart = table.split("\n\n")  # a heading and a table per environment
    assert acro_head == "Acrobot-v1: population mean return, blocks of 3 generations [difference to control]"
    lines = acro.splitlines()
    assert lines[0] == "| run | 0–2 | 3–5 | 6–8 |"
    control, lever = (line.split(" | ") for line in lines[2:4])
    assert control[1:3] == [f"{ref_y[:3].mean():.1f}", ""]  # generation 5 missing: no block 3-5
    assert control[3] == " |"  # 7 generations: no whole block 6-8
    assert lever[1] == f"{a_y[:3].mean():.1f} [{(a_y[:3] - ref_y[:3]).mean():+.1f}]"
    assert lever[2] == f"{a_y[3:6].mean():.1f}"  # no difference where the control misses a generation
    assert lever[3] == f"{a_y[6:9].mean():.1f} |"
    assert cart_head.startswith("CartPole-v1:") and "[" not in cart  # alone on its panel: nothing to differ from
    with pytest.raises(ValueError, match="no run has a whole block of 10"):
        block_table({"control": rows(ref_y)}, 10)


def test_compare_draws_a_scaled_variant_on_its_environments_panel():
    """``MountainCar-v0:obs_norm=fixed`` plays MountainCar-v0 (only the agent's inputs are scaled),
    so a run with it is compared with a raw-input run on one panel; a permuted variant is another
    task and keeps its own."""
    from agents.plots import compare_panels
    from envs.adapter import task_name

    assert task_name("MountainCar-v0:obs_norm=fixed") == "MountainCar-v0"
    assert task_name("CartPole-v1:gravity=12,obs_norm=fixed") == "CartPole-v1:gravity=12"
    assert task_name("CartPole-v1:perm=3") == "CartPole-v1:perm=3"
    raw = [{"return/CartPole-v1": 1.0, "return/MountainCar-v0": -200.0}]
    scaled = [{"return/CartPole-v1": 2.0, "return/MountainCar-v0:obs_norm=fixed": -190.0, "return/CartPole-v1:perm=3": 3.0}]
    assert compare_panels({"raw": raw, "scaled": scaled}) == {
        "CartPole-v1": [("raw", "CartPole-v1"), ("scaled", "CartPole-v1")],
        "CartPole-v1:perm=3": [("scaled", "CartPole-v1:perm=3")],
        "MountainCar-v0": [("raw", "MountainCar-v0"), ("scaled", "MountainCar-v0:obs_norm=fixed")],
    }


def test_compare_averages_only_the_episodes_asked_for(tmp_path):
    """The tables quote late windows (4-8); the plot must be able to show the same figure."""
    from agents.plots import _episode_mean, compare_runs

    row = {"generation": 0, "wall_s": 1.0, "return/Acrobot-v1": -300.0,
           "episode_returns/Acrobot-v1": [-500.0, -400.0, -300.0, -200.0, -100.0]}  # fmt: skip
    assert _episode_mean(row, "Acrobot-v1", None, "run") == -300.0
    assert _episode_mean(row, "Acrobot-v1", (4, 5), "run") == -150.0
    assert _episode_mean(row, "Acrobot-v1", (1, 1), "run") == -500.0
    with pytest.raises(ValueError, match="5 episodes per lifetime; cannot average episodes 4-8"):
        compare_runs({"run": [row]}, tmp_path / "c.png", episodes=(4, 8))
    assert compare_runs({"run": [row, {**row, "generation": 1}]}, tmp_path / "c.png", episodes=(2, 5)).exists()


def test_running_mean_averages_the_window_before_each_point():
    from agents.plots import running_mean

    assert running_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert running_mean([1.0, 3.0, 5.0], 1) == [1.0, 3.0, 5.0]
    assert running_mean([2.0, 4.0], 5) == [2.0, 3.0]

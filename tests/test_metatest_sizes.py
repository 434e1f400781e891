"""Meta-test anywhere: an SFNN genome meets each environment in a network and lifetime made for it."""

import json
from pathlib import Path

import numpy as np

from agents.metatest import meta_test
from agents.rl.metatest import env_config, run_hidden_neurons
from agents.rundir import load_run_config

MULTI = Path("pretrained/multi_env")  # neuron placement, 32 neurons in all, trained on CartPole, Acrobot, MountainCar


def test_a_network_sized_to_each_environment():
    cfg = load_run_config(MULTI)
    assert run_hidden_neurons(cfg) == 23  # Acrobot: 32 - 6 inputs - 3 outputs
    ecfg, info = env_config(cfg, "CartPole-v1", None, None, 4)  # a training env keeps the run's network
    assert ecfg.model.neurons == 32 and info == {"max_steps": 500, "network": {"inputs": 4, "hidden": 26, "outputs": 2,
                                                                                   "connect_prob": 0.5}}
    ecfg, info = env_config(cfg, "Breakout-MinAtar", None, None, 4)  # 400 inputs: training's hidden count beside them
    assert info["network"] == {"inputs": 400, "hidden": 23, "outputs": 3, "connect_prob": 0.5}
    assert ecfg.model.neurons == 426
    assert info["max_steps"] == 1000  # the environment's own cap, not a training env's
    _, info = env_config(cfg, "Catch-bsuite", 5, 7, 4)  # both overridden
    assert info == {"max_steps": 7, "network": {"inputs": 50, "hidden": 5, "outputs": 3, "connect_prob": 0.5}}
    cfg.model.kind = "mlp"  # baselines keep their network; only the cap is the environment's
    _, info = env_config(cfg, "Catch-bsuite", None, None, 4)
    assert info == {"max_steps": 1000}


def test_meta_test_on_environments_larger_than_the_training_network(tmp_path):
    """Breakout (400 inputs) with a genome trained in a 32-neuron network: curves for the evolved,
    frozen and random agents; a network too large for memory is refused in one line."""
    out = tmp_path / "mt.json"
    doc = meta_test(MULTI, ["Breakout-MinAtar"], lifetimes=2, out=out, max_steps=12)
    for env, n_in in (("Breakout-MinAtar", 400),):
        r = doc["results"][env]
        assert r["network"]["inputs"] == n_in and r["max_steps"] == 12 and not r["skipped"]
        assert set(r["agents"]) == {"evolved", "frozen", "random"}
        assert np.asarray(r["agents"]["evolved"]).shape == (2, 8) and Path(r["plot"]).is_file()
    assert json.loads(out.read_text())["results"]["Breakout-MinAtar"]["network"]["hidden"] == 23
    big = meta_test(MULTI, ["Freeway-MinAtar"], lifetimes=64, out=tmp_path / "big.json", hidden_neurons=3000, max_steps=2)
    why = big["results"]["Freeway-MinAtar"]["skipped"]["evolved"]
    assert "GiB" in why and "--hidden-neurons" in why and big["results"]["Freeway-MinAtar"]["agents"] == {}


def test_sweep_gives_a_result_or_a_refusal_for_every_pair(tmp_path, cli):
    """``sfnn sweep``: shipped genomes (both placements) on an environment larger than their
    training network and a continuous one, a few steps each; each cell a result or a one-line
    refusal, never a traceback (the whole registry: ``sfnn sweep pretrained/*``, docs/RESULTS.md)."""
    envs = ["DeepSea-bsuite", "PointRobot-misc"]
    args = [a for e in envs for a in ("--env", e)]
    r = cli("sweep", "pretrained/multi_env", "pretrained/authors_cartpole", *args, "--lifetimes", "1",
            "--max-steps", "3", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    rows = json.loads((tmp_path / "sweep.json").read_text())
    assert [(Path(x["run"]).name, x["env"]) for x in rows] == [(run, e) for run in ("multi_env", "authors_cartpole") for e in envs]
    for row in rows:
        assert ("late_mean" in row and set(row["late_mean"]) == {"evolved", "frozen", "random"}) or row.get("refused"), row
        assert row.get("max_steps", 3) == 3
    assert all("late_mean" in row for row in rows)  # the authors' discrete initial action does not stop PointRobot
    assert "| multi_env | DeepSea-bsuite | 64+23+2 | 3 |" in (tmp_path / "sweep.md").read_text()


def test_episode_mode_at_meta_test(tmp_path, capsys):
    """``--episode-mode`` and ``--episodes`` replace the run's: the authors' windows (every window as
    long as the cap, whatever happens) against episodes back to back (each ends where the pole falls)."""
    from agents.cli import main as sfnn_main

    run = Path("pretrained/authors_cartpole")  # evolved under windows
    docs = {}
    for mode in ("window", "consecutive"):
        out = tmp_path / f"{mode}.json"
        assert sfnn_main(["meta-test", str(run), "--env", "CartPole-v1", "--lifetimes", "2", "--max-steps", "60",
                          "--episode-mode", mode, "--out", str(out)]) == 0
        docs[mode] = json.loads(out.read_text())["results"]["CartPole-v1"]
        assert docs[mode]["episode_mode"] == mode
    assert docs["window"]["agents"]["evolved"] != docs["consecutive"]["agents"]["evolved"]
    out = tmp_path / "longer.json"
    assert sfnn_main(["meta-test", str(run), "--env", "CartPole-v1", "--lifetimes", "2", "--max-steps", "60",
                      "--episode-mode", "consecutive", "--episodes", "12", "--out", str(out)]) == 0
    longer = json.loads(out.read_text())["results"]["CartPole-v1"]
    assert np.asarray(longer["agents"]["frozen"]).shape == (2, 12) and longer["x"] == list(range(1, 13))
    # the first 8 episodes of a longer lifetime are the 8 of the shorter one: same wirings and seeds
    np.testing.assert_array_equal(np.asarray(longer["agents"]["frozen"])[:, :8], docs["consecutive"]["agents"]["frozen"])
    assert sfnn_main(["meta-test", str(run), "--env", "CartPole-v1", "--episode-mode", "sometimes"]) == 2
    assert "--episode-mode" in capsys.readouterr().err
    # the config's own bounds apply, and the error names the value given, not the run's config.yaml
    assert sfnn_main(["meta-test", str(run), "--env", "CartPole-v1", "--episodes", "0", "--out", str(tmp_path / "no.json")]) == 2
    err = capsys.readouterr().err
    assert "lifetime.episodes=0 must be at least 1" in err and "config.yaml" not in err


def test_learning_off_after_window_k_at_meta_test(tmp_path, capsys):
    """``--learn-windows K`` adds the genome with learning off after window K, on the evolved agent's
    own lifetimes: the same returns, bit for bit, through window K; then what the genome does with
    what it has learned. Outside windows, or K outside 1..episodes-1, it fails in one line."""
    from agents.cli import main as sfnn_main
    from agents.rl.metatest import learn_windows_agent

    run, out = Path("pretrained/cartpole_475"), tmp_path / "k.json"
    base = ["meta-test", str(run), "--env", "CartPole-v1", "--lifetimes", "3", "--max-steps", "60", "--episodes", "4"]
    assert sfnn_main([*base, "--learn-windows", "2", "--out", str(out)]) == 0
    agents = json.loads(out.read_text())["results"]["CartPole-v1"]["agents"]
    evolved, off = np.asarray(agents["evolved"]), np.asarray(agents[learn_windows_agent(2)])
    np.testing.assert_array_equal(off[:, :2], evolved[:, :2])
    assert off.shape == evolved.shape == (3, 4)
    assert learn_windows_agent(2) in capsys.readouterr().out
    for extra, why in ((["--learn-windows", "4"], "1 <= K < 4 episodes"), (["--learn-windows", "0"], "1 <= K < 4"),
                       (["--learn-windows", "2", "--episode-mode", "consecutive"], "needs windows")):
        assert sfnn_main([*base, *extra, "--out", str(tmp_path / "no.json")]) == 2
        err = capsys.readouterr().err
        assert why in err and "Traceback" not in err, err


def test_sweep_table_handles_short_and_diverged_lifetimes():
    """A 3-episode lifetime is averaged from its last episode (not an empty slice: nan), and a
    lifetime whose returns are not finite is left out of the mean and counted, never printed as nan."""
    from agents.sweep import late_means, markdown

    nan = float("nan")
    out = late_means({"evolved": [[1, 2, 3], [1, 2, nan]], "frozen": [[1, 1, 1], [2, 2, 2]], "random": [[nan] * 3] * 2}, 3)
    assert out["late_from_episode"] == 3
    assert out["late_mean"] == {"evolved": 3.0, "frozen": 1.5, "random": None}
    assert out["diverged"] == {"evolved": "1/2", "random": "2/2"}
    table = markdown([{"run": "runs/x", "env": "E", "max_steps": 9, **out}])
    assert "| x | E | — | 9 | 3– | 3 (1/2 lifetimes diverged) | 1.5 | diverged |" in table and "nan" not in table


def test_late_spread_shows_how_many_lifetimes_fail():
    """Two lifetimes at the floor and two at the top average to the middle; the quartiles show the split."""
    from agents.sweep import late_spread

    curves = [[-500] * 8, [-500] * 8, [-500, -500, -500, -80, -80, -80, -80, -80], [-90] * 8]
    first, mean, q = late_spread(curves)
    assert first == 4 and mean == -292.5
    assert q.tolist() == [-500.0, -295.0, -87.5]
    first, mean, q = late_spread([[1.0, 2.0], [3.0, float("nan")]])  # short lifetimes: the last episode; nan left out
    assert first == 2 and mean == 2.0 and q.tolist() == [2.0, 2.0, 2.0]


def test_meta_test_on_denser_wirings_is_the_run_evolved_at_that_density(tmp_path):
    """``--connect-prob P`` deploys the genome on wirings of edge probability P: the very lifetimes a
    copy of the run whose config says P gives (the genome does not depend on P); the JSON says P.
    A value outside (0, 1] and a run without an SFNN are refused in one line."""
    import shutil

    import pytest
    import yaml

    from agents.config import ConfigError

    run = Path("pretrained/cartpole_475")
    copy = tmp_path / "dense"
    shutil.copytree(run, copy)
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    cfg["model"]["connect_prob"] = 0.8
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    kw = dict(lifetimes=2, max_steps=30, episodes=3)
    dense = meta_test(run, ["CartPole-v1"], out=tmp_path / "a.json", connect_prob=0.8, **kw)["results"]["CartPole-v1"]
    same = meta_test(copy, ["CartPole-v1"], out=tmp_path / "b.json", **kw)["results"]["CartPole-v1"]
    sparse = meta_test(run, ["CartPole-v1"], out=tmp_path / "c.json", connect_prob=0.1, **kw)["results"]["CartPole-v1"]
    assert dense["agents"] == same["agents"] and dense["network"]["connect_prob"] == 0.8
    assert sparse["agents"]["evolved"] != dense["agents"]["evolved"]
    with pytest.raises(ConfigError, match="connect_prob"):
        meta_test(run, ["CartPole-v1"], out=tmp_path / "d.json", connect_prob=1.5, **kw)
    cfg["model"]["kind"] = "mlp"
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="--connect-prob applies to SFNN runs"):
        meta_test(copy, ["CartPole-v1"], out=tmp_path / "e.json", connect_prob=0.8, **kw)

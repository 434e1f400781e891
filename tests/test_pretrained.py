"""The genome shipped in pretrained/ loads and meta-tests right after install."""

import functools
import json

import numpy as np
import pytest

from conftest import ROOT, run_cli

PRETRAINED = sorted(p for p in (ROOT / "pretrained").iterdir() if p.is_dir())
CARTPOLE_RUNS = [p for p in PRETRAINED if "CartPole-v1" in (p / "config.yaml").read_text()]

# The meta-tests here run without the suite's quick-compile XLA flags (conftest.FAST_COMPILE), i.e.
# the fully optimised programs the recorded results came from: whole lifetimes of 4,000 steps run
# ~10x slower unoptimised, which costs more than the compile saves (a CartPole meta-test: 45 s -> 32 s
# on 2 cores), and replays of recorded numbers need the same floating-point order as the record.
OPTIMISED = {"XLA_FLAGS": ""}


@pytest.fixture
def cli():
    """``sfnn`` commands as conftest's ``cli`` runs them, but OPTIMISED: every meta-test in this file."""
    return functools.partial(run_cli, env=OPTIMISED)


def test_pretrained_runs_are_small_and_complete():
    assert PRETRAINED, "pretrained/ holds no run"
    for run in PRETRAINED:
        names = {p.name for p in run.iterdir()}
        assert {"config.yaml", "genomes.npz", "summary.json", "meta_test.json"} <= names, run
        shipped = [run / n for n in ("config.yaml", "genomes.npz", "summary.json", "meta_test.json", "README.md")]
        assert sum(p.stat().st_size for p in shipped if p.exists()) < 200_000, "pretrained runs must stay a few KB"
        with np.load(run / "genomes.npz", allow_pickle=False) as z:  # plain arrays, no pickle
            assert all(np.isfinite(z[k]).all() for k in z.files)


@pytest.mark.parametrize("run", CARTPOLE_RUNS, ids=[p.name for p in CARTPOLE_RUNS])
def test_pretrained_genome_meta_tests_on_seen_and_unseen_envs(run, tmp_path, cli):
    dest = tmp_path / "mt.json"
    r = cli("meta-test", str(run), "--env", "CartPole-v1", "--env", "CartPole-v1:perm=2", "--lifetimes", "2",
            "--out", str(dest))
    assert r.returncode == 0, r.stderr
    doc = json.loads(dest.read_text())
    summary = json.loads((run / "summary.json").read_text())
    for env in ["CartPole-v1", "CartPole-v1:perm=2"]:
        agents = doc["results"][env]["agents"]
        assert set(agents) == {"evolved", "frozen", "random"}
        curves = np.asarray(agents["evolved"])
        assert curves.shape[0] == 2 and np.isfinite(curves).all() and (curves >= 8).all()
    # the genome does not depend on any environment's sizes: 576 (library layout) or 565 (the authors')
    assert summary["genome_params"] == {"authors_cartpole": 565, "cartpole_475": 565, "three_env": 565,
                                       "three_env_from_acrobot": 565, "three_env_ordinal": 565,
                                       "three_env_tuned": 565}.get(run.name, 576)
    # (three_env_from_acrobot balances on most wirings, not all: lower quartile 413 on 128, and two
    # lifetimes are too few to assert it; its learning is checked on Acrobot and MountainCar below)
    if run.name in ("authors_cartpole", "cartpole_475", "three_env"):  # it learns to balance within a lifetime, on wirings it never saw
        plastic = np.asarray(doc["results"]["CartPole-v1"]["agents"]["evolved"])
        frozen = np.asarray(doc["results"]["CartPole-v1"]["agents"]["frozen"])
        assert plastic[:, 1:].mean() > 150 and frozen[:, 1:].mean() < 80


def test_pretrained_mountaincar_genome_learns_to_reach_the_flag(tmp_path, cli):
    """The shipped MountainCar genome reaches the flag on fresh wirings within a few windows,
    and only by learning: with plasticity off, and for random genomes, the car never gets there."""
    dest = tmp_path / "mt.json"
    r = cli("meta-test", str(ROOT / "pretrained" / "mountaincar_130"), "--env", "MountainCar-v0",
            "--lifetimes", "4", "--out", str(dest))
    assert r.returncode == 0, r.stderr
    agents = {k: np.asarray(v) for k, v in json.loads(dest.read_text())["results"]["MountainCar-v0"]["agents"].items()}
    assert agents["evolved"].shape == (4, 8)
    assert agents["evolved"][:, 3:].mean() > -160, agents["evolved"]
    assert (agents["frozen"] == -200).all() and agents["random"].mean() < -195


def test_pretrained_three_env_genome_learns_acrobot_and_mountaincar(tmp_path, cli):
    """The even three-environment genome swings Acrobot up and reaches MountainCar's flag on fresh
    wirings by learning: with plasticity off it never gets there in either."""
    dest = tmp_path / "mt.json"
    r = cli("meta-test", str(ROOT / "pretrained" / "three_env_from_acrobot"), "--env", "Acrobot-v1",
            "--env", "MountainCar-v0", "--lifetimes", "2", "--out", str(dest))
    assert r.returncode == 0, r.stderr
    res = json.loads(dest.read_text())["results"]
    for env, floor, bar in (("Acrobot-v1", -500, -300), ("MountainCar-v0", -200, -185)):
        agents = {k: np.asarray(v) for k, v in res[env]["agents"].items()}
        assert agents["evolved"][:, 3:].mean() > bar, (env, agents["evolved"])  # 128 wirings: -152.7 / -128.4
        assert agents["frozen"].mean() <= floor + 5, (env, agents["frozen"])


def test_pretrained_acrobot_genome_swings_up_by_learning(tmp_path, cli):
    """The ordinal-readout Acrobot genome (one output neuron, its value binned onto the three
    torques) swings up within a few windows on fresh wirings, and only by learning."""
    dest = tmp_path / "mt.json"
    r = cli("meta-test", str(ROOT / "pretrained" / "acrobot_100"), "--env", "Acrobot-v1", "--lifetimes", "4",
            "--out", str(dest))
    assert r.returncode == 0, r.stderr
    agents = {k: np.asarray(v) for k, v in json.loads(dest.read_text())["results"]["Acrobot-v1"]["agents"].items()}
    # the typical wiring, not the mean of four: it fails on a few wirings (128 wirings: late mean -94.2,
    # median -81.1), and one such lifetime among four would decide a mean (-185 on this machine's
    # 4 lifetimes, three of them near -80)
    assert np.median(agents["evolved"][:, 3:].mean(axis=1)) > -150, agents["evolved"]
    assert agents["evolved"][:, 0].mean() < -250  # the first window is spent learning
    assert (agents["frozen"] == -500).all() and agents["random"].mean() < -450


@pytest.mark.parametrize("name", ["three_env_ordinal", "three_env_tuned"])
def test_pretrained_ordinal_three_env_genome_learns_all_three(name, tmp_path, cli):
    """The ordinal-readout three-environment genomes learn all three on fresh wirings, and only
    by learning: with plasticity off they never reach Acrobot's line or MountainCar's flag and
    do not balance the pole."""
    dest = tmp_path / "mt.json"
    r = cli("meta-test", str(ROOT / "pretrained" / name), "--env", "CartPole-v1", "--env", "Acrobot-v1",
            "--env", "MountainCar-v0", "--lifetimes", "3", "--out", str(dest))
    assert r.returncode == 0, r.stderr
    res = json.loads(dest.read_text())["results"]
    # 16 wirings: three_env_ordinal 433.6 / -99.7 / -121.2, three_env_tuned 498.4 / -81.8 / -117.6;
    # frozen ~36 / -500 / -200
    for env, bar, frozen_below in (("CartPole-v1", 250, 60), ("Acrobot-v1", -160, -495), ("MountainCar-v0", -150, -199)):
        agents = {k: np.asarray(v) for k, v in res[env]["agents"].items()}
        assert agents["evolved"][:, 3:].mean() > bar, (env, agents["evolved"])
        assert agents["frozen"].mean() < frozen_below, (env, agents["frozen"])


def test_pretrained_pendulum_genome_balances_on_its_own_wiring():
    """The published result reproduces from the shipped genome: two lifetimes on the wiring it was
    evolved on (new environment seeds) balance the pole; with plasticity off it falls."""
    from agents.rl.finish import evaluate_lifetimes, repeat_genome
    from agents.rundir import load_genome, load_run_config

    run = ROOT / "pretrained" / "brax_inverted_pendulum"
    cfg = load_run_config(run)
    genomes = repeat_genome(load_genome(run, cfg), 2)
    plastic = evaluate_lifetimes(cfg, genomes, own_wiring=True)["brax/inverted_pendulum"]
    frozen = evaluate_lifetimes(cfg, genomes, own_wiring=True, learn=False)["brax/inverted_pendulum"]
    assert plastic.shape == (2, 3)
    assert plastic.mean() >= 950, plastic
    assert frozen.mean() < 300, frozen


REPLAY_GENERATION_0 = """
import json, sys
from pathlib import Path
import jax.numpy as jnp
from agents.rundir import load_run_config
from agents.trainer import Trainer, metrics_to_host
trainer = Trainer.build(load_run_config(Path(sys.argv[1]), ["log.wandb=disabled"]))
_, metrics = trainer.generation(trainer.init_state(), jnp.int32(0))
print(json.dumps(metrics_to_host(metrics)))
"""


@pytest.mark.parametrize("run", ["cartpole_475", "authors_cartpole"])
def test_a_recorded_first_generation_replays_to_the_last_digit(run):
    """A shipped run's first generation, rebuilt from its config.yaml alone, gives every number its
    metrics.jsonl holds (all but the wall time), bit for bit: a change of code that moves a
    recorded result fails here, whatever else it keeps. (It also held with XLA capped at AVX2.)"""
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", REPLAY_GENERATION_0, str(ROOT / "pretrained" / run)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, env={**os.environ, **OPTIMISED})
    assert out.returncode == 0, out.stderr[-2000:]
    recorded = json.loads((ROOT / "pretrained" / run / "metrics.jsonl").read_text().splitlines()[0])
    del recorded["wall_s"], recorded["generation"]
    replay = json.loads(out.stdout.splitlines()[-1])
    # every recorded number, bit for bit; the one key added since (search_std) is not in the record
    assert set(replay) - set(recorded) <= {"search_std"} and {k: replay[k] for k in recorded} == recorded


def test_a_recorded_meta_test_replays_to_the_last_digit(tmp_path, cli):
    """The shipped three-environment genome's recorded meta-test on CartPole (16 lifetimes: the
    genome, itself frozen and random genomes) comes out again value for value.

    Random genomes are the exception: their plastic state can grow without bound, so the last-bit
    differences between the kernels XLA compiles for different CPUs change some of their late
    episodes (one lifetime's episodes 7-8 on a machine other than the recording's). Their first
    episode is still compared exactly, their mean to within 10%."""
    run = ROOT / "pretrained" / "multi_env"
    recorded = json.loads((run / "meta_test.json").read_text())
    dest = tmp_path / "mt.json"
    r = cli("meta-test", str(run), "--env", "CartPole-v1", "--lifetimes", str(recorded["lifetimes"]), "--out", str(dest))
    assert r.returncode == 0, r.stderr
    again = json.loads(dest.read_text())["results"]["CartPole-v1"]["agents"]
    want = recorded["results"]["CartPole-v1"]["agents"]
    assert again.keys() == want.keys() == {"evolved", "frozen", "random"}
    assert again["evolved"] == want["evolved"] and again["frozen"] == want["frozen"]
    got_random, want_random = np.asarray(again["random"]), np.asarray(want["random"])
    np.testing.assert_array_equal(got_random[:, 0], want_random[:, 0])
    assert abs(got_random.mean() - want_random.mean()) <= 0.1 * want_random.mean()

"""The command line as users and scripts drive it: run directories, resume, meta-test, bad input."""

import json
import os
import re
import signal
import subprocess
import time
from unittest import mock

import pytest
import yaml

from conftest import ROOT, SFNN, TINY

CARTPOLE = "configs/cartpole.yaml"


def metrics(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    from conftest import run_cli

    r = run_cli("train", CARTPOLE, *TINY, "strategy.generations=4", "log.progress=true", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out, r


def test_train_writes_the_run_directory(trained):
    out, r = trained
    for name in ["config.yaml", "metrics.jsonl", "summary.json", "genomes.npz", "training_curve.png", "lifetime_CartPole-v1.png"]:
        assert (out / name).is_file(), name
    assert any((out / "checkpoints").iterdir())
    rows = metrics(out)
    assert [r["generation"] for r in rows] == [0, 1, 2, 3]
    for key in ["best_fitness", "mean_fitness"]:
        assert all(isinstance(r[key], float) for r in rows)
    sigma0 = yaml.safe_load((ROOT / CARTPOLE).read_text())["strategy"]["sigma_init"]
    steps = [r["search_std"] for r in rows]  # the ES adapts its step size from sigma_init every generation
    assert all(s > 0 for s in steps) and steps[0] != pytest.approx(sigma0, rel=1e-6) and len(set(steps)) == len(steps)
    assert all("wall_s" in json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generations"] == 4 and len(summary["per_env"]["CartPole-v1"]["episode_returns_mean"]) == 2
    assert "plot:" in r.stdout
    assert re.search(r"generations.*4/4.*best=[\d.]+, mean=[\d.]+, sigma=[\d.]+", r.stderr), r.stderr[-500:]  # the bar


def test_summary_names_the_machine_and_packages_that_computed_it(trained):
    """A rerun elsewhere may part from a recorded run at the last bit; the summary says where it ran."""
    from importlib import metadata

    import jax

    from agents.cpu import cpu_info

    machine = json.loads((trained[0] / "summary.json").read_text())["machine"]
    assert machine["backend"] == "cpu" and re.fullmatch(r"\d+ × cpu", machine["devices"]), machine["devices"]
    assert machine["packages"]["jax"] == jax.__version__ == metadata.version("jax")
    assert machine["packages"]["evosax"] == metadata.version("evosax")
    assert {k: machine[k] for k in ("cpu", "cpu_isa", "vector_isa")} == {k: cpu_info()[k] for k in ("cpu", "cpu_isa", "vector_isa")}


def test_the_final_genome_is_reported_on_lifetimes_other_than_those_that_chose_it(trained):
    """The summary's curves are the chosen genome's on lifetimes n..2n-1: those on which it beat the
    other candidate (0..n-1) would flatter it."""
    import numpy as np

    from agents.rl.finish import evaluate_lifetimes, repeat_genome
    from agents.rundir import load_genome, load_run_config

    out, _ = trained
    summary = json.loads((out / "summary.json").read_text())
    cfg = load_run_config(out)
    n = summary["final_lifetimes"]
    genome = repeat_genome(load_genome(out, cfg), n)
    reported = np.asarray(summary["per_env"]["CartPole-v1"]["episode_returns_mean"])
    held_out = evaluate_lifetimes(cfg, genome, lifetime_ids=np.arange(n, 2 * n))["CartPole-v1"].mean(0)
    choosing = evaluate_lifetimes(cfg, genome)["CartPole-v1"].mean(0)
    np.testing.assert_allclose(reported, held_out, atol=0.01)
    assert not np.allclose(reported, choosing, atol=0.01)
    assert set(summary["final_genome_fitness"]) == {"es_best", "es_mean"}
    assert np.isfinite(summary["final_genome_heldout_fitness"])


def test_resume_gives_the_same_metrics_as_an_uninterrupted_run(trained, tmp_path, cli):
    full, _ = trained
    part = tmp_path / "part"
    r = cli("train", CARTPOLE, *TINY, "strategy.generations=2", "--out", str(part))
    assert r.returncode == 0, r.stderr
    r = cli("train", "--resume", str(part), "strategy.generations=4")
    assert r.returncode == 0, r.stderr
    assert metrics(part) == metrics(full)


def test_ctrl_c_saves_a_checkpoint_and_resume_is_bit_identical(trained, tmp_path):
    full, _ = trained
    out = tmp_path / "interrupted"
    env = {**os.environ}
    proc = subprocess.Popen([*SFNN, "train", CARTPOLE, *TINY, "strategy.generations=4", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 240
    while time.time() < deadline:
        m = out / "metrics.jsonl"
        if m.exists() and m.read_text().count("\n") >= 1:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=240)
    if proc.returncode == 0:  # finished before the signal landed: nothing to resume
        assert metrics(out) == metrics(full)
        return
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    from conftest import run_cli

    r = run_cli("train", "--resume", str(out))
    assert r.returncode == 0, r.stderr
    assert metrics(out) == metrics(full)


def test_meta_test_on_an_unseen_env_with_other_sizes(trained, tmp_path, cli):
    out, _ = trained
    dest = tmp_path / "mt.json"
    r = cli("meta-test", str(out), "--env", "Acrobot-v1", "--env", "CartPole-v1", "--lifetimes", "2", "--out", str(dest))
    assert r.returncode == 0, r.stderr
    doc = json.loads(dest.read_text())
    res = doc["results"]["Acrobot-v1"]
    assert res["metric"] == "return" and res["x"] == [1, 2]
    assert set(res["agents"]) == {"evolved", "frozen", "random"}
    assert all(len(curve) == 2 for curve in res["agents"]["evolved"])
    assert (tmp_path / "mt_Acrobot-v1.png").is_file()
    assert doc["seed"] == 20_000
    assert "episodes 2-: mean" in r.stdout and "lifetimes' quartiles" in r.stdout
    # another seed draws other wirings and random genomes; the first seed's figures come back
    again = {}
    for seed in ("20000", "7"):
        r = cli("meta-test", str(out), "--env", "CartPole-v1", "--lifetimes", "2", "--seed", seed,
                "--out", str(tmp_path / f"seed{seed}.json"))  # fmt: skip
        assert r.returncode == 0, r.stderr
        again[seed] = json.loads((tmp_path / f"seed{seed}.json").read_text())["results"]["CartPole-v1"]["agents"]
    assert again["20000"] == doc["results"]["CartPole-v1"]["agents"]
    assert again["7"]["random"] != again["20000"]["random"]


def test_meta_test_from_the_newest_checkpoint(trained, tmp_path, cli):
    """genomes.npz comes only at a run's end; --checkpoint meta-tests the search's mean genome in the
    newest checkpoint (a run still training or paused), which after the last generation is the
    final evaluation's es_mean candidate: the same lifetimes as that genome's own meta-test."""
    import shutil

    import numpy as np
    from jax.flatten_util import ravel_pytree

    from agents.rundir import checkpoint_genome, load_genome, load_run_config, save_genomes

    out, _ = trained
    cfg = load_run_config(out)
    genome, step = checkpoint_genome(out)
    assert step == 4
    es_mean = load_genome(out, cfg, "es_mean")
    np.testing.assert_array_equal(ravel_pytree(genome)[0], ravel_pytree(es_mean)[0])

    paused = tmp_path / "paused"  # as a run stopped before its final evaluation leaves it
    shutil.copytree(out, paused)
    (paused / "genomes.npz").unlink()
    args = ["--env", "CartPole-v1", "--lifetimes", "2"]
    r = cli("meta-test", str(paused), *args)
    assert r.returncode == 2 and "--checkpoint" in r.stderr and "Traceback" not in r.stderr
    r = cli("meta-test", str(paused), *args, "--checkpoint", "--out", str(tmp_path / "ck.json"))
    assert r.returncode == 0, r.stderr
    assert "genome: checkpoint 4" in r.stdout
    ck = json.loads((tmp_path / "ck.json").read_text())
    assert ck["genome"].startswith("checkpoint 4:")

    mean_run = tmp_path / "mean"  # the same run with es_mean as its final genome
    shutil.copytree(out, mean_run)
    save_genomes(mean_run / "genomes.npz", {"best": es_mean})
    r = cli("meta-test", str(mean_run), *args, "--out", str(tmp_path / "mean.json"))
    assert r.returncode == 0, r.stderr
    final = json.loads((tmp_path / "mean.json").read_text())
    assert final["genome"].startswith("genomes.npz")
    assert ck["results"]["CartPole-v1"]["agents"] == final["results"]["CartPole-v1"]["agents"]

    shutil.rmtree(paused / "checkpoints")
    r = cli("meta-test", str(paused), *args, "--checkpoint")
    assert r.returncode == 2 and "no checkpoints" in r.stderr and "Traceback" not in r.stderr


def test_meta_test_of_a_chosen_checkpoint(trained, tmp_path, cli):
    """--checkpoint STEP takes the mean genome of that kept checkpoint, not the newest: after two of
    the run's four generations it is the es_mean of a run that stopped there. A step the run did not
    keep fails in one line that lists what was kept, and not a step at all fails before any work."""
    import numpy as np
    from jax.flatten_util import ravel_pytree

    from agents.rundir import RunError, checkpoint_genome, load_genome, load_run_config

    out, _ = trained
    short = tmp_path / "short"
    r = cli("train", CARTPOLE, *TINY, "strategy.generations=2", "--out", str(short))
    assert r.returncode == 0, r.stderr
    at2, step = checkpoint_genome(out, 2)
    assert step == 2
    flat = ravel_pytree(at2)[0]
    np.testing.assert_array_equal(flat, ravel_pytree(load_genome(short, load_run_config(short), "es_mean"))[0])
    assert not np.array_equal(flat, ravel_pytree(checkpoint_genome(out)[0])[0])

    args = ["--env", "CartPole-v1", "--lifetimes", "2"]
    r = cli("meta-test", str(out), *args, "--checkpoint", "2", "--out", str(tmp_path / "c2.json"))
    assert r.returncode == 0, r.stderr
    assert "genome: checkpoint 2" in r.stdout
    assert json.loads((tmp_path / "c2.json").read_text())["genome"].startswith("checkpoint 2:")
    with pytest.raises(RunError, match=r"no checkpoint 1 in .*\(kept: 2, 3, 4\)"):
        checkpoint_genome(out, 1)
    r = cli("meta-test", str(out), *args, "--checkpoint", "last")
    assert r.returncode == 2 and "--checkpoint 'last'" in r.stderr and "Traceback" not in r.stderr


def test_choose_scores_every_kept_checkpoint_as_the_final_evaluation_does(trained, tmp_path, cli):
    """sfnn choose: each kept checkpoint's mean genome on the same fresh lifetimes (those that
    meta-test --seed draws), scored as the final evaluation scores genomes (the run's normalised
    fitness of each lifetime), best first."""
    import jax.numpy as jnp
    import numpy as np

    from agents.fitness import lifetime_fitness
    from agents.rl.evaluate import env_tasks
    from agents.rl.finish import evaluate_lifetimes, repeat_genome
    from agents.rundir import checkpoint_genome, load_run_config

    out, _ = trained
    dest = tmp_path / "choose.json"
    r = cli("choose", str(out), "--lifetimes", "3", "--seed", "7", "--out", str(dest))
    assert r.returncode == 0, r.stderr
    doc = json.loads(dest.read_text())
    steps = [row["step"] for row in doc["ranking"]]
    assert sorted(steps) == [2, 3, 4] and doc["chosen"] == steps[0] and doc["unusable"] == {}
    fits = [row["fitness"] for row in doc["ranking"]]
    assert fits == sorted(fits, reverse=True)
    assert f"chosen: checkpoint {steps[0]}" in r.stdout and f"--checkpoint {steps[0]}" in r.stdout

    cfg = load_run_config(out)
    genome, _ = checkpoint_genome(out, 3)
    rets = evaluate_lifetimes(cfg, repeat_genome(genome, 3), seed_offset=7)["CartPole-v1"]
    (task,) = env_tasks(cfg)
    per_lifetime = np.asarray(lifetime_fitness(jnp.asarray(rets), cfg.fitness.kind, task.return_range))
    row = next(row for row in doc["ranking"] if row["step"] == 3)
    assert row["fitness"] == pytest.approx(float(per_lifetime.mean()), rel=1e-5)
    assert row["fitness_se"] == pytest.approx(float(per_lifetime.std(ddof=1) / np.sqrt(3)), rel=1e-4)
    assert row["late_return"]["CartPole-v1"] == pytest.approx(float(rets[:, 1:].mean()), abs=0.01)
    assert len({round(f, 6) for f in fits}) > 1  # the checkpoints differ: a ranking, not a tie

    r = cli("choose", str(tmp_path))
    assert r.returncode == 2 and "has no checkpoints: nothing to choose from" in r.stderr and "Traceback" not in r.stderr


def test_choose_by_successive_halving_keeps_the_better_half_and_pools_its_rounds(trained, tmp_path, cli):
    """sfnn choose --halving: round 1 is the plain ranking on seed S; the worse checkpoint of three
    drops out and the other two are scored again on seed S+1; their figures are the mean of their
    two rounds, each round the plain ranking's on that seed, and they rank first."""
    from agents.choose import choose_checkpoint

    out, _ = trained
    dest = tmp_path / "halving.json"
    r = cli("choose", str(out), "--lifetimes", "3", "--seed", "7", "--halving", "--out", str(dest))
    assert r.returncode == 0, r.stderr
    doc = json.loads(dest.read_text())
    assert doc["halving"] and doc["rounds"] == 2 and "[6 lifetimes]" in r.stdout and "[3 lifetimes]" in r.stdout
    plain = {seed: {row["step"]: row for row in choose_checkpoint(out, 3, seed, tmp_path / f"{seed}.json")["ranking"]}
             for seed in (7, 8)}
    first = sorted(plain[7], key=lambda s: -plain[7][s]["fitness"])
    rows = {row["step"]: row for row in doc["ranking"]}
    assert [row["lifetimes"] for row in doc["ranking"]] == [6, 6, 3] and rows[first[2]]["lifetimes"] == 3
    assert rows[first[2]]["fitness"] == pytest.approx(plain[7][first[2]]["fitness"])
    for s in first[:2]:
        assert rows[s]["fitness"] == pytest.approx((plain[7][s]["fitness"] + plain[8][s]["fitness"]) / 2)
        assert rows[s]["fitness_se"] < max(plain[7][s]["fitness_se"], plain[8][s]["fitness_se"])
    assert doc["chosen"] == max(first[:2], key=lambda s: rows[s]["fitness"])


def test_envs_lists_registered_names(cli):
    r = cli("envs")
    assert r.returncode == 0
    assert "CartPole-v1" in r.stdout and "Acrobot-v1" in r.stdout and "MountainCar-v0" in r.stdout
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line.strip()}
    assert "failure" in rows["CartPole-v1"] and "success" in rows["Acrobot-v1"]  # what terminal_reward goes by


def test_bench_prints_one_json_line(cli):
    from importlib import metadata

    r = cli("bench", CARTPOLE, "strategy.population=4", "--generations", "1", "lifetime.episodes=1", "lifetime.max_steps=20",
            "model.learn_every=step")
    assert r.returncode == 0, r.stderr
    line = json.loads(r.stdout.strip().splitlines()[-1])
    assert line["learn_every"] == "step" and line["passes"] == 2  # a saved row says which update timing it timed
    for key in ["agent_steps_per_s", "compile_s", "population", "devices", "backend", "device_kind", "cpu", "cpu_isa", "vector_isa"]:
        assert key in line
    assert line["population"] == 4 and line["agent_steps_per_s"] > 0
    assert line["packages"]["jaxlib"] == metadata.version("jaxlib")  # speed is a property of the build
    assert line["agent_steps_per_s_best"] >= line["agent_steps_per_s"] and line["generation_s_min"] <= line["generation_s"]
    assert line["agent_steps_per_generation"] == 4 * 1 * 20  # the overrides after --generations took effect
    if line["backend"] == "cpu":  # the default chunk by backend; CPU runtimes keep no allocator statistics
        assert line["chunk"] == 64 and line["device_peak_mb"] is None and line["device_kind"] == "cpu"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable cores")
def test_cpu_cores_become_the_devices_parallel_devices_asks_for(cli):
    """On a CPU, a population of 32 (16 members each) is split over two cores' devices by default, without XLA_FLAGS
    (the CLI sets it before JAX starts; which counts, and when: ``tests/test_parallel.py``); more
    devices than cores is an error naming the limit."""
    small = ["lifetime.episodes=1", "lifetime.max_steps=20", "--generations", "1"]
    with mock.patch.dict(os.environ):
        os.environ.pop("XLA_FLAGS", None)
        r = cli("bench", CARTPOLE, *small, "strategy.population=32")  # parallel.devices: null
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout.strip().splitlines()[-1])["devices"] == 2
        many = os.cpu_count() + 1
        r = cli("bench", CARTPOLE, *small, "strategy.population=4", f"parallel.devices={many}")
        assert r.returncode == 2 and f"{os.cpu_count()} here" in r.stderr, r.stderr


def test_bench_sweep_writes_a_table_and_a_plot(cli, tmp_path):
    out = tmp_path / "sweep"
    small = ["lifetime.episodes=1", "lifetime.max_steps=20", "log.wandb=disabled"]
    r = cli("bench", CARTPOLE, *small, "--sweep", "strategy.population=2,4", "--generations", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (out / "bench_sweep.jsonl").read_text().splitlines()]
    assert [(row["value"], row["population"]) for row in rows] == [("2", 2), ("4", 4)]
    assert all(row["agent_steps_per_s"] > 0 and row["peak_rss_mb"] > 0 for row in rows)
    assert "strategy.population=4" in (out / "bench_sweep.md").read_text()
    assert (out / "bench_sweep_strategy_population.png").stat().st_size > 0
    for bad, hint in [("strategy.population", "KEY=V1,V2"), ("strategy.population=8,1", "strategy.population")]:
        r = cli("bench", CARTPOLE, *small, "--sweep", bad, "--out", str(tmp_path / "never"))
        assert r.returncode == 2 and hint in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "never").exists()
    slow = tmp_path / "slow"  # a point that outlasts --point-timeout is recorded as failed; the sweep still ends
    r = cli("bench", CARTPOLE, *small, "--sweep", "strategy.population=2", "--point-timeout", "0.5", "--out", str(slow))
    assert r.returncode == 0, r.stderr
    row = json.loads((slow / "bench_sweep.jsonl").read_text())
    assert row["error"] == "stopped after --point-timeout 0.5 s" and "agent_steps_per_s" not in row


def test_wandb_offline_writes_a_local_run(tmp_path, cli):
    out = tmp_path / "wb"
    args = [a for a in TINY if not a.startswith("log.wandb")]
    r = cli("train", CARTPOLE, *args, "strategy.generations=1", "log.wandb=offline", "--out", str(out),
            env={"WANDB_MODE": "offline", "WANDB_SILENT": "false"})
    assert r.returncode == 0, r.stderr
    assert list((out / "wandb").glob("offline-run-*"))
    # wandb took the `agents` package for the OpenAI Agents SDK and advertised an LLM tracer
    assert "Weave" not in r.stdout + r.stderr
    before = sorted((out / "wandb").iterdir())
    dest = tmp_path / "elsewhere" / "mt.json"
    r = cli("meta-test", str(out), "--env", "CartPole-v1", "--lifetimes", "1", "--out", str(dest),
            env={"WANDB_MODE": "offline", "WANDB_SILENT": "false"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert list((dest.parent / "wandb").glob("offline-run-*"))  # the meta-test's log lies beside its JSON
    assert "Weave" not in r.stdout + r.stderr
    assert sorted((out / "wandb").iterdir()) == before  # and the run it read is left as it was


BAD = [
    (["train", CARTPOLE, "model.neurns=3"], "unknown key"),
    (["train", CARTPOLE, "strategy.population=lots"], "strategy.population"),
    (["train", CARTPOLE, "envs=[CartPol-v1]"], "CartPole-v1"),
    (["train", CARTPOLE, "model.neurons=5"], "model.neurons"),
    (["train", CARTPOLE, "model.plasticity=dendrite"], "model.plasticity"),
    (["train", "configs/missing.yaml"], "not found"),
    (["train", CARTPOLE, "parallel.devices=100000"], "parallel.devices"),
    (["train", "--resume", "/nonexistent/run"], "not a run directory"),
    (["meta-test", "/nonexistent/run", "--env", "CartPole-v1"], "not a run directory"),
    (["frobnicate"], "invalid choice"),
    (["train", CARTPOLE, "--out", "/tmp/never", "--nope"], "unrecognized arguments: --nope (see sfnn train --help)"),
    (["envs", "a=1"], "unrecognized arguments: a=1 (see sfnn envs --help)"),
]


@pytest.mark.parametrize("args,needle", BAD, ids=[" ".join(a[:3]) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2(args, needle, cli):
    r = cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert needle in lines[0]


def test_existing_run_directory_is_never_overwritten(trained, cli):
    out, _ = trained
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    r = cli("train", CARTPOLE, *TINY, "--out", str(out))
    assert r.returncode == 2 and "already exists" in r.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_missing_or_corrupt_checkpoint(tmp_path, cli, trained):
    import shutil

    out, _ = trained
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    shutil.rmtree(broken / "checkpoints")
    (broken / "checkpoints").mkdir()
    r = cli("train", "--resume", str(broken))
    assert r.returncode == 2 and "no checkpoints" in r.stderr
    corrupt = tmp_path / "corrupt"
    shutil.copytree(out, corrupt)
    for f in (corrupt / "checkpoints").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    r = cli("train", "--resume", str(corrupt))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr

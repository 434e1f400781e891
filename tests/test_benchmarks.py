"""The benchmark helpers that turn saved runs into figures: they read what `sfnn bench` and
`jax.profiler` write, and skip what is not theirs."""

import gzip
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import plot_backends  # noqa: E402
import profile_lifetime  # noqa: E402
import run_blocks  # noqa: E402
import weak_scaling  # noqa: E402
from conftest import TINY  # noqa: E402


def _bench_row(pop, speed, backend, plasticity, device_mb=None):
    return {"agent_steps_per_s": speed, "population": pop, "backend": backend, "plasticity": plasticity,
            "peak_rss_mb": 700.0 + pop / 100, "device_peak_mb": device_mb}


def test_backend_plot_reads_bench_rows_and_skips_training_files(tmp_path):
    gpu = tmp_path / "gpu"
    gpu.mkdir()
    sweep = [_bench_row(1024, 6.8e6, "gpu", "synapse", 152.0), _bench_row(4096, 7.7e6, "gpu", "synapse", 273.0)]
    (gpu / "paper_sweep.jsonl").write_text("\n".join(json.dumps(r) for r in sweep) + "\n")
    (gpu / "cartpole_16384.json").write_text(json.dumps(_bench_row(16384, 1.9e7, "gpu", "neuron", 1060.0)))
    (gpu / "train_summary.json").write_text(json.dumps({"wall_s": 49.0, "population": 1024}, indent=2))
    (gpu / "train_metrics.jsonl").write_text(json.dumps({"generation": 0, "mean_fitness": 0.1}) + "\n")
    rows = plot_backends.load_rows(gpu)
    assert sorted(r["population"] for r in rows) == [1024, 4096, 16384]
    out = tmp_path / "img" / "plot.png"
    plot_backends.plot({"H200": rows, "cpu": [_bench_row(64, 2e5, "cpu", "synapse")]}, out)
    assert out.stat().st_size > 10_000


def test_trace_summary_groups_events_by_process_and_name(tmp_path, capsys):
    events = [
        {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/device:GPU:0"}},
        {"ph": "X", "name": "gru_fusion", "pid": 1, "tid": 1, "ts": 0, "dur": 3000},
        {"ph": "X", "name": "gru_fusion", "pid": 1, "tid": 1, "ts": 5000, "dur": 3000},
        {"ph": "X", "name": "memcpy", "pid": 1, "tid": 1, "ts": 9000, "dur": 500},
        {"ph": "X", "name": "$python_frame", "pid": 2, "tid": 1, "ts": 0, "dur": 99000},
    ]
    trace = tmp_path / "perfetto_trace.json.gz"
    with gzip.open(trace, "wt") as f:
        json.dump({"traceEvents": events}, f)
    profile_lifetime.summarize(trace, top=5)
    out = capsys.readouterr().out
    assert "/device:GPU:0: 6.5 ms in 3 events" in out
    assert "6.00 ms       2  gru_fusion" in out and "python_frame" not in out


def test_profile_of_a_config_traces_its_training_generation(capsys):
    """--config traces the trainer's own program: its CPU kernels (XLA fusions) are listed with
    one call per lifetime step, which is what the per-ISA profile in PERFORMANCE.md reads."""
    profile_lifetime.profile_config("configs/bench_paper.yaml", TINY, top=200)
    out = capsys.readouterr().out
    assert "generation 1:" in out and "/host:CPU:" in out
    fusions = [line.split() for line in out.splitlines() if "fusion" in line]
    assert fusions and all(float(f[0]) >= 0 for f in fusions)
    assert any(int(f[2]) >= 2 * 50 for f in fusions)  # a kernel of the step loop: 2 episodes x 50 steps


def test_weak_scaling_over_processes_benches_a_joined_run(tmp_path, capsys):
    """Two `sfnn bench` processes joined through jax.distributed (a machine each, in small), against one."""
    args = ["configs/cartpole.yaml", *(a for a in TINY if not a.startswith("strategy.population="))]
    out = tmp_path / "weak"
    assert weak_scaling.main([*args, "--mode", "processes", "--workers", "1,2", "--per-worker", "8",
                              "--generations", "1", "--repeats", "1", "--timeout", "300", "--out", str(out)]) == 0
    runs = [json.loads(x) for x in (out / "weak_scaling.jsonl").read_text().splitlines()]
    assert [(r["workers"], r["processes"], r["devices"], r["population"]) for r in runs] == [(1, 1, 1, 8), (2, 2, 2, 16)]
    assert all(r["agent_steps_per_s"] > 0 for r in runs)
    table = (out / "weak_scaling.md").read_text()
    assert "| 2 | 16 |" in table and (out / "weak_scaling.png").stat().st_size > 10_000
    assert "efficiency" in capsys.readouterr().out


def test_weak_scaling_efficiency_is_per_worker_against_one():
    runs = {1: [{"agent_steps_per_s": 100.0, "population": 64, "devices": 1, "generation_s": 1.0, "compile_s": 3.0,
                 "peak_rss_mb": 700.0}],
            2: [{"agent_steps_per_s": 150.0, "population": 128, "devices": 2, "generation_s": 1.7, "compile_s": 3.0,
                 "peak_rss_mb": 720.0},
                {"agent_steps_per_s": 180.0, "population": 128, "devices": 2, "generation_s": 1.4, "compile_s": 3.0,
                 "peak_rss_mb": 720.0}]}
    rows = weak_scaling.summarise(runs)
    assert [(r["workers"], r["agent_steps_per_s"], r["per_worker"], r["efficiency"]) for r in rows] == [
        (1, 100.0, 100.0, 1.0), (2, 180.0, 90.0, 0.9)]
    assert "| 2 | 128 | 180 (150, 180) | 90 | 0.90 |" in weak_scaling.markdown(rows, "devices")


def test_cpu_info_names_the_cpu_and_the_vector_isa_xla_may_use():
    """A bench line says which CPU and ISA it came from; an XLA cap narrows the ISA, never widens it."""
    from agents.cpu import cpu_info

    zen4 = "model name\t: AMD EPYC 9R14\nflags\t\t: fpu sse4_2 avx avx2 avx512f\n"
    zen3 = "model name\t: AMD EPYC 7R13\nflags\t\t: fpu sse4_2 avx avx2\n"
    assert cpu_info(zen4, "") == {"cpu": "AMD EPYC 9R14", "cpu_isa": "AVX512", "xla_max_isa": None, "vector_isa": "AVX512"}
    assert cpu_info(zen4, "--xla_cpu_max_isa=AVX2")["vector_isa"] == "AVX2"
    assert cpu_info(zen4, "--foo --xla_cpu_max_isa=sse4_2")["vector_isa"] == "SSE4_2"
    assert cpu_info(zen3, "--xla_cpu_max_isa=AVX512")["vector_isa"] == "AVX2"  # a cap above the CPU changes nothing
    assert cpu_info(zen3, "")["cpu_isa"] == "AVX2"


def test_wiring_or_chance_splits_variance_between_and_within_wirings():
    """ICC(1) of the one-way ANOVA: 1 when a wiring fixes its lives' scores, 0 when wirings do
    not differ beyond their lives' spread, and the textbook value on a small hand-checked table."""
    import wiring_or_chance
    import numpy as np

    by_wiring = np.array([[-100.0, -100.0], [-200.0, -200.0], [-300.0, -300.0]])
    assert wiring_or_chance.variance_split(by_wiring)["icc"] == 1.0
    by_chance = np.array([[-100.0, -300.0], [-300.0, -100.0], [-200.0, -200.0]])
    split = wiring_or_chance.variance_split(by_chance)
    assert split["icc"] == 0.0 and split["sd_between_wirings"] == 0.0
    # MSB = 2 * ((-1.5)^2 + 0 + 1.5^2) / 2 = 4.5, MSW = (0.25 * 4 + 1 * 2) / 3 = 1, ICC = (4.5 - 1) / (4.5 + 1)
    table = np.array([[0.5, -0.5], [1.0, -1.0], [2.0, 1.0]])
    table = table - table.mean(axis=1, keepdims=True) + np.array([[-1.5], [0.0], [1.5]])
    assert abs(wiring_or_chance.variance_split(table)["icc"] - 3.5 / 5.5) < 1e-12


def test_wiring_or_chance_lives_each_wiring_several_times():
    """Lives of one wiring share its key and differ in their episode seeds: the table has one row
    per wiring and one column per life, and the same keys live the same lives again."""
    import dataclasses

    import jax
    import numpy as np
    import wiring_or_chance
    from agents.metatest import MetaTestOptions, run_genome
    from agents.rundir import load_run_config

    wk, ek = wiring_or_chance.life_keys(wirings=3, seeds=2, seed=7)
    wk, ek = np.asarray(jax.random.key_data(wk)), np.asarray(jax.random.key_data(ek))
    assert (wk[0::2] == wk[1::2]).all() and len({tuple(k) for k in wk}) == 3
    assert len({tuple(k) for k in ek}) == 6
    run = Path(__file__).resolve().parents[1] / "pretrained" / "cartpole_475"
    cfg = load_run_config(run)
    cfg = dataclasses.replace(cfg, lifetime=dataclasses.replace(cfg.lifetime, episodes=2, max_steps=40))
    genome, _ = run_genome(run, cfg, MetaTestOptions())
    ecfg = wiring_or_chance.network_config(cfg, "CartPole-v1", lifetimes=6)
    rets = wiring_or_chance.lives(ecfg, genome, wirings=3, seeds=2, seed=7)
    assert rets.shape == (3, 2, 2) and (rets >= 1).all() and (rets <= 40).all()
    assert (rets == wiring_or_chance.lives(ecfg, genome, wirings=3, seeds=2, seed=7)).all()


def test_plastic_growth_measures_the_growth_rate_through_rescales_and_when_a_block_settles():
    """A block growing by 1.02 a step reads 1.02 even where a rescale (a fall by 2⁻⁶⁴) lies
    between two episode ends; a block that only grows keeps a cosine of 1 to its end, one that
    turns does not, and the peaks are read at each episode's last step."""
    import numpy as np
    import plastic_growth
    from agents.rl.viz import LifetimeTrace

    steps = [500] * 6
    peaks = [0.1 * 1.02 ** (500 * (k + 1)) for k in range(6)]
    peaks[4:] = [p * 2.0**-64 for p in peaks[4:]]
    assert abs(plastic_growth.growth_per_step(peaks, steps) - 1.02) < 1e-9
    assert abs(plastic_growth.growth_per_step([5.0] * 6, steps) - 1.0) < 1e-12

    t = np.arange(1000)
    grow = np.stack([np.array([[1.0, -2.0]]) * 1.01**s for s in t])  # (frames, units, M), fixed direction
    turn = np.stack([np.array([[np.cos(s / 300), np.sin(s / 300)]]) for s in t])
    trace = LifetimeTrace("CartPole-v1", "synapse", {"ih": grow, "hh": turn}, t, np.zeros(1000), np.zeros(1000),
                          np.zeros(1000, bool), np.array([20.0, 500.0]), np.array([500, 500]), {})
    got = plastic_growth.block_growth(trace)
    assert np.allclose(got["ih"]["cosine_to_end"], 1.0)
    assert got["hh"]["cosine_to_end"][0] < 0.5
    np.testing.assert_allclose(got["ih"]["peak_at_episode_end"], [2.0 * 1.01**499, 2.0 * 1.01**999])


def test_ordinal_ties_keep_searching_a_plateau_that_average_ties_abandon():
    """A population of equal fitness (every member zero under a product of environments):
    evosax's average ranks give every member one weight and CMA-ES's sigma collapses generation
    after generation; ordinal ranks (evosax 0.1.4's argsort, the authors' pin) take a random
    step and keep sigma near where it was (``benchmarks/ties_plateau.py``)."""
    import ties_plateau

    def std(ties: str) -> float:
        return ties_plateau.plateau_std("CMA_ES", 32, 50, generations=60, every=60, sigma=1.0, ties=ties)[60]

    average, ordinal = std("average"), std("ordinal")
    assert average < 0.1, average
    assert 0.3 < ordinal < 3.0, ordinal


def _gen_row(gen, fitness, cartpole, wall):
    return {"generation": gen, "best_fitness": fitness, "return/CartPole-v1": cartpole, "best_return/CartPole-v1": cartpole + 10,
            "return/Acrobot-v1": -500.0, "best_return/Acrobot-v1": -480.0 + gen, "search_std": 1.0 - gen / 10, "wall_s": wall}


def test_run_blocks_summarise_blocks_and_find_where_two_runs_part(tmp_path, capsys):
    rows = [_gen_row(g, 0.0 if g < 3 else 0.1 * g, 10.0 * g, 1.5 * g) for g in range(7)]
    summary = run_blocks.blocks(rows, 3)
    assert [(b["first"], b["last"], b["n"]) for b in summary] == [(0, 2, 3), (3, 5, 3), (6, 6, 1)]
    assert summary[0]["nonzero"] == 0 and summary[1]["nonzero"] == 3
    assert summary[1]["mean/CartPole-v1"] == 40.0 and summary[1]["best/Acrobot-v1"] == -475.0
    assert abs(summary[0]["sigma"] - 0.9) < 1e-12
    # the config's order, the last (short) block always printed, minus signs as the docs print them
    text = run_blocks.table(rows, 3, every=5, order=["CartPole-v1", "Acrobot-v1"])
    assert text.splitlines()[0].index("CartPole") < text.splitlines()[0].index("Acrobot")
    assert [line.split(" | ")[0] for line in text.splitlines()[2:]] == ["| 0–2", "| 6–6"]
    assert "\u2212500.0 / \u2212474" in text

    # the same run restarted elsewhere: only wall times differ
    other = [{**r, "wall_s": r["wall_s"] + 7} for r in rows[:5]]
    assert run_blocks.first_difference(rows, other) == (5, None, [])
    other[3] = {**other[3], "search_std": 0.5}
    assert run_blocks.first_difference(rows, other) == (3, 3, ["search_std"])

    a, b = tmp_path / "a", tmp_path / "b"
    for d, rs in ((a, rows), (b, other)):
        d.mkdir()
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rs))
    (b / "metrics.jsonl.gz").write_bytes(gzip.compress((b / "metrics.jsonl").read_bytes()))
    (b / "metrics.jsonl").unlink()
    assert run_blocks.main([str(a), "--same-as", str(b)]) == 1
    assert "first difference at generation 3: search_std" in capsys.readouterr().out
    assert run_blocks.main([str(tmp_path / "none")]) == 2

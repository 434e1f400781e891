"""benchmarks/ablate.py: variants × seeds, each an ordinary training run, tabulated from what the
runs wrote, so that a comparison of configs rests on several seeds and many fresh wirings."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import ablate  # noqa: E402
from conftest import TINY  # noqa: E402


def _fake_run(run: Path, late_pop: float, final: list[float], frozen: list[float]) -> None:
    """A finished run directory as `sfnn train` leaves it: metrics (population mean returns) and summary."""
    run.mkdir(parents=True)
    rows = [{"generation": g, "wall_s": 2.0 * g, "episode_returns/CartPole-v1": [10.0] * 3 + [late_pop * g / 4] * 5}
            for g in range(5)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "summary.json").write_text(json.dumps({
        "generations": 5, "wall_s": 10.0, "generation_s_median": 2.0,
        "per_env": {"CartPole-v1": {"episode_returns_mean": final, "frozen_episode_returns_mean": frozen}}}))


def test_seeds_table_gives_each_seed_their_mean_the_worst_and_the_lifetimes_that_failed(tmp_path):
    late = slice(3, None)
    rows = []
    for seed, (pop, lifetimes) in enumerate([(480.0, [[20, 500, 500, 500, 500, 500, 500, 500],
                                                      [20, 30, 30, 30, 30, 30, 30, 30]]),
                                             (300.0, [[20, 500, 500, 480, 490, 500, 500, 500],
                                                      [20, 400, 450, 476, 476, 476, 476, 476]])]):
        run = tmp_path / "v" / f"s{seed}"
        _fake_run(run, pop, final=[1.0] * 8, frozen=[9.0] * 8)
        mt = run / "meta_test_2.json"
        mt.write_text(json.dumps({"results": {"CartPole-v1": {"agents": {
            "evolved": lifetimes, "frozen": [[9.0] * 8, [11.0] * 8]}}}}))
        row = ablate.row_for("v", [], run, late, [475.0, 100.0], mt)
        row["seed"] = seed
        rows.append(row)
    # the meta-test, not the run's own summary, gives the final genome's figures
    assert rows[0]["envs"]["CartPole-v1"]["final_late_mean"] == pytest.approx((500 + 30) / 2)
    assert rows[0]["envs"]["CartPole-v1"]["frozen_late_mean"] == pytest.approx(10.0)
    # the population mean of episodes 4-8 first reaches 475 at generation 4 (480), never with seed 1 (300)
    assert rows[0]["envs"]["CartPole-v1"]["to_target"]["475.0"] == {"generation": 4, "wall_s": 8.0}
    assert rows[1]["envs"]["CartPole-v1"]["to_target"]["475.0"]["generation"] is None

    (entry,) = ablate.seed_summary(rows, [475.0, 100.0])
    finals = [265.0, (494.0 + 476.0) / 2]
    assert entry["finals"] == pytest.approx(finals)
    assert entry["mean"] == pytest.approx(np.mean(finals))
    assert entry["se"] == pytest.approx(np.std(finals, ddof=1) / np.sqrt(2))
    assert entry["worst"] == pytest.approx(265.0)
    assert entry["reached"] == {"475.0": 1, "100.0": 2}
    # seed 0's second lifetime never learned; 476 is not below 475
    assert entry["lifetimes_below"] == {"475.0": [1, 0], "100.0": [1, 0]}
    table = ablate.seeds_markdown([entry], [475.0, 100.0], late)
    assert "265.0 / 485.0" in table and "| 1 of 2 / 0 | 1 of 2 / 0 |" in table and "| 1 of 2 | 2 of 2 |" in table
    assert ablate.plot_seeds([entry], late, tmp_path / "seeds.png", [475.0]).stat().st_size > 0


def test_bad_seeds_fail_with_a_message():
    for bad in ["0,x", "1,1", "-1", ""]:
        with pytest.raises(SystemExit, match="--seeds"):
            ablate.parse_seeds(bad)
    assert ablate.parse_seeds("2, 0") == [2, 0] and ablate.parse_seeds(None) is None


def test_seeds_run_as_separate_trainings_and_a_report_reads_them_back(tmp_path, capsys):
    base = [o for o in TINY if not o.startswith("strategy.generations")]
    argv = ["configs/default.yaml", *[a for o in base for a in ("--base", o)], "--generations", "2",
            "--seeds", "0,1", "--meta-test", "2", "--target", "20", "--variant", "base=", "--out", str(tmp_path)]
    # TINY's lifetimes have 2 episodes: the default --late (episodes 4-8) would average none of them
    with pytest.raises(SystemExit, match=r"--late 3: averages no episode of variant 'base', whose lifetimes have 2"):
        ablate.main(argv)
    assert not list(tmp_path.iterdir())  # refused before anything ran
    argv += ["--late", "1:"]
    ablate.main(argv)
    for seed in (0, 1):
        run = tmp_path / "base" / f"s{seed}"
        config = (run / "config.yaml").read_text()
        assert f"seed: {seed}" in config and (run / "meta_test_2.json").exists()
    (entry,) = json.loads((tmp_path / "ablations_seeds.json").read_text())
    assert entry["seeds"] == [0, 1] and entry["lifetimes"] == [2, 2]
    # two seeds are two searches: their final genomes differ
    g0, g1 = (np.load(tmp_path / "base" / f"s{s}" / "genomes.npz") for s in (0, 1))
    assert any(not np.array_equal(g0[k], g1[k]) for k in g0.files)
    capsys.readouterr()
    ablate.main([*argv, "--report"])  # runs nothing: the finished runs are read back, the same table
    assert json.loads((tmp_path / "ablations_seeds.json").read_text()) == [entry]
    assert "not finished" not in capsys.readouterr().out

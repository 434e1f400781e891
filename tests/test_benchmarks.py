"""The benchmark helpers that turn saved runs into figures: they read what `sfnn bench` and
`jax.profiler` write, and skip what is not theirs."""

import gzip
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import plot_backends  # noqa: E402
import profile_lifetime  # noqa: E402


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

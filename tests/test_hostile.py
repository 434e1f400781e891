"""Hostile input (docs/RELIABILITY.md): generated configs and command lines end in a valid run
or in one line on stderr with exit status 2, never a traceback or a hang.

The CLI's ``main`` is called in-process with the training itself replaced by a stub: what is
tested is every check between the command line and the first generation (argument parsing,
config loading and validation, environment and dataset checks, run-directory creation).
"""

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import ROOT

CARTPOLE = str(ROOT / "configs/cartpole.yaml")
FAST = settings(max_examples=int(os.environ.get('HYPOTHESIS_EXAMPLES', 60)), deadline=None,
                derandomize="HYPOTHESIS_RANDOM" not in os.environ, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _fields() -> dict[str, object]:
    """Every config field (dotted key) with its default value."""
    from agents.config import TrainConfig, to_dict

    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict) and v:
                yield from flat(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    return dict(flat(to_dict(TrainConfig())))


FIELDS = _fields()
ODD_KEYS = ["model", "strategy", "log", "model.neurons.x", "modle.neurons", "envs.0", "envs[0]", "fitness.ranges.CartPole-v1",
            "fitness.ranges.x.y", "supervised.task_transform", ".seed", "seed.", "a..b", "", " ", "__class__", "model.__dict__"]
SMALL_INTS = st.one_of(st.integers(-3, 70), st.integers(-(2**70), 2**70))
FLOATS = st.one_of(st.floats(-2.0, 2.0), st.floats(allow_nan=True, allow_infinity=True))
ENVS = st.lists(st.sampled_from(["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "CartPol-v1", "CartPole-v1:perm=3",
                                 "CartPole-v1:gravity=-1e30", "CartPole-v1:bogus=1", "sklearn:iris", "synthetic:linear",
                                 "npz:/nonexistent.npz", "idx:a", "", "'"]), max_size=3)
STRINGS = st.sampled_from(["sfnn", "blur", "mlp", "hebbian", "rnn", "es", "gradient", "backprop", "random", "CMA_ES",
                           "SNES", "Sep_CMA_ES", "NotAnES", "RandomSearch", "disabled", "offline", "synapse", "neuron",
                           "fresh", "shared", "fixed", "none", "running", "mean", "product", "accuracy", "loss", ""])
HIDDEN = st.sampled_from(["[]", "[16]", "[4, 4]", "[0]", "[-1]", "[100000000]", "[1.5]", "[a]"])


def _typed(key: str):
    """Values of the field's own type, mostly plausible, often at or beyond its limits."""
    default = FIELDS[key]
    if key == "envs":
        return ENVS.map(lambda names: "[" + ", ".join(names) + "]")
    if key.endswith("hidden"):
        return HIDDEN
    if isinstance(default, bool):
        return st.sampled_from(["true", "false"])
    if isinstance(default, int):
        return SMALL_INTS.map(str)
    if isinstance(default, float):
        return FLOATS.map(repr)
    if isinstance(default, str):
        return STRINGS
    return st.one_of(st.just("null"), SMALL_INTS.map(str), FLOATS.map(repr))  # Optional fields


RAW_VALUES = st.one_of(
    st.sampled_from([
        "1e308", "1e-320", "nan", ".inf", "null", "~", "no", "", " ", "[]", "{}", "[[[[1]]]]", "{a: {b: {c: 1}}}",
        "[1, -1]", "[0, 1e-40]", "${seed}", "${model}", "${oc.env:HOME}", "${oc.decode:'[1'}", "${", "'", '"', "\\",
        "a=b", "=", "[" * 50 + "]" * 50,
    ]),
    st.text(max_size=12),
)
OVERRIDE = st.one_of(
    st.sampled_from(sorted(FIELDS)).flatmap(lambda k: _typed(k).map(lambda v: f"{k}={v}")),
    st.sampled_from(sorted(FIELDS)).flatmap(lambda k: _typed(k).map(lambda v: f"{k}={v}")),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(sorted(FIELDS) + ODD_KEYS), RAW_VALUES),
    st.text(max_size=15),
)


def _out_paths(tmp: Path) -> dict[str, str]:
    """--out choices: fresh, an existing file, below a file, a non-empty directory, unwritable."""
    (tmp / "a_file").write_text("x")
    (tmp / "full").mkdir(exist_ok=True)
    (tmp / "full" / "x").write_text("x")
    return {
        "fresh": str(tmp / "fresh"),
        "file": str(tmp / "a_file"),
        "below a file": str(tmp / "a_file" / "run"),
        "non-empty dir": str(tmp / "full"),
        "unwritable": "/proc/sfnn-test-run",
        "empty": "",
    }


def check_one_line_or_run(code: int, err: str, ran: list) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    event("valid run" if code == 0 else "one-line error")
    assert "Traceback" not in err, err
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("sfnn: error: "), err
        assert not ran
    else:
        assert code == 0 and not lines, (code, err)


@pytest.fixture
def stubbed(monkeypatch, tmp_path):
    """Training and benchmarks replaced by stubs that record their config; cwd a scratch dir."""
    import agents.bench
    import agents.run
    from agents.config import TrainConfig

    ran: list = []

    def train(cfg, run_dir, resume=False):
        assert isinstance(cfg, TrainConfig) and (Path(run_dir) / "config.yaml").is_file()
        ran.append(cfg)
        return {"wall_s": 0.0, "best_fitness": 0.0, "plots": {}}

    def bench(cfg, generations):
        ran.append(cfg)
        return {}

    monkeypatch.setattr(agents.run, "train", train)
    monkeypatch.setattr(agents.bench, "bench", bench)
    monkeypatch.chdir(tmp_path)
    return ran


@FAST
@given(overrides=st.lists(OVERRIDE, max_size=5))
def test_any_overrides_give_a_config_or_a_config_error(overrides):
    from agents.config import ConfigError, TrainConfig, load_config

    try:
        cfg = load_config(None, overrides)
    except ConfigError as e:
        event("ConfigError")
        assert str(e) and "\n" not in str(e)
    else:
        event("valid config")
        assert isinstance(cfg, TrainConfig)


@FAST
@given(
    overrides=st.lists(OVERRIDE, max_size=4),
    with_file=st.booleans(),
    out=st.one_of(st.just("fresh"), st.sampled_from(["file", "below a file", "non-empty dir", "unwritable", "empty", None])),
    data=st.data(),
)
def test_any_train_command_line_runs_or_fails_in_one_line(stubbed, tmp_path, capsys, overrides, with_file, out, data):
    from agents.cli import main

    scratch = Path(tempfile.mkdtemp(dir=tmp_path))
    argv = ["train", *([CARTPOLE] if with_file else []), *overrides]
    if out is not None:
        argv += ["--out", _out_paths(scratch)[out]]
    if data.draw(st.integers(0, 4)) == 0:
        argv.append(data.draw(st.sampled_from(["--resume", str(scratch), "--bogus", "-h", "--out"])))
    stubbed.clear()
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    if "-h" in argv and code == 0:
        return
    check_one_line_or_run(code, captured.err, [] if code == 0 else stubbed)
    if code == 0:
        assert len(stubbed) == 1
    elif out == "fresh":
        assert not (scratch / "fresh").exists()  # a refused command creates nothing


@FAST
@given(argv=st.lists(st.one_of(
    st.sampled_from(["train", "meta-test", "bench", "--env", "--lifetimes", "--steps", "--out", "--generations",
                     "--resume", "CartPole-v1", "sklearn:iris", "-1", "0", "3", "1e9", "nope", "/proc", "/nonexistent",
                     CARTPOLE, "strategy.population=4", "strategy.population=-4", "--", "-"]),
    st.text(max_size=8)), max_size=6))
def test_any_command_line_runs_or_fails_in_one_line(stubbed, capsys, argv):
    from agents.cli import main

    stubbed.clear()
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    if code == 0 and ("-h" in argv or "--help" in argv):
        return
    check_one_line_or_run(code, captured.err, [] if code == 0 else stubbed)


@pytest.mark.parametrize("override, needle", [
    ("strategy.population=100000000000", "strategy.population"),
    ("model.neurons=1000000", "model.neurons"),
    ("lifetime.episodes=1000000000", "lifetime.episodes"),
    ("seed=-1", "seed"),
    ("seed=18446744073709551616", "seed"),
    ("strategy.generations=3000000000", "strategy.generations"),
    ("model.hidden=[100000000]", "model.hidden"),
])
def test_absurd_sizes_are_refused_before_anything_is_created(stubbed, tmp_path, capsys, override, needle):
    from agents.cli import main

    out = tmp_path / "run"
    assert main(["train", CARTPOLE, override, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not out.exists() and not stubbed

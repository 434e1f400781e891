"""Reliability (docs/RELIABILITY.md): crashes, damaged files, numerical faults, outside failures.

The crash test kills a real ``sfnn train`` process with SIGKILL. Everything else drives
``train`` in-process with one shared, already compiled ``Trainer`` and a stub ``finish`` (the
final evaluation is not what these tests are about), so each run costs about a second; the
reference is one such uninterrupted run, and damaged run directories are copies of it.
"""

import gc
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT, SFNN, TINY

# orbax leaves tensorstore handles to the garbage collector when it fails to read damaged files
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
CARTPOLE = str(ROOT / "configs/cartpole.yaml")
# TINY, smaller still; a checkpoint after every generation, the last three kept
# (SNES: no covariance update, so a generation costs milliseconds once compiled)
RUN = [*TINY, "model.neurons=12", "lifetime.max_steps=20", "strategy.name=SNES", "strategy.generations=4",
       "log.keep_checkpoints=3"]


@pytest.fixture(autouse=True)
def _collect_orbax_leftovers():
    """Let orbax's abandoned reads be collected here, where their warnings are filtered."""
    yield
    gc.collect()


def rows(run_dir):
    """metrics.jsonl without wall-time fields."""
    out = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in out]


def tree_files(path):
    """{relative path: sha256} of every file below ``path``."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*")) if p.is_file()}


def stderr_lines(text):
    return [line for line in text.strip().splitlines() if line.strip()]


CACHE_OPTIONS = {"jax_compilation_cache_dir": None, "jax_persistent_cache_min_compile_time_secs": 0,
                 "jax_persistent_cache_min_entry_size_bytes": 0}


@pytest.fixture(scope="module")
def compile_cache(tmp_path_factory):
    """JAX's persistent compilation cache, on for this module: the programs compiled here are
    read back by the ``sfnn train`` process that the crash test kills, so the module compiles
    once instead of twice (results are unaffected). Without the private hook, it compiles twice."""
    try:
        from jax._src.compilation_cache import reset_cache
    except ImportError:
        yield {}
        return
    path = str(tmp_path_factory.mktemp("jax_cache"))
    old = {k: getattr(jax.config, k) for k in CACHE_OPTIONS}
    for k, v in {**CACHE_OPTIONS, "jax_compilation_cache_dir": path}.items():
        jax.config.update(k, v)
    reset_cache()
    yield {"JAX_COMPILATION_CACHE_DIR": path, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    for k, v in old.items():
        jax.config.update(k, v)
    reset_cache()


@pytest.fixture(scope="module")
def trainer(compile_cache):
    from agents.config import load_config
    from agents.trainer import Trainer

    return Trainer.build(load_config(CARTPOLE, RUN))


def _patch(mp, trainer, hooks):
    """``train`` in-process with the module's compiled trainer and a stub ``finish``; a
    function in ``hooks["wrap"]`` (generation fn -> generation fn) injects faults."""
    import agents.run as run

    def build(cfg):
        if hooks.get("wrap") is None:
            return trainer
        return types.SimpleNamespace(cfg=trainer.cfg, es=trainer.es, init_state=trainer.init_state,
                                     devices=trainer.devices, generation=hooks["wrap"](trainer.generation))

    def finish(cfg, tr, state, metrics, run_dir, logger):
        s = {"wall_s": metrics[-1]["wall_s"], "best_fitness": 0.0, "plots": {}}
        (run_dir / "summary.json").write_text(json.dumps(s))
        return s

    mp.setattr(run, "Trainer", types.SimpleNamespace(build=build))
    mp.setattr(run, "family", lambda cfg: types.SimpleNamespace(finish=finish))


@pytest.fixture
def fast(monkeypatch, trainer):
    hooks = {"wrap": None}
    _patch(monkeypatch, trainer, hooks)
    return hooks


@pytest.fixture(scope="module")
def reference(tmp_path_factory, trainer):
    """An uninterrupted run (in-process, stub finish): checkpoints 2, 3, 4 (keep 3) and metrics."""
    from agents.cli import main

    out = tmp_path_factory.mktemp("ref") / "run"
    with pytest.MonkeyPatch.context() as mp:
        _patch(mp, trainer, {})
        assert main(["train", CARTPOLE, *RUN, "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["2", "3", "4"]
    return out


def checkpoint_state(run_dir, step, template):
    from agents import checkpoint as ckpt

    mngr = ckpt.manager(run_dir / "checkpoints", 10)
    r = ckpt.restore_newest_good(mngr, template)
    assert r.step == step
    return r.state, r.meta


def assert_same_tree(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ------------------------------------------------------------------------------ 1. crashes


def test_sigkill_at_any_moment_resumes_exactly(reference, tmp_path, trainer, fast, capsys, compile_cache):
    """A real ``sfnn train`` killed with SIGKILL right after its first checkpoint, i.e. in the
    middle of a generation or a checkpoint write, continues with ``--resume`` exactly: the same
    metrics and the same final ES state (summary.json is a deterministic function of both)."""
    from agents.cli import main

    out = tmp_path / "killed"
    proc = subprocess.Popen([*SFNN, "train", CARTPOLE, *RUN, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **compile_cache})
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        ck = out / "checkpoints"
        if ck.is_dir() and any(p.name.isdigit() for p in ck.iterdir()):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert not (out / "summary.json").exists()
    assert main(["train", "--resume", str(out)]) == 0, capsys.readouterr().err  # in-process: the CLI's code
    assert rows(out) == rows(reference)  # no torn, missing or duplicated line
    assert all(json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines())
    assert_same_tree(checkpoint_state(out, 4, trainer.init_state())[0],
                     checkpoint_state(reference, 4, trainer.init_state())[0])


def test_killed_checkpoint_write_and_corrupt_checkpoint_fall_back(reference, tmp_path, trainer, fast, capsys):
    """Checkpoint 4 was being written when the process died (orbax's tmp directory, no
    commit), checkpoint 3 is damaged, metrics.jsonl ends in a torn line: resume uses 2."""
    from agents.config import load_config
    from agents.run import train

    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    ck = run_dir / "checkpoints"
    (ck / "4").rename(ck / "4.orbax-checkpoint-tmp")
    (ck / "4.orbax-checkpoint-tmp" / "commit_success.txt").unlink()
    meta_file = ck / "3" / "meta" / "metadata"
    meta = json.loads(meta_file.read_text())
    meta["metrics"][0]["best_fitness"] += 1.0  # still valid JSON: only the checksum can tell
    meta_file.write_text(json.dumps(meta))
    damaged, good = tree_files(ck / "3"), tree_files(ck / "2")
    (run_dir / "metrics.jsonl").write_text((run_dir / "metrics.jsonl").read_text()[:-25])
    capsys.readouterr()

    train(load_config(run_dir / "config.yaml"), run_dir, resume=True)

    err = stderr_lines(capsys.readouterr().err)
    assert len(err) == 1 and "checkpoint 3 unusable" in err[0] and "resuming from checkpoint 2" in err[0], err
    assert tree_files(run_dir / "checkpoints_unusable" / "3") == damaged  # kept, byte for byte
    assert tree_files(ck / "2") == good
    assert rows(run_dir) == rows(reference)
    ref_state, ref_meta = checkpoint_state(reference, 4, trainer.init_state())
    state, meta = checkpoint_state(run_dir, 4, trainer.init_state())
    assert_same_tree(state, ref_state)
    assert [{k: v for k, v in m.items() if k != "wall_s"} for m in meta["metrics"]] == rows(reference)


# --------------------------------------------------------------------------- 2. corruption


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _largest(directory):
    return max((p for p in directory.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


DAMAGE = {
    "meta edited": lambda c: (c / "meta" / "metadata").write_text(
        (c / "meta" / "metadata").read_text().replace('"generation": 4', '"generation": 5')),
    "meta truncated": lambda c: (c / "meta" / "metadata").write_bytes((c / "meta" / "metadata").read_bytes()[:40]),
    "state byte flipped": lambda c: _flip(_largest(c / "state")),
    "state truncated": lambda c: _largest(c / "state").write_bytes(_largest(c / "state").read_bytes()[:30]),
    "state file missing": lambda c: _largest(c / "state").unlink(),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_checkpoint_is_detected_and_skipped(reference, tmp_path, trainer, damage):
    from agents import checkpoint as ckpt

    ck = tmp_path / "checkpoints"
    shutil.copytree(reference / "checkpoints", ck)
    pristine = tree_files(ck)
    DAMAGE[damage](ck / "4")
    before = tree_files(ck)
    assert before != pristine
    got = ckpt.restore_newest_good(ckpt.manager(ck, 3), trainer.init_state())
    assert got.step == 3 and list(got.skipped) == [4]
    assert tree_files(ck) == before  # restoring changes nothing


def test_no_usable_checkpoint_is_one_line_error_and_nothing_changes(reference, tmp_path, fast, capsys):
    from agents.cli import main

    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    for step in ("2", "3", "4"):
        _flip(_largest(run_dir / "checkpoints" / step / "state"))
    before = tree_files(run_dir)
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir)]) == 2
    err = stderr_lines(capsys.readouterr().err)
    assert len(err) == 1 and "no usable checkpoint" in err[0], err
    assert tree_files(run_dir) == before


CONFIG_DAMAGE = {
    "binary garbage": (b"\xff\xfe\x00garbage\x80", "not valid YAML"),
    "torn YAML": (b"seed: 0\nmodel: {kind: sfnn, plasticity: syn", "not valid YAML"),
    "not a mapping": (b"- a\n- b\n", "mapping"),
    "unknown key": (b"modle: {}\n", "unknown key"),
    "other model": (None, "does not match checkpoint 4"),
}


@pytest.mark.parametrize("damage", sorted(CONFIG_DAMAGE))
def test_damaged_config_yaml_is_one_line_error(reference, tmp_path, fast, capsys, damage):
    from agents.cli import main

    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    content, needle = CONFIG_DAMAGE[damage]
    if content is None:
        content = (run_dir / "config.yaml").read_bytes().replace(b"neurons: 12", b"neurons: 10")
    (run_dir / "config.yaml").write_bytes(content)
    before = tree_files(run_dir)
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir)]) == 2
    err = stderr_lines(capsys.readouterr().err)
    assert len(err) == 1 and needle in err[0] and "config.yaml" in err[0], err
    assert tree_files(run_dir) == before


# --------------------------------------------------------------------- 3. numerical faults


def test_all_nonfinite_generation_stops_after_a_checkpoint(tmp_path, trainer, fast, capsys):
    from agents.cli import main

    seen = {}

    def wrap(generation):
        def gen_fn(state, g):
            seen[int(g)] = state
            new, m = generation(state, g)
            if int(g) == 3:  # every member's lifetime blew up
                m = {**m, "best_fitness": jnp.nan, "mean_fitness": jnp.nan, "nonfinite": jnp.int32(8)}
            return new, m

        return gen_fn

    fast["wrap"] = wrap
    out = tmp_path / "nan"
    capsys.readouterr()
    code = main(["train", CARTPOLE, *RUN, "strategy.generations=6", "log.checkpoint_every=2", "--out", str(out)])
    err = stderr_lines(capsys.readouterr().err)
    assert code == 2 and len(err) == 1, err
    assert "generation 3" in err[0] and "NaN or infinite" in err[0] and "checkpoint 3" in err[0]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["2", "3"]
    state, meta = checkpoint_state(out, 3, trainer.init_state())
    assert_same_tree(state, seen[3])  # the state before the failed generation
    assert [m["generation"] for m in meta["metrics"]] == [0, 1, 2]
    assert [r["generation"] for r in rows(out)] == [0, 1, 2]


# --------------------------------------------------------------------- 4. outside failures


def test_wandb_and_checkpoint_write_failures_do_not_stop_the_run(tmp_path, fast, monkeypatch, capsys):
    """wandb cannot start (offline mode on a full disk) and checkpoint 3 hits a full disk:
    one warning each, the run completes with local logs, earlier checkpoints stay intact."""
    import errno

    import orbax.checkpoint as ocp
    import wandb

    from agents.cli import main

    def no_wandb(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    real_save, snapshot = ocp.CheckpointManager.save, {}

    def save(self, step, *a, **k):
        if step == 3:
            snapshot.update(tree_files(Path(self.directory)))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, step, *a, **k)

    monkeypatch.setattr(wandb, "init", no_wandb)
    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    out = tmp_path / "run"
    capsys.readouterr()
    code = main(["train", CARTPOLE, *RUN, "log.wandb=offline", "log.keep_checkpoints=5", "--out", str(out)])
    err = stderr_lines(capsys.readouterr().err)
    assert code == 0, err
    assert len(err) == 2, err
    assert "wandb disabled" in err[0] and "No space left" in err[0]
    assert "checkpoint 3 not saved" in err[1] and "newest: 2" in err[1]
    assert [r["generation"] for r in rows(out)] == [0, 1, 2, 3]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["1", "2", "4"]
    after = tree_files(out / "checkpoints")
    assert {k: after[k] for k in snapshot} == snapshot  # checkpoints 1 and 2 untouched


def test_wandb_log_failure_is_reported_once(tmp_path, monkeypatch, capsys):
    import wandb

    from agents.config import load_config
    from agents.run import _Wandb

    calls = []

    class Run:
        id = "abc"

        def log(self, *a, **k):
            calls.append(a)
            raise ConnectionError("network unreachable")

    monkeypatch.setattr(wandb, "init", lambda **k: Run())
    logger = _Wandb(load_config(None, ["log.wandb=online"]), tmp_path, None)
    for step in range(3):
        logger.log({"best_fitness": 1.0}, step)
    logger.finish({"best_fitness": 1.0})
    err = stderr_lines(capsys.readouterr().err)
    assert len(calls) == 1 and len(err) == 1 and "wandb logging stopped" in err[0]


# ------------------------------------------------------------------------ 5. hostile files


class _Payload:
    """Unpickling this creates a file: proof that a pickle was executed."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("kind", ["object array", "raw pickle member", "string x", "complex x"])
def test_hostile_dataset_files_are_refused(tmp_path, kind):
    import zipfile

    from envs import datasets as D

    marker, path = tmp_path / "pwned", tmp_path / "data.npz"
    y = np.arange(10) % 2
    if kind == "object array":
        np.savez(path, x=np.array([_Payload(str(marker))] * 10, dtype=object), y=y)
    elif kind == "raw pickle member":
        np.savez(path, y=y)
        with zipfile.ZipFile(path, "a") as z:
            z.writestr("x", pickle.dumps(_Payload(str(marker))))
    elif kind == "string x":
        np.savez(path, x=np.full((10, 3), "abc"), y=y)
    else:
        np.savez(path, x=np.ones((10, 3), complex), y=y)
    with pytest.raises(D.DatasetError) as info:
        D.load_dataset(f"npz:{path}")
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_atomic_writes_leave_the_old_file_or_the_new_one(tmp_path, monkeypatch):
    """summary.json, genomes.npz, metrics.jsonl, config.yaml and meta_test.json go through these."""
    from agents import files

    path = tmp_path / "summary.json"
    files.write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        files.write_json_atomic(path, {"a": object()})  # fails before anything is written
    assert json.loads(path.read_text()) == {"a": 1}

    def torn_write(self, data):  # a disk that fills up half-way through the write
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", torn_write)
    with pytest.raises(OSError):
        files.savez_atomic(path, {"x": np.zeros(3)})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary file left behind


_EIGH = """
import hashlib, numpy as np, jax, jax.numpy as jnp
from agents.trainer import single_threaded_blas
single_threaded_blas()
a = np.random.default_rng(0).standard_normal((600, 600)).astype(np.float32)
w, v = jax.jit(jnp.linalg.eigh)(jnp.asarray(a @ a.T / 600))  # CMA-ES's decomposition, at a genome's size
print(hashlib.sha256(np.asarray(w).tobytes() + np.asarray(v).tobytes()).hexdigest())
"""


@pytest.mark.skipif(shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2, reason="needs taskset and 2 cores")
def test_es_linear_algebra_gives_the_same_bits_on_one_core_and_on_two():
    """OpenBLAS splits an eigendecomposition by its thread count: without ``single_threaded_blas``
    these two differ (measured), and with them a whole run after its first generation."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    two = subprocess.run([sys.executable, "-c", _EIGH], capture_output=True, text=True, env=env, check=True)
    one = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", _EIGH], capture_output=True, text=True, env=env, check=True)
    assert one.stdout.strip() and one.stdout == two.stdout


def test_a_trainer_puts_blas_on_one_thread():
    """In a fresh process (this one's conftest has already done it): building a Trainer is enough."""
    code = (
        "import json\nfrom threadpoolctl import threadpool_info\n"
        "from agents.config import load_config\n"
        "from agents.trainer import Trainer\n"
        "before = max(i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas')\n"
        "Trainer.build(load_config('configs/cartpole.yaml', ['strategy.population=4', 'model.neurons=8']))\n"
        "print(json.dumps([before, [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OPENBLAS_NUM_THREADS", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert after and all(n == 1 for n in after), out.stdout
    if len(os.sched_getaffinity(0)) > 1:
        assert before > 1  # so the Trainer is what changed it

"""BLUR meta-training and meta-testing through the shared trainer, run directories and CLI."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.supervised import meta
from agents.supervised import tasks as dtasks
from agents.cli import main as sfnn_main
from agents.config import ConfigError, load_config, save_config
from agents.trainer import Trainer
from conftest import assert_resumes_exactly, run_cli

BLUR = "configs/blur_digits.yaml"
# small enough for a test: one dataset, short inner runs, a small network, few members
TINY_BLUR = [
    "envs=[sklearn:digits]",
    "supervised.hidden=[8]",
    "supervised.inner_steps=10",
    "supervised.batch_size=16",
    "supervised.tasks_per_member=2",
    "supervised.task_transform.project_dim=16",
    "strategy.population=8",
    "log.wandb=disabled",
    "log.final_lifetimes=2",
    "log.progress=false",
]


def metrics(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


# ----------------------------------------------------------------------------- config


def test_blur_config_is_typed_and_loads():
    cfg = load_config(BLUR, ["log.wandb=disabled", "supervised.hidden=[16,8]", "supervised.task_transform.classes=3"])
    assert cfg.model.kind == "blur" and cfg.supervised.hidden == [16, 8] and cfg.supervised.task_transform.classes == 3
    assert isinstance(cfg.blur.states, int) and isinstance(cfg.supervised.meta_lr, float)
    assert cfg.supervised.objective in ("accuracy", "loss") and cfg.supervised.meta in ("es", "gradient")


BAD_CONFIG = [
    (["envs=[sklearn:digts]"], "did you mean sklearn:digits"),
    (["envs=[CartPole-v1]"], "is an environment"),
    (["envs=[CartPole-v1:perm=3]"], "is an environment"),
    (["envs=[npz:/nonexistent/file.npz]"], "not found"),
    (["blur.states=two"], "blur.states"),
    (["supervised.hidden=[a]"], "supervised.hidden"),
    (["blur.speed=3"], "unknown key"),
    (["supervised.objective=speed"], "supervised.objective"),
    (["supervised.meta=adam"], "supervised.meta"),
    (["supervised.inner_steps=10", "supervised.truncation=3"], "must divide"),
    (["supervised.tasks_per_member=2"], "fewer than the 3 datasets"),
    (["supervised.task_transform.classes=1"], "classes"),
    (["envs=[sklearn:digits,sklearn:digits]"], "twice"),
    (["fitness.worst_fraction=0.5"], "applies to lifetimes in environments"),
]


@pytest.mark.parametrize("overrides,needle", BAD_CONFIG, ids=[" ".join(o) for o, _ in BAD_CONFIG])
def test_bad_blur_config_is_one_line(overrides, needle):
    with pytest.raises(ConfigError) as e:
        load_config(BLUR, overrides)
    msg = str(e.value)
    assert needle in msg and "\n" not in msg, msg


def test_dataset_name_in_an_sfnn_config_is_refused():
    with pytest.raises(ConfigError, match="is a dataset"):
        load_config("configs/cartpole.yaml", ["envs=[sklearn:wine]"])


def test_class_subset_larger_than_a_dataset_is_refused():
    cfg = load_config(BLUR, ["envs=[sklearn:wine]", "supervised.tasks_per_member=1", "supervised.task_transform.classes=5"])
    with pytest.raises(ConfigError, match="only 3 classes"):
        dtasks.load_sources(cfg)


# ------------------------------------------------------------------------------ tasks


def test_tasks_are_keyed_by_generation_and_index_and_shared():
    cfg = load_config(BLUR, [*TINY_BLUR, "supervised.task_transform.classes=4"])
    src = dtasks.load_sources(cfg)
    data = dtasks.datas(src)
    fn = jax.jit(lambda d, g: dtasks.generation_tasks(cfg, src, d, jax.random.key(0), g)[0])
    a, b, c = fn(data, 3), fn(data, 3), fn(data, 4)
    np.testing.assert_array_equal(a.xs, b.xs)
    assert not np.array_equal(a.xs, c.xs)
    assert a.xs.shape == (2, 10, 16, 16) and a.w0[0].shape == (2, 16, 8, 2)
    assert set(np.unique(a.ys)) <= set(range(4))
    y_val = np.asarray(a.y_val)
    assert (y_val == -1).any() and set(np.unique(y_val)) <= set(range(-1, 4))  # held-out: other classes masked
    np.testing.assert_array_equal(a.w0[0][..., 0], a.w0[0][..., 1])  # tied states


def _original_labels(rows, data):
    """The dataset label of each row of ``rows`` (rows of the training split, found by value)."""
    where = {np.asarray(x).tobytes(): int(y) for x, y in zip(np.asarray(data.x_train), np.asarray(data.y_train))}
    return np.array([where[np.asarray(r).tobytes()] for r in rows])


def test_a_task_relabels_its_chosen_classes_the_same_way_in_support_and_held_out_sets():
    """The n-way subset and label permutation that meta-training uses (``tasks.sample_task``):
    n dataset classes become labels 0..n-1, one bijection for the batches and the held-out
    set, every other class −1 there; which classes and which labels change with the key."""
    cfg = load_config(BLUR, [*TINY_BLUR, "supervised.task_transform.classes=3", "supervised.task_transform.project_dim=null"])
    src = dtasks.load_sources(cfg)[0]
    sample = jax.jit(lambda k: dtasks.sample_task(cfg, src, src.data, k, 10))
    maps = []
    for seed in range(4):
        task = sample(jax.random.key(seed))
        held = {int(o): int(n) for o, n in zip(np.asarray(src.data.y_val), np.asarray(task.y_val))}
        chosen = {o: n for o, n in held.items() if n >= 0}
        assert sorted(chosen.values()) == [0, 1, 2] and set(held.values()) == {-1, 0, 1, 2}
        orig = _original_labels(task.xs.reshape(-1, task.xs.shape[-1]), src.data)
        assert [chosen[o] for o in orig] == np.asarray(task.ys).reshape(-1).tolist()  # same bijection
        maps.append(chosen)
    assert len({tuple(sorted(m.items())) for m in maps}) > 1


def test_a_task_projects_batches_and_held_out_set_through_one_matrix():
    cfg = load_config(BLUR, [*TINY_BLUR, "supervised.task_transform.project_dim=9"])
    src = dtasks.load_sources(cfg)[0]
    task = jax.jit(lambda k: dtasks.sample_task(cfg, src, src.data, k, 10))(jax.random.key(3))
    x_val = np.asarray(src.data.x_val, np.float64)
    proj = np.linalg.lstsq(x_val, np.asarray(task.x_val, np.float64), rcond=None)[0]  # (64, 9)
    np.testing.assert_allclose(x_val @ proj, task.x_val, atol=1e-4)  # the held-out set: one linear map
    projected = np.asarray(src.data.x_train, np.float64) @ proj
    batches = np.asarray(task.xs, np.float64).reshape(-1, 9)
    nearest = np.min(np.linalg.norm(batches[:, None, :] - projected[None], axis=-1), axis=1)
    assert nearest.max() < 1e-3  # every batch row is a training row through the same matrix


# --------------------------------------------------------------------- meta-training


def _scores(cfg, tr, *genomes):
    """Mean held-out accuracy after T steps on the same fresh tasks, for each genome."""
    ev = meta.evaluator(cfg, tr.tasks, 8, jax.random.key(123))
    outs = [ev(g, dtasks.datas(tr.tasks)) for g in genomes]
    return [float(np.mean([np.asarray(c["acc"][:, -1]) for c in out.values()])) for out in outs]


def _train(cfg, generations):
    tr = Trainer.build(cfg)
    state = tr.init_state()
    for g in range(generations):
        state, _ = tr.generation(state, jnp.int32(g))
    return tr, state


def test_es_meta_training_improves_the_learning_rule():
    cfg = load_config(BLUR, [*TINY_BLUR, "strategy.population=16"])
    tr, state = _train(cfg, 12)
    start, end = _scores(cfg, tr, tr.start_genome(), tr.mean_genome(state))
    assert end > start + 0.2, (start, end)


def test_gradient_meta_training_improves_and_checkpoints_exactly(tmp_path):
    cfg = load_config(BLUR, [*TINY_BLUR, "supervised.meta=gradient", "blur.init=backprop", "supervised.truncation=5",
                             "supervised.meta_lr=0.05"])
    tr, state = _train(cfg, 15)
    start, end = _scores(cfg, tr, tr.start_genome(), tr.mean_genome(state))
    assert end > start + 0.1, (start, end)
    # the state (genome, Adam's state, best genome) survives an orbax round trip exactly
    assert_resumes_exactly(tr, state, 15, tmp_path)


# ------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory):
    """A JAX compilation cache shared by this module's CLI processes: the runs compile the
    same programs, so only the first pays for compilation (results are unaffected)."""
    return {
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.mktemp("jax_cache")),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }


@pytest.fixture(scope="module")
def blur_run(tmp_path_factory, cache_env):
    out = tmp_path_factory.mktemp("blur") / "run"
    r = run_cli("train", BLUR, *TINY_BLUR, "strategy.generations=4", "--out", str(out), env=cache_env)
    assert r.returncode == 0, r.stderr
    return out, r


def test_train_writes_a_blur_run_directory(blur_run):
    out, r = blur_run
    for name in ["config.yaml", "metrics.jsonl", "summary.json", "genomes.npz", "training_curve.png",
                 "accuracy_sklearn_digits.png"]:
        assert (out / name).is_file(), name
    assert any((out / "checkpoints").iterdir())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["generation"] for m in rows] == [0, 1, 2, 3]
    for m in rows:
        assert {"best_fitness", "mean_fitness", "wall_s", "val_accuracy/sklearn:digits"} <= set(m)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_genome"] in ("es_mean", "es_best")
    assert 0.0 <= summary["per_dataset"]["sklearn:digits"]["accuracy_after_T"] <= 1.0
    assert "held-out accuracy after 10 steps" in r.stdout


def test_the_final_genome_is_reported_on_tasks_other_than_those_that_chose_it(blur_run):
    """Tasks 0..n-1 choose between the ES mean and best; the summary reports the winner on n..2n-1."""
    from agents.rundir import load_genome, load_run_config

    out, _ = blur_run
    summary = json.loads((out / "summary.json").read_text())
    cfg = load_run_config(out)
    sources = dtasks.load_sources(cfg)
    n = summary["final_tasks_per_dataset"]
    key = jax.random.fold_in(jax.random.key(cfg.seed), dtasks.FINAL_STREAM)
    curves = meta.evaluator(cfg, sources, 2 * n, key)(load_genome(out, cfg), dtasks.datas(sources))
    acc = np.asarray(curves["sklearn:digits"]["acc"])[:, -1]
    reported = summary["per_dataset"]["sklearn:digits"]["accuracy_after_T"]
    assert reported == pytest.approx(float(acc[n:].mean()), abs=1e-4)
    assert reported != pytest.approx(float(acc[:n].mean()), abs=1e-4)


def test_choose_scores_a_dataset_runs_checkpoints_on_tasks_of_their_own(blur_run, tmp_path):
    """sfnn choose on a dataset run: each kept checkpoint's genome by the final evaluation's
    objective (accuracy after T steps), on fresh tasks of a stream the final evaluation never uses."""
    from agents.choose import choose_checkpoint
    from agents.rundir import checkpoint_genome, load_run_config

    out, _ = blur_run
    doc = choose_checkpoint(out, lifetimes=4, seed=10, out=tmp_path / "choose.json")
    kept = sorted(int(p.name) for p in (out / "checkpoints").iterdir() if p.name.isdigit())
    assert sorted(r["step"] for r in doc["ranking"]) == kept and doc["chosen"] == doc["ranking"][0]["step"]
    cfg, sources = load_run_config(out), dtasks.load_sources(load_run_config(out))
    genome, _ = checkpoint_genome(out, 4)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(cfg.seed), dtasks.CHOOSE_STREAM), 10)
    acc = np.asarray(meta.evaluator(cfg, sources, 4, key)(genome, dtasks.datas(sources))["sklearn:digits"]["acc"])[:, -1]
    row = next(r for r in doc["ranking"] if r["step"] == 4)
    assert row["fitness"] == pytest.approx(float(acc.mean()), abs=1e-5)
    assert row["fitness_se"] == pytest.approx(float(acc.std(ddof=1) / 2), abs=1e-5)  # 4 tasks
    assert row["final_objective"]["sklearn:digits"] == pytest.approx(float(acc.mean()), abs=1e-4)


def test_blur_resume_gives_the_same_metrics(blur_run, tmp_path, cache_env):
    full, _ = blur_run
    part = tmp_path / "part"
    r = run_cli("train", BLUR, *TINY_BLUR, "strategy.generations=2", "--out", str(part), env=cache_env)
    assert r.returncode == 0, r.stderr
    r = run_cli("train", "--resume", str(part), "strategy.generations=4", env=cache_env)
    assert r.returncode == 0, r.stderr
    assert metrics(part) == metrics(full)


def test_meta_test_on_an_unseen_dataset_with_other_sizes(blur_run, tmp_path):
    out, _ = blur_run
    dest = tmp_path / "mt.json"
    r = run_cli("meta-test", str(out), "--env", "sklearn:wine", "--lifetimes", "2", "--out", str(dest))
    assert r.returncode == 0, r.stderr
    doc = json.loads(dest.read_text())
    res = doc["results"]["sklearn:wine"]
    assert res["metric"] == "accuracy" and res["x"] == list(range(11))
    assert res["n_features"] == 13 and res["n_classes"] == 3  # trained on 16 projected features, 10 classes
    assert set(res["agents"]) == {"blur", "backprop_genome", "sgd", "adam"}
    for curves in res["agents"].values():
        assert len(curves) == 2 and all(len(c) == 11 and all(0 <= v <= 1 for v in c) for c in curves)
    # the backprop genome is SGD at SGD's tuned step, from the same weights and batches
    np.testing.assert_allclose(res["agents"]["backprop_genome"], res["agents"]["sgd"], atol=0.02)
    assert doc["learning_rates"]["sgd"]["lr"] in doc["learning_rates"]["sgd"]["grid"]
    assert (tmp_path / "mt_sklearn_wine.png").is_file()


def test_meta_test_with_the_wrong_kind_of_task_is_one_line_exit_2(blur_run, tmp_path, capsys):
    """Through the CLI's entry point in this process (a subprocess each would only add start-up time)."""
    out, _ = blur_run
    sfnn_run = tmp_path / "sfnn"
    sfnn_run.mkdir()
    save_config(load_config("configs/cartpole.yaml", ["log.wandb=disabled"]), sfnn_run / "config.yaml")
    cases = [
        (["meta-test", str(out), "--env", "CartPole-v1", "--lifetimes", "1"], "is an environment"),
        (["meta-test", str(sfnn_run), "--env", "sklearn:wine"], "is a dataset"),
        (["train", BLUR, "envs=[sklearn:wnie]", "--out", str(tmp_path / "new")], "did you mean sklearn:wine"),
    ]
    for args, needle in cases:
        assert sfnn_main(args) == 2, args
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "new").exists()

"""The supervised-learner registry: learned optimizer, MAML and Reptile beside BLUR.

Exact identities first (the learned optimizer at its start is SGD; MAML with no inner step
is the query gradient at the initialisation; Reptile's one-step direction is lr·gradient),
then short meta-training runs that must improve held-out accuracy on fixed tasks and resume
bit-identically, then one CLI round: train, resume, meta-test with ``--compare``.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_resumes_exactly

from agents.supervised import learners, meta
from agents.supervised import tasks as dtasks
from agents.cli import main as sfnn_main
from agents.config import EITHER_KINDS, SUPERVISED_KINDS, ConfigError, is_supervised, load_config
from agents.trainer import Trainer
from sfnn import learned_optimizer, maml, optimizee

BLUR = "configs/blur_digits.yaml"
TINY = [
    "envs=[sklearn:digits]",
    "supervised.hidden=[8]",
    "supervised.inner_steps=10",
    "supervised.batch_size=16",
    "supervised.tasks_per_member=4",
    "supervised.task_transform.project_dim=16",
    "supervised.task_transform.classes=4",
    "supervised.meta=gradient",
    "log.wandb=disabled",
    "log.final_lifetimes=2",
    "log.progress=false",
]


def tiny(kind, *extra):
    return load_config(BLUR, [*TINY, f"model.kind={kind}", *extra])


def one_task(cfg, steps=6, seed=0):
    src = dtasks.load_sources(cfg)[0]
    return jax.jit(lambda d, k: dtasks.sample_task(cfg, src, d, k, steps))(src.data, jax.random.key(seed))


def test_every_dataset_kind_is_registered():
    assert set(learners.SUPERVISED) == set(SUPERVISED_KINDS) | set(EITHER_KINDS)  # config validates by these names
    from agents.config import CHOICES
    from agents.rl.policy import ENV_LEARNERS

    # every other kind acts in environments: each kind has its entry in its wing's registry, none is missing
    assert set(ENV_LEARNERS) == set(CHOICES["model.kind"]) - set(SUPERVISED_KINDS)


def test_which_runs_learn_on_datasets():
    assert is_supervised(tiny("maml")) and not is_supervised(load_config("configs/cartpole.yaml", check=False))
    for kind in EITHER_KINDS:  # datasets or environments, decided by envs, never a mix
        assert not is_supervised(load_config(BLUR, [f"model.kind={kind}", "envs=[CartPole-v1]"], check=False))
        assert is_supervised(load_config(BLUR, [f"model.kind={kind}"], check=False))
        with pytest.raises(ConfigError, match="mixes datasets and environments"):
            load_config(BLUR, [*TINY, f"model.kind={kind}", "envs=[sklearn:digits,CartPole-v1]"])


# --------------------------------------------------------------------- exact identities


def test_learned_optimizer_at_its_start_is_sgd():
    """Zero output layer: −lr·gradient exactly, whatever the (random) LSTM weights, over 8 steps."""
    cfg = tiny("learned_opt", "learned_opt.lr=0.7")
    task = one_task(cfg, steps=8)
    genome = learners.SUPERVISED["learned_opt"].template(cfg, jax.random.key(3))
    assert np.abs(genome["w_h"]).max() > 0.1  # a random LSTM: only its output layer is zero
    ws = [w[..., 0] for w in task.w0]
    opts = {"learned": learned_optimizer.transformation(genome), "sgd": optax.sgd(0.7)}

    @jax.jit
    def train(ws):
        out = {}
        for name, opt in opts.items():
            w, s = ws, opt.init(ws)
            for x, y in zip(task.xs, task.ys):
                u, s = opt.update(jax.grad(optimizee.loss)(w, x, y), s, w)
                w = optax.apply_updates(w, u)
            out[name] = w
        return out

    out = train(ws)
    for a, b, w0 in zip(out["learned"], out["sgd"], ws):
        assert np.abs(np.asarray(b - w0)).max() > 1e-2  # the weights did move
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # the registry's learner runs the same SGD: its curve equals the SGD baseline's
    lo = jax.jit(lambda g, t: learners.SUPERVISED["learned_opt"].curve(cfg, g, t))(genome, task)
    ref = jax.jit(lambda t: dtasks.mlp_run("sgd", 0.7, t))(task)
    np.testing.assert_allclose(lo["loss"], ref["loss"], rtol=1e-5)


def test_maml_with_no_inner_step_is_the_query_gradient_at_the_initialisation():
    cfg = tiny("maml")
    task = one_task(cfg)
    task0 = task._replace(xs=task.xs[:0], ys=task.ys[:0])
    init = learners.SUPERVISED["maml"].template(cfg, jax.random.key(1))

    def query(ws):
        return dtasks.held_out(optimizee.logits(ws, task.x_val), task.y_val)["xent"]

    grad, _ = jax.jit(lambda g, t: learners.maml_meta_grad(cfg, g, t))(init, task0)
    for a, b in zip(grad, jax.grad(query)(init)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # with inner steps: first order is the query gradient at the adapted weights; second order is not
    fo = tiny("maml", "maml.first_order=true")
    g1, _ = jax.jit(lambda g, t: learners.maml_meta_grad(fo, g, t))(init, task)
    g2, _ = jax.jit(lambda g, t: learners.maml_meta_grad(cfg, g, t))(init, task)
    adapted = maml.adapt(init, task.xs, task.ys, cfg.maml.inner_lr)
    for a, b in zip(g1, jax.grad(query)(adapted)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert max(float(jnp.abs(a - b).max()) for a, b in zip(g1, g2)) > 1e-4


def test_reptile_one_step_direction_is_lr_times_the_support_gradient():
    cfg = tiny("reptile", "reptile.inner_lr=0.4")
    task = one_task(cfg, steps=1)
    init = learners.SUPERVISED["reptile"].template(cfg, jax.random.key(2))
    direction, _ = learners.reptile_meta_grad(cfg, init, task)
    for d, g in zip(direction, jax.grad(optimizee.loss)(init, task.xs[0], task.ys[0])):
        np.testing.assert_allclose(d, 0.4 * g, rtol=1e-4, atol=1e-7)


def test_initialisation_fits_other_class_counts():
    ws = [jnp.ones((3, 4)), jnp.arange(8.0).reshape(4, 2)]
    assert maml.fit_outputs(ws, 1)[1].shape == (4, 1)
    wide = maml.fit_outputs(ws, 3)[1]
    np.testing.assert_array_equal(wide[:, 2], ws[1].mean(1))


# ------------------------------------------------------------- meta-training and resume


def _scores(cfg, tr, *genomes):
    ev = meta.evaluator(cfg, tr.tasks, 16, jax.random.key(123))
    return [float(np.mean([np.asarray(c["acc"][:, -1]) for c in ev(g, dtasks.datas(tr.tasks)).values()]))
            for g in genomes]  # fmt: skip


LEARNERS = [
    ("learned_opt", ["supervised.meta_lr=0.03", "learned_opt.hidden=8"], 0.08),
    ("maml", ["supervised.meta_lr=0.1"], 0.1),
    ("reptile", ["supervised.meta_lr=0.3"], 0.04),
]


@pytest.mark.parametrize("kind,extra,margin", LEARNERS, ids=[k for k, _, _ in LEARNERS])
def test_meta_training_improves_and_checkpoints_exactly(kind, extra, margin, tmp_path):
    cfg = tiny(kind, *extra)
    tr = Trainer.build(cfg)
    state = tr.init_state()
    for g in range(20):
        state, _ = tr.generation(state, jnp.int32(g))
    start, end = _scores(cfg, tr, tr.start_genome(), tr.mean_genome(state))
    assert end > start + margin, (start, end)
    assert_resumes_exactly(tr, state, 20, tmp_path)


BAD = [
    (["model.kind=maml", "supervised.meta=es"], "set supervised.meta=gradient"),
    (["model.kind=reptile", "supervised.task_transform.project_dim=null"], "project_dim"),
    (["model.kind=maml", "supervised.truncation=5"], "leave it null"),
    (["model.kind=maml", "maml.inner_lr=0"], "maml.inner_lr"),
    (["model.kind=learned_opt", "learned_opt.hidden=0"], "learned_opt.hidden"),
    (["model.kind=learned_opt", "learned_opt.speed=1"], "unknown key"),
    (["model.kind=learned_opt", "envs=[CartPole-v1]"], "is an environment"),
]


@pytest.mark.parametrize("overrides,needle", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_learner_config_is_one_line(overrides, needle):
    with pytest.raises(ConfigError) as e:
        load_config(BLUR, [*TINY, *overrides])
    assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)


# ------------------------------------------------------------------------------- CLI


def _rows(run_dir):
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]  # fmt: skip


def test_cli_trains_resumes_and_meta_tests_with_compare(tmp_path, capsys):
    """In this process (compiled programs are shared); the run machinery is the same as BLUR's."""
    reptile = [*TINY, "model.kind=reptile", "supervised.meta_lr=0.3", "log.checkpoint_every=1"]
    full, part, lo = tmp_path / "reptile", tmp_path / "part", tmp_path / "lo"
    assert sfnn_main(["train", BLUR, *reptile, "strategy.generations=4", "--out", str(full)]) == 0
    assert sfnn_main(["train", BLUR, *reptile, "strategy.generations=2", "--out", str(part)]) == 0
    assert sfnn_main(["train", "--resume", str(part), "strategy.generations=4"]) == 0
    assert _rows(part) == _rows(full)
    summary = json.loads((full / "summary.json").read_text())
    assert summary["model"] == "reptile" and summary["final_genome"] in ("final", "best_generation")
    lo_cfg = [*TINY, "model.kind=learned_opt", "learned_opt.hidden=4", "supervised.truncation=5", "strategy.generations=2"]
    assert sfnn_main(["train", BLUR, *lo_cfg, "--out", str(lo)]) == 0
    capsys.readouterr()
    dest = tmp_path / "mt.json"
    args = ["meta-test", str(lo), "--env", "sklearn:wine", "--lifetimes", "2", "--steps", "5", "--hidden", "12",
            "--compare", str(full), "--out", str(dest)]
    assert sfnn_main(args) == 0
    doc = json.loads(dest.read_text())
    res = doc["results"]["sklearn:wine"]
    assert set(res["agents"]) == {"learned_opt", "reptile (reptile)", "backprop_genome", "sgd", "adam"}
    for curves in res["agents"].values():
        assert np.asarray(curves).shape == (2, 6) and np.all((0 <= np.asarray(curves)) & (np.asarray(curves) <= 1))
    assert doc["hidden"] == [12] and "projected to 16" in doc["protocols"]["reptile (reptile)"]
    assert res["used_in_meta_training_by"] == []
    # an environment run cannot be compared with dataset runs, and --hidden is for dataset runs
    assert sfnn_main([*args[:-4], "--compare", "configs"]) == 2
    assert "config.yaml" in capsys.readouterr().err
    assert sfnn_main([*args, "--learn-windows", "2"]) == 2  # a dataset run has no windows
    assert "--learn-windows applies to runs in environments" in capsys.readouterr().err


def test_configs_of_the_old_blur_section_still_load(tmp_path):
    """The dataset learners' shared fields moved from ``blur:`` to ``supervised:``. A config file
    and a run directory written before (the whole ``blur:`` section, as ``save_config`` wrote
    it) load to the same config as today's, and so do ``blur.<field>=`` overrides; one field set
    to two values under its old and new names is refused."""
    import yaml

    from agents.config import save_config, to_dict

    new = load_config("configs/blur_digits.yaml")
    legacy = to_dict(new)  # a run directory's config.yaml from before: every field under blur
    legacy["blur"] = {**legacy.pop("supervised"), **legacy["blur"]}
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(yaml.safe_dump(legacy, sort_keys=False))
    assert to_dict(load_config(run_yaml)) == to_dict(new)
    over = load_config("configs/blur_digits.yaml", ["blur.meta=gradient", "blur.task_transform.classes=3"])
    assert (over.supervised.meta, over.supervised.task_transform.classes) == ("gradient", 3)
    legacy["supervised"] = {"inner_steps": 7}  # blur.inner_steps is 50: two values for one field
    run_yaml.write_text(yaml.safe_dump(legacy, sort_keys=False))
    with pytest.raises(ConfigError, match="blur.inner_steps=50 and supervised.inner_steps=7"):
        load_config(run_yaml)
    save_config(new, tmp_path / "saved.yaml")  # what is written now has the new section only
    assert set(yaml.safe_load((tmp_path / "saved.yaml").read_text())["blur"]) == {"states", "init", "init_scale", "tied_weights"}

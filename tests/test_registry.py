"""Environment names: registry, variants with other dynamics, permutations, suggestions."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.registry import GYMNAX_CONTINUOUS, GYMNAX_DISCRETE, UnknownEnvError, check_env_name, env_names, make_env


def test_registry_names_and_sizes():
    names = env_names()
    assert {"CartPole-v1", "Acrobot-v1", "MountainCar-v0"} <= set(names)
    sizes = {n: (make_env(n).obs_size, make_env(n).n_actions) for n in ["CartPole-v1", "Acrobot-v1", "MountainCar-v0"]}
    assert sizes == {"CartPole-v1": (4, 2), "Acrobot-v1": (6, 3), "MountainCar-v0": (2, 3)}
    assert make_env("CartPole-v1").return_range == (8.0, 500.0)


@pytest.mark.parametrize("name", [*GYMNAX_DISCRETE, *GYMNAX_CONTINUOUS])
def test_every_gymnax_environment_builds_and_steps_with_its_own_and_an_overridden_cap(name):
    """Each registered gymnax environment, at its default cap and at 7: it resets, steps, and an
    episode ends by the cap at the latest (gymnax's parameter types kept: BernoulliBandit's cap is a
    float, which an int broke)."""
    default = make_env(name)
    assert default.max_steps >= 1
    env = make_env(name, 7)
    assert env.max_steps == 7 and env.obs_size == default.obs_size and env.n_actions == default.n_actions
    obs, state = jax.jit(env.reset)(jax.random.key(0))
    assert obs.shape == (env.obs_size,) and obs.dtype == jnp.float32
    step = jax.jit(env.step)
    action = jnp.zeros(env.n_actions) if env.continuous else jnp.int32(0)
    ended = False
    for t in range(7):
        obs, state, reward, terminated, truncated = step(jax.random.key(t + 1), state, action)
        assert np.isfinite(np.asarray(obs)).all() and np.isfinite(float(reward))
        ended = bool(terminated | truncated)
        if ended:
            break
    assert ended, f"{name}: no end within its cap of 7 steps"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownEnvError, match="did you mean CartPole-v1"):
        check_env_name("Cartpole-v1")
    with pytest.raises(UnknownEnvError, match="not a parameter"):
        make_env("CartPole-v1:wings=2")


@pytest.mark.parametrize("name", ["CartPole-v1:wings=2", "CartPole-v1:perm=x", "CartPole-v1:gravity=heavy", "CartPole-v1:obs_norm=running"])
def test_bad_variants_are_config_errors_before_any_run_starts(name):
    from agents.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=name.split(":")[1].split("=")[0]):
        load_config("configs/cartpole.yaml", [f"envs=[{name}]"])


def _trajectory(env, steps=20):
    obs, state = env.reset(jax.random.key(0))
    out = [obs]
    for t in range(steps):
        obs, state, *_ = env.step(jax.random.key(t), state, jnp.int32(t % 2))
        out.append(obs)
    return np.stack(out)


def test_parameter_variants_change_the_dynamics():
    base = _trajectory(make_env("CartPole-v1"))
    heavy = _trajectory(make_env("CartPole-v1:gravity=20.0,length=1.0"))
    assert base.shape == heavy.shape
    np.testing.assert_array_equal(base[0], heavy[0])  # same start
    assert not np.allclose(base[5:], heavy[5:])  # other physics
    # derived CartPole quantities follow the parameters they depend on
    env_params = make_env("CartPole-v1:masspole=0.5")
    assert env_params.name == "CartPole-v1:masspole=0.5"


@pytest.mark.parametrize("seed", range(6))
def test_observation_permutation_reorders_and_is_never_the_identity(seed):
    from envs.registry import obs_permutation

    base = _trajectory(make_env("CartPole-v1"))
    perm = _trajectory(make_env(f"CartPole-v1:perm={seed}"))
    order = np.asarray(obs_permutation("CartPole-v1", str(seed), 4))
    assert sorted(order) == [0, 1, 2, 3] and not np.array_equal(order, np.arange(4))
    np.testing.assert_allclose(perm, base[:, order])
    assert not np.allclose(perm, base)


def test_obs_norm_variant_scales_one_environment_as_the_run_wide_option_does():
    """``MountainCar-v0:obs_norm=fixed`` with ``lifetime.obs_norm=none`` is the same agent as
    ``lifetime.obs_norm=fixed`` on plain MountainCar: the shipped genome, evolved with the
    run-wide option, lives the very same lifetimes both ways. The variant touches one
    environment only, so a three-environment run can scale MountainCar and leave Acrobot raw."""
    import dataclasses

    from agents.rl.finish import evaluate_lifetimes, repeat_genome
    from agents.rundir import load_genome, load_run_config

    run = Path("pretrained/mountaincar_130")
    cfg = load_run_config(run)
    assert cfg.lifetime.obs_norm == "fixed"
    genomes = repeat_genome(load_genome(run, cfg), 2)
    run_wide = evaluate_lifetimes(cfg, genomes)["MountainCar-v0"]
    per_env_cfg = dataclasses.replace(cfg, envs=["MountainCar-v0:obs_norm=fixed"],
                                      lifetime=dataclasses.replace(cfg.lifetime, obs_norm="none"))  # fmt: skip
    per_env = evaluate_lifetimes(per_env_cfg, genomes)["MountainCar-v0:obs_norm=fixed"]
    raw = evaluate_lifetimes(per_env_cfg, genomes, envs=["MountainCar-v0"])["MountainCar-v0"]
    np.testing.assert_array_equal(per_env, run_wide)
    assert per_env[:, 3:].mean() > raw[:, 3:].mean()  # the genome needs its scaled inputs

    scaled, plain = _trajectory(make_env("Acrobot-v1:obs_norm=fixed")), _trajectory(make_env("Acrobot-v1"))
    assert np.abs(scaled).max() <= 5.0 and not np.allclose(scaled, plain)
    assert make_env("Acrobot-v1:obs_norm=fixed").return_range == make_env("Acrobot-v1").return_range
    for bad in ("Acrobot-v1:obs_norm=running", "Acrobot-v1:obs_norm=fixed,wings=2"):
        with pytest.raises(UnknownEnvError, match="obs_norm|wings"):
            make_env(bad)

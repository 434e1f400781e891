"""``lifetime.energy_reward``: the mechanical energy of Acrobot and MountainCar states, checked
against gymnax's own dynamics, and shown to the learner beside the reward without changing the
returns its fitness counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from conftest import TINY
from agents.config import load_config
from agents.rl.evaluate import env_tasks, lifetime_returns
from agents.rl.policy import genome_template, make_policy, shaped_reward
from envs.lifetime import run_lifetimes
from envs.registry import make_env


def _acrobot_state(env, a1, a2, w1, w2):
    _, state = env.reset(jax.random.key(0))
    return state.replace(joint_angle1=jnp.float32(a1), joint_angle2=jnp.float32(a2),
                         velocity_1=jnp.float32(w1), velocity_2=jnp.float32(w2))


def _obs(env, state):
    """The agent's observation of ``state``, from gymnax's own ``get_obs`` (no variant here, so it
    is what the adapter would hand the agent)."""
    import gymnax

    genv, params = gymnax.make(env.name.split(":")[0])
    return jnp.asarray(genv.get_obs(state, params), jnp.float32)


def _roll(env, state, policy, steps):
    energies = []
    for t in range(steps):
        obs = _obs(env, state)
        obs, state, *_ = env.step(jax.random.key(t), state, policy(obs))
        energies.append(float(env.energy(obs)))
    return np.array(energies)


def test_energy_scale_rest_is_zero_and_reference_height_is_one():
    acro, car = make_env("Acrobot-v1"), make_env("MountainCar-v0")
    assert float(acro.energy(_obs(acro, _acrobot_state(acro, 0.0, 0.0, 0.0, 0.0)))) == pytest.approx(0.0, abs=1e-6)
    level = _acrobot_state(acro, np.pi / 2, 0.0, 0.0, 0.0)  # both links level
    assert float(acro.energy(_obs(acro, level))) == pytest.approx(1.0, abs=1e-5)
    upright = _acrobot_state(acro, np.pi, 0.0, 0.0, 0.0)
    assert float(acro.energy(_obs(acro, upright))) == pytest.approx(2.0, abs=1e-5)
    assert float(car.energy(jnp.array([-np.pi / 6, 0.0]))) == pytest.approx(0.0, abs=1e-6)  # the valley's floor
    assert float(car.energy(jnp.array([0.5, 0.0]))) == pytest.approx(1.0, abs=1e-6)  # resting at the goal
    assert make_env("CartPole-v1").energy is None


def test_energy_is_conserved_without_force_and_grows_when_pumped():
    """Without torque (Acrobot action 1) the energy of a swinging state stays put through gymnax's
    RK4 steps, which checks the mass matrix and potential; pushing along the motion puts energy
    in (the pumping that reaches the goal)."""
    acro = make_env("Acrobot-v1")
    swinging = _acrobot_state(acro, 1.0, -0.5, 1.5, -2.0)
    e0 = float(acro.energy(_obs(acro, swinging)))
    free = _roll(acro, swinging, lambda o: jnp.int32(1), 30)
    assert e0 > 0.4 and np.abs(free - e0).max() < 0.02 * e0
    pumped = _roll(acro, _acrobot_state(acro, 0.1, 0.0, 0.0, 0.0), lambda o: jnp.where(o[5] >= 0, 2, 0), 60)
    assert pumped[-1] > 0.3 and pumped[-1] > 10 * pumped[0]

    car = make_env("MountainCar-v0")
    _, state = car.reset(jax.random.key(0))
    state = state.replace(position=jnp.float32(-0.9), velocity=jnp.float32(0.02))
    # no push, two swings: gymnax's semi-implicit Euler wobbles by ±4%, never drifts
    free = _roll(car, state, lambda o: jnp.int32(1), 120)
    assert np.ptp(free) < 0.1 * np.mean(free) and abs(free[-1] - free[0]) < 0.05 * free[0]


@pytest.mark.parametrize("variant", ["Acrobot-v1:perm=3", "Acrobot-v1:obs_norm=fixed"])
def test_energy_reads_the_raw_state_through_variants(variant):
    """A permuted or rescaled observation gives the energy of the state behind it."""
    base, env = make_env("Acrobot-v1"), make_env(variant)
    _, state = base.reset(jax.random.key(3))
    for t in range(25):
        obs_b = base.step(jax.random.key(t), state, jnp.int32(2))[0]  # the same state, seen raw
        obs_v, state, *_ = env.step(jax.random.key(t), state, jnp.int32(2))
        assert float(env.energy(obs_v)) == pytest.approx(float(base.energy(obs_b)), abs=1e-5)


def test_shown_reward_adds_k_times_energy_where_defined():
    obs = jnp.array([[0.0, 1.0, 1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]])  # level, hanging
    r, term = jnp.array([-1.0, -1.0]), jnp.array([False, False])
    acro = make_env("Acrobot-v1")
    lt = load_config(None, ["lifetime.energy_reward=0.5"]).lifetime
    np.testing.assert_allclose(shaped_reward(lt, acro, r, term, obs), [-0.5, -1.0], atol=1e-6)
    off = load_config(None, []).lifetime
    np.testing.assert_array_equal(shaped_reward(off, acro, r, term, obs), r)
    cart = make_env("CartPole-v1")
    np.testing.assert_array_equal(shaped_reward(lt, cart, r, term, obs[:, :4]), r)  # no energy there


def test_energy_reward_changes_what_is_learned_not_what_is_counted():
    """Frozen networks never use the reward, so their returns are identical with and without the
    energy signal (fitness counts the environment's reward); plastic ones learn from it, so their
    lifetimes take other paths."""
    base = [*TINY, "envs=[MountainCar-v0]", "lifetime.max_steps=120"]
    cfgs = [load_config("configs/authors.yaml", [*base, *extra]) for extra in ([], ["lifetime.energy_reward=5"])]
    b = 16
    genomes = jax.vmap(lambda k: genome_template(cfgs[0], k))(jax.random.split(jax.random.key(0), b))
    wk, ek = jax.random.split(jax.random.key(1), b), jax.random.split(jax.random.key(2), b)

    def learned_state(cfg):
        task = env_tasks(cfg)[0]
        policy = make_policy(cfg, task.env, genomes)
        return jax.jit(lambda s: run_lifetimes(task.env, policy.step, s, ek, cfg.lifetime.episodes,
                                               mode=cfg.lifetime.episode_mode))(policy.init(wk)).final_agent_state

    frozen = [lifetime_returns(c, env_tasks(c)[0], genomes, wk, ek, learn=False) for c in cfgs]
    np.testing.assert_array_equal(np.asarray(frozen[0]), np.asarray(frozen[1]))
    plain, shown = learned_state(cfgs[0]), learned_state(cfgs[1])
    gap = jnp.abs(ravel_pytree(plain.plastic)[0] - ravel_pytree(shown.plastic)[0])
    assert bool(jnp.isfinite(gap).all()) and float(gap.max()) > 1e-3


def test_energy_reward_without_an_energy_is_a_one_line_error(cli, tmp_path):
    r = cli("train", "configs/authors.yaml", "envs=[CartPole-v1]", "lifetime.energy_reward=1", *TINY,
            "--out", str(tmp_path / "run"))
    assert r.returncode != 0 and "lifetime.energy_reward=1 would change nothing" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "run").exists()

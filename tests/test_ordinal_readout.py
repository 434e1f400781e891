"""``model.action_readout=ordinal``: one output neuron whose value is binned onto ordered actions
(CartPole's left/right, Acrobot's -1/0/+1 torque), so that the shared rule sets one neuron's
sign instead of telling three outputs apart."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import TINY
from agents.config import ConfigError, load_config
from agents.rl.evaluate import env_tasks, lifetime_returns
from agents.rl.policy import genome_template, make_policy, ordinal_actions, sfnn_spec
from envs.registry import make_env
from sfnn import init_state, step

ACROBOT = "benchmarks/results/2026-12-03-single-env/acrobot_alone/config.yaml"


def _cfg(*extra: str):
    return load_config(ACROBOT, [*TINY, "model.action_readout=ordinal", "model.initial_action=null",
                                 "lifetime.max_steps=30", "lifetime.episodes=2", *extra])


def test_bins_are_equal_thirds_mirrored_and_saturation_picks_an_end():
    v = jnp.array([-1.0, -0.9, -0.34, -0.3, 0.0, 0.3, 0.34, 0.9, 1.0, 7.0])
    np.testing.assert_array_equal(ordinal_actions(v, 3), [0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    np.testing.assert_array_equal(ordinal_actions(v, 2), [0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    off_edges = jnp.linspace(-0.99, 0.99, 37)  # no value on a bin edge (±1/3, 0 for n = 2 is excluded below)
    for n in (2, 3, 5):
        vals = off_edges[jnp.abs(off_edges) > 1e-6]
        np.testing.assert_array_equal(ordinal_actions(-vals, n), n - 1 - ordinal_actions(vals, n))
    assert ordinal_actions(v, 3).dtype == jnp.int32


def test_one_output_neuron_and_as_many_hidden_as_the_one_per_action_network():
    env = make_env("Acrobot-v1")
    per_action = sfnn_spec(load_config(ACROBOT, ["model.initial_action=null"]), env)
    one = sfnn_spec(_cfg(), env)
    assert (per_action.topo.n_out, one.topo.n_out) == (3, 1)
    assert one.topo.n_hidden == per_action.topo.n_hidden and one.topo.n_in == per_action.topo.n_in
    assert one.continuous and one.action_readout == "value" and one.initial_action is None


def test_actions_are_the_bins_of_the_single_output_and_fast_equals_reference():
    """The policy's actions, step by step, are ``ordinal_actions`` of what ``sfnn.step`` outputs
    for the one-output network (its value fed back, as a continuous action); whole lifetimes
    give the same returns on the fast and reference paths."""
    cfg = _cfg()
    task = env_tasks(cfg)[0]
    b = 3
    genomes = jax.vmap(lambda k: genome_template(cfg, k))(jax.random.split(jax.random.key(4), b))
    genomes = jax.tree.map(lambda x: 3.0 * x, genomes)  # larger weights: all three actions get taken
    policy = make_policy(cfg, task.env, genomes, impl="reference")
    keys = jax.random.split(jax.random.key(5), b)
    spec = sfnn_spec(cfg, task.env)
    mine = jax.vmap(lambda k: init_state(k, spec))(keys)
    state = policy.init(keys)
    obs = jax.random.normal(jax.random.key(6), (20, b, task.env.obs_size))
    taken = set()
    for t in range(20):
        reward, term = jnp.full((b,), -1.0), jnp.zeros((b,), bool)
        actions, state = policy.step(state, obs[t], reward, term)
        out, mine = jax.vmap(lambda g, s, o: step(g, spec, s, o, jnp.float32(-1.0)))(genomes, mine, obs[t])
        np.testing.assert_array_equal(actions, ordinal_actions(out[:, 0], 3))
        taken |= set(np.asarray(actions).tolist())
    assert taken == {0, 1, 2}
    wk, ek = jax.random.split(jax.random.key(1), b), jax.random.split(jax.random.key(2), b)
    np.testing.assert_array_equal(np.asarray(lifetime_returns(cfg, task, genomes, wk, ek, impl="fast")),
                                  np.asarray(lifetime_returns(cfg, task, genomes, wk, ek, impl="reference")))


def test_an_initial_action_index_is_refused_and_continuous_envs_read_values():
    """The ordinal network starts a lifetime from no previous action (0, the scale's middle); an
    index (the authors' ``initial_action: 0``) is refused in one line. On a continuous environment
    the single-output readout is just its values."""
    with pytest.raises(ConfigError, match="ordinal.*initial_action=null") as e:
        env_tasks(load_config(ACROBOT, ["model.action_readout=ordinal"]))
    assert "\n" not in str(e.value)
    pend = sfnn_spec(_cfg("envs=[Pendulum-v1]"), make_env("Pendulum-v1"))
    assert pend.topo.n_out == 1 and pend.continuous and pend.action_readout == "value"

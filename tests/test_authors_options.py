"""The options that make up the authors' experiment, around the model: reward shaping by what a
termination means, the search's starting mean, windows with SFNN policies, and bad values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from conftest import TINY
from agents.config import ConfigError, load_config
from agents.rl.evaluate import env_tasks, lifetime_returns
from agents.rl.policy import genome_template, make_policy, shaped_reward
from agents.trainer import Trainer
from envs.lifetime import run_lifetimes
from envs.registry import make_env
from sfnn import genome_size


@pytest.mark.parametrize("name, shaped", [("CartPole-v1", True), ("Acrobot-v1", False), ("MountainCar-v0", False),
                                          ("Catch-bsuite", False)])
def test_terminal_reward_is_shown_only_where_termination_is_failure(name, shaped):
    """``lifetime.terminal_reward`` stands for failure: CartPole's pole falling, not Acrobot's or
    MountainCar's goal being reached (nor a bsuite episode's scheduled end), where the network is
    shown the environment's own reward."""
    lt = load_config(None, ["lifetime.terminal_reward=-1"]).lifetime
    env = make_env(name)
    r = shaped_reward(lt, env, jnp.array([0.5, 0.5]), jnp.array([True, False]), jnp.zeros((2, env.obs_size)))
    np.testing.assert_array_equal(r, [-1.0, 0.5] if shaped else [0.5, 0.5])
    assert env.termination == {"CartPole-v1": "failure", "Acrobot-v1": "success", "MountainCar-v0": "success"}.get(name, "end")


def test_zero_initial_mean_starts_the_search_at_the_zero_genome():
    """``strategy.init_mean=zeros`` (the authors' start: evosax's default mean) versus the library's
    random genome; either way the genome is the configured one (565 parameters here)."""
    cfg = load_config("configs/authors.yaml", [*TINY, "envs=[CartPole-v1]"])
    tr = Trainer.build(cfg)
    assert tr.num_params == 565
    mean = tr.mean_genome(tr.init_state())
    assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(mean))
    rnd = Trainer.build(load_config("configs/authors.yaml", [*TINY, "envs=[CartPole-v1]", "strategy.init_mean=random"]))
    assert max(float(jnp.abs(x).max()) for x in jax.tree.leaves(rnd.mean_genome(rnd.init_state()))) > 0.1


def _window_cfg(*extra):
    return load_config("configs/authors.yaml", [*TINY, "envs=[CartPole-v1]", "lifetime.max_steps=25",
                                                "lifetime.episodes=3", *extra])


def test_sfnn_window_lifetimes_fast_equal_reference_and_frozen_stays_frozen():
    """SFNN lifetimes in episode windows: the fast path gives the reference's returns, the plastic
    state learned in one window is carried into the next (it differs from the wiring's start at the
    end), and a frozen network ends the lifetime with the vectors it started with."""
    cfg = _window_cfg()
    task = env_tasks(cfg)[0]
    b = 4
    genomes = jax.vmap(lambda k: genome_template(cfg, k))(
        jax.random.split(jax.random.key(0), b))
    wk, ek = jax.random.split(jax.random.key(1), b), jax.random.split(jax.random.key(2), b)
    fast = lifetime_returns(cfg, task, genomes, wk, ek, impl="fast")
    ref = lifetime_returns(cfg, task, genomes, wk, ek, impl="reference")
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(ref))
    for learn in (True, False):
        policy = make_policy(cfg, task.env, genomes, learn=learn, impl="reference")
        start = policy.init(wk)
        res = jax.jit(lambda s: run_lifetimes(task.env, policy.step, s, ek, 3, mode="window"))(start)
        moved = max(float(jnp.abs(a - c).max()) for a, c in zip(jax.tree.leaves(res.final_agent_state.plastic),
                                                                   jax.tree.leaves(start.plastic)))
        assert (moved > 1e-4) if learn else (moved == 0.0)


@pytest.mark.parametrize("override, words", [
    ("model.action_feedback_from=4", "model.action_feedback_from"),
    ("model.propagation=parallel", "model.propagation"),
    ("model.prev_action=first", "model.prev_action"),
    ("lifetime.episode_mode=windows", "lifetime.episode_mode"),
    ("strategy.init_mean=ones", "strategy.init_mean"),
    ("model.initial_action=-1", "model.initial_action"),
    ("model.action_readout=argmax", "model.action_readout"),
])
def test_bad_authors_options_are_one_line_errors(override, words):
    with pytest.raises(ConfigError, match=words) as e:
        load_config("configs/authors.yaml", [override])
    assert "\n" not in str(e.value)


def test_initial_action_beyond_the_actions_is_refused_before_a_run():
    """An initial action the environment does not have is named with its limit (CartPole has 2)."""
    cfg = load_config("configs/authors.yaml", ["model.initial_action=2", "envs=[CartPole-v1]"])
    with pytest.raises(ConfigError, match="initial_action=2 .* below 2"):
        env_tasks(cfg)


def test_preactivation_readout_on_continuous_actions_is_refused_before_a_run():
    """Continuous actions are the output values themselves; there is no argmax to read differently."""
    cfg = load_config("configs/authors.yaml", ["model.action_readout=preactivation", "envs=[Pendulum-v1]"])
    with pytest.raises(ConfigError, match="Pendulum-v1: .*discrete actions"):
        env_tasks(cfg)
    env_tasks(load_config("configs/authors.yaml", ["model.action_readout=preactivation", "envs=[Acrobot-v1]"]))


def test_genome_size_follows_bias_and_rate_options():
    """564 shared parameters, + 12 neuron biases, + 1 evolved rate: 565 (authors), 576 (library default)."""
    from agents.rl.policy import genome_template

    sizes = {(b, r): genome_size(genome_template(load_config(None, [f"model.neuron_bias={b}", f"model.evolve_plastic_lr={r}"])))
             for b in ("true", "false") for r in ("true", "false")}
    assert sizes == {("false", "true"): 565, ("false", "false"): 564, ("true", "false"): 576, ("true", "true"): 577}


def test_the_authors_network_frozen_ignores_its_observations():
    """With learning off, the authors' network (previous action written over channel 0 of the
    output neurons, edge vectors U(±0.1)) acts on its previous action alone: it alternates its two
    actions when the genome's output weight W₂[0,0] is negative and repeats one when positive,
    whatever it observes. That is why every frozen ablation and every genome that learned nothing
    scores the same ~35-47 on CartPole (the return of alternating left and right), and why returns
    above it must come from plasticity."""
    from agents.rl.policy import sfnn_spec
    from sfnn import init_state, step

    cfg = load_config("configs/authors.yaml", ["envs=[CartPole-v1]"])
    spec = sfnn_spec(cfg, make_env("CartPole-v1"))
    obs = 2 * jax.random.normal(jax.random.key(5), (40, 4))
    for seed in range(4):
        genome = genome_template(cfg, jax.random.key(seed))
        for sign in (-1.0, 1.0):
            w = genome["neuron"]["kernel"]
            g = {**genome, "neuron": {**genome["neuron"], "kernel": w.at[2, 0, 0].set(sign * (1 + abs(w[2, 0, 0])))}}
            state, actions = init_state(jax.random.key(seed + 10), spec), []
            for t in range(40):
                out, state = step(g, spec, state, obs[t], jnp.float32(1.0), learn=False)
                actions.append(int(jnp.argmax(out)))
            if sign < 0:
                assert actions[1:] == [1 - a for a in actions[:-1]], actions  # alternates
            else:
                assert len(set(actions[1:])) == 1, actions  # repeats


def test_geometric_mean_ranks_as_the_product_without_its_zero_trap():
    """``fitness.combine=geomean``: where every environment is off the floor it orders members as
    the authors' product does; where one environment is at 0 for everyone, the product makes every
    member equal (no signal) while the geometric mean still orders them by the other two."""
    from agents.fitness import combine_envs

    lifted = jnp.array([[0.9, 0.2, 0.1], [0.5, 0.5, 0.3], [0.2, 0.9, 0.2], [0.7, 0.1, 0.05]])
    np.testing.assert_array_equal(jnp.argsort(combine_envs(lifted, "geomean")),
                                  jnp.argsort(combine_envs(lifted, "product")))
    np.testing.assert_allclose(combine_envs(lifted[1], "geomean"), (0.5 * 0.5 * 0.3) ** (1 / 3), rtol=1e-6)
    trapped = lifted.at[:, 2].set(0.0)
    assert float(jnp.ptp(combine_envs(trapped, "product"))) == 0.0
    np.testing.assert_array_equal(jnp.argsort(combine_envs(trapped, "geomean")),
                                  jnp.argsort(trapped[:, 0] * trapped[:, 1]))


def test_init_from_starts_the_search_at_another_runs_genome(tmp_path, cli):
    """``strategy.init_from``: a three-environment search starts at the shipped CartPole genome
    (same model), its mean that genome value for value; a genome of another size (channels), or a missing
    file, is refused by name before the CLI creates a run directory."""
    cfg = load_config("configs/three_env.yaml", [*TINY, "strategy.init_from=pretrained/cartpole_475"])
    tr = Trainer.build(cfg)
    want = np.load("pretrained/cartpole_475/genomes.npz", allow_pickle=False)["best"]
    np.testing.assert_array_equal(ravel_pytree(tr.mean_genome(tr.init_state()))[0], want)
    for override, hint in [("model.channels=3", "expected"), ("strategy.init_from=pretrained/nothing_here", "not found")]:
        out = tmp_path / "never"
        r = cli("train", "configs/three_env.yaml", *TINY, override, "--out", str(out))
        assert r.returncode == 2 and "strategy.init_from" in r.stderr and hint in r.stderr, r.stderr
        assert not out.exists()

"""Lifetimes, fitness, the ES trainer: learning signals are wired the right way round."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.cli import main as sfnn_main
from agents.config import UNSUPPORTED_STRATEGIES, ConfigError, load_config
from agents.rl.evaluate import env_tasks, population_fitness
from agents.fitness import combine_envs, episode_weights, lifetime_fitness
from agents.trainer import Trainer, evosax_fitness, make_strategy
from envs.lifetime import run_lifetimes
from envs.registry import make_env


def test_lifetime_keeps_agent_state_across_episodes_and_records_each_episode():
    """A counting agent: its state is never reset between episodes, and stops at the lifetime's end."""
    env = make_env("CartPole-v1", 40)
    policy = lambda s, obs, r, term: (jnp.zeros(obs.shape[0], jnp.int32), s + 1)  # always push left
    freeze = lambda active, new, old: jnp.where(active, new, old)
    res = run_lifetimes(env, policy, jnp.zeros(3, jnp.int32), jax.random.split(jax.random.key(0), 3), 4, freeze)
    assert res.returns.shape == (3, 4)
    np.testing.assert_array_equal(res.final_agent_state, res.lengths.sum(1))  # counted every step of all 4 episodes
    assert bool(jnp.all(res.lengths > 0)) and bool(jnp.all(res.lengths < 40))  # pushing left fails early
    np.testing.assert_array_equal(res.returns, res.lengths)  # CartPole: +1 per step


def test_truncation_is_not_termination():
    env = make_env("CartPole-v1", 5)  # every episode is cut at 5 steps
    seen = []
    def policy(s, obs, r, term):
        return jnp.arange(obs.shape[0]) % 2, s | term  # alternate actions; remember any termination flag
    freeze = lambda active, new, old: jnp.where(active, new, old)
    res = run_lifetimes(env, policy, jnp.zeros(2, bool), jax.random.split(jax.random.key(1), 2), 3, freeze)
    np.testing.assert_array_equal(res.lengths, 5)
    assert not bool(jnp.any(res.final_agent_state))  # the agent was never told "terminated"


def test_normalized_weighted_fitness_by_hand():
    w = episode_weights(4)
    np.testing.assert_allclose(w, [0, 1 / 6, 2 / 6, 3 / 6])
    returns = jnp.array([8.0, 254.0, 500.0, 500.0])
    expected = (0 * 0 + 0.5 * 1 / 6 + 1.0 * 2 / 6 + 1.0 * 3 / 6)
    np.testing.assert_allclose(lifetime_fitness(returns, "normalized_weighted", (8.0, 500.0)), expected, rtol=1e-6)
    np.testing.assert_allclose(lifetime_fitness(returns, "mean", None), 315.5)
    np.testing.assert_allclose(combine_envs(jnp.array([0.5, 0.4]), "product"), 0.2, rtol=1e-6)
    np.testing.assert_allclose(combine_envs(jnp.array([0.5, 0.4]), "mean"), 0.45, rtol=1e-6)


def test_nonfinite_fitness_is_worst_and_counted():
    values, bad = evosax_fitness(jnp.array([1.0, jnp.nan, 3.0, jnp.inf, -2.0]))
    assert int(bad) == 2
    # evosax minimises: the best (3.0) must be smallest, the broken ones largest
    assert int(jnp.argmin(values)) == 2
    assert float(values[1]) > float(values[4]) and float(values[3]) > float(values[4])


@pytest.mark.parametrize("name", ["CMA_ES", "SNES", "Sep_CMA_ES"])
def test_es_maximises_a_toy_problem(name):
    """Maximise f(x) = -|x - 3|²: the search mean must move to 3 (sign handled once, correctly)."""
    template = {"x": jnp.zeros(5)}
    es, params = make_strategy(name, 32, template, 1.0)
    state = es.init(jax.random.key(0), template, params)
    f = lambda pop: -jnp.sum((pop["x"] - 3.0) ** 2, axis=1)
    first = None
    for g in range(150):
        k1, k2 = jax.random.split(jax.random.fold_in(jax.random.key(1), g))
        pop, state = es.ask(k1, state, params)
        fit = f(pop)
        first = float(jnp.mean(fit)) if first is None else first
        state, _ = es.tell(k2, pop, evosax_fitness(fit)[0], state, params)
    mean = es.get_mean(state)["x"]
    assert float(jnp.mean(f(pop))) > first
    np.testing.assert_allclose(mean, 3.0, atol=0.5)


def test_open_es_with_adam_and_a_learning_rate_maximises_a_toy_problem():
    """``strategy.optimizer``/``strategy.lr`` reach the algorithm: evosax's default Open_ES
    (SGD at 1e-3) barely moves in 100 generations, Adam at 0.1 reaches the optimum."""
    template = {"x": jnp.zeros(5)}
    f = lambda pop: -jnp.sum((pop["x"] - 3.0) ** 2, axis=1)

    def final_mean(**options):
        es, params = make_strategy("Open_ES", 32, template, 0.5, **options)
        state = es.init(jax.random.key(0), template, params)
        for g in range(100):
            k1, k2 = jax.random.split(jax.random.fold_in(jax.random.key(1), g))
            pop, state = es.ask(k1, state, params)
            state, _ = es.tell(k2, pop, evosax_fitness(f(pop))[0], state, params)
        return es.get_mean(state)["x"]

    assert float(jnp.max(jnp.abs(final_mean()))) < 0.5  # the default hardly leaves the start
    np.testing.assert_allclose(final_mean(optimizer="adam", lr=0.1), 3.0, atol=0.3)
    np.testing.assert_allclose(final_mean(optimizer="sgd", lr=0.05, fitness_shaping="standardize"), 3.0, atol=0.3)


def test_fitness_shaping_changes_what_the_update_sees():
    """The same population and fitness, one tell: raw fitness scales the step with the fitness's
    size, centered ranks do not."""
    template = {"x": jnp.zeros(4)}
    steps = {}
    for shaping in ("raw", "centered_rank"):
        es, params = make_strategy("Open_ES", 8, template, 1.0, fitness_shaping=shaping, optimizer="sgd", lr=1.0)
        state = es.init(jax.random.key(0), template, params)
        pop, state = es.ask(jax.random.key(1), state, params)
        for scale in (1.0, 10.0):
            new, _ = es.tell(jax.random.key(2), pop, scale * jnp.sum(pop["x"], axis=1), state, params)
            steps[shaping, scale] = float(jnp.linalg.norm(es.get_mean(new)["x"]))
    np.testing.assert_allclose(steps["raw", 10.0], 10 * steps["raw", 1.0], rtol=1e-4)
    np.testing.assert_allclose(steps["centered_rank", 10.0], steps["centered_rank", 1.0], rtol=1e-6)


@pytest.mark.parametrize("overrides, names", [
    (["strategy.name=LES"], "strategy.name"),
    (["strategy.fitness_shaping=raw"], "recombination weights"),  # CMA_ES: its shaping is its weights
    (["strategy.lr=0.1"], "no optimizer"),  # CMA_ES has none
    (["strategy.name=Open_ES", "strategy.optimizer=adam"], "strategy.lr"),
    (["strategy.name=Open_ES", "strategy.optimizer=rmsprop", "strategy.lr=0.1"], "strategy.optimizer"),
    (["strategy.name=Open_ES", "strategy.lr=-1"], "positive"),
    (["strategy.name=Open_ES", "strategy.fitness_shaping=ranks"], "strategy.fitness_shaping"),
    (["strategy.ties=first"], "strategy.ties"),
    (["strategy.name=Open_ES", "strategy.fitness_shaping=standardize", "strategy.ties=ordinal"], "rank-based"),
])
def test_strategy_options_are_refused_at_load(overrides, names):
    """Every strategy the trainer would refuse is refused by the config check, before a run exists."""
    with pytest.raises(ConfigError, match=names):
        load_config(None, overrides)


def accepted_strategies() -> list[str]:
    from evosax.algorithms import distribution_based_algorithms

    return sorted(set(distribution_based_algorithms) - UNSUPPORTED_STRATEGIES)


@pytest.mark.parametrize("name", accepted_strategies())
def test_every_accepted_strategy_builds_asks_and_tells(name):
    """The converse of the refusals above: a strategy the config check lets through is one the
    trainer can build and drive, so no run starts that the trainer would then refuse."""
    load_config(None, [f"strategy.name={name}"])
    template = {"x": jnp.zeros(6)}
    es, params = make_strategy(name, 8, template, 0.5)
    state = es.init(jax.random.key(0), template, params)
    pop, state = es.ask(jax.random.key(1), state, params)
    state, _ = es.tell(jax.random.key(2), pop, jnp.sum(pop["x"] ** 2, axis=1), state, params)
    assert pop["x"].shape == (8, 6) and bool(jnp.all(jnp.isfinite(es.get_mean(state)["x"])))


@pytest.mark.parametrize("name", sorted(UNSUPPORTED_STRATEGIES))
def test_a_refused_strategy_leaves_no_run_directory(tmp_path, capsys, name):
    out = tmp_path / "run"
    assert sfnn_main(["train", "--out", str(out), f"strategy.name={name}"]) != 0
    assert not out.exists() and "strategy.name" in capsys.readouterr().err


def tiny_cfg(*extra):
    return load_config(None, [
        "strategy.population=16", "lifetime.episodes=3", "lifetime.max_steps=100", "log.wandb=disabled",
        "model.plasticity=neuron",
        "fitness.kind=mean", "strategy.sigma_init=0.5", *extra,
    ])


def test_lifetimes_reset_between_generations_and_are_deterministic():
    cfg = tiny_cfg()
    tasks = env_tasks(cfg)
    tr = Trainer.build(cfg)
    pop = jax.tree.map(lambda x: jnp.repeat(x[None], 4, 0), tr.template)
    key = jax.random.key(5)
    fn = jax.jit(lambda g, m: population_fitness(cfg, tasks, g, m, key, key))
    f1, r1 = fn(pop, jnp.arange(4))
    f2, r2 = fn(pop, jnp.arange(4))
    np.testing.assert_array_equal(r1["CartPole-v1"], r2["CartPole-v1"])
    # members differ only by their wiring/seed index: same genome, different lifetimes
    assert len(set(np.asarray(r1["CartPole-v1"]).reshape(4, -1).sum(1).tolist())) > 1


def test_member_results_do_not_depend_on_batch():
    """A member's lifetime depends on its index, not on who else is evaluated (sharding-safe)."""
    cfg = tiny_cfg()
    tasks = env_tasks(cfg)
    g = jax.vmap(lambda k: Trainer.build(cfg).template)(jnp.arange(6))
    g = jax.tree.map(lambda x: x + 0.1 * jnp.arange(6).reshape((-1,) + (1,) * (x.ndim - 1)), g)
    key = jax.random.key(2)
    fn = jax.jit(lambda g, m: population_fitness(cfg, tasks, g, m, key, key)[0])
    f_all = fn(g, jnp.arange(6))
    f_sub = fn(jax.tree.map(lambda x: x[3:], g), jnp.arange(3, 6))
    np.testing.assert_allclose(f_all[3:], f_sub, rtol=1e-6)


def three_members_fitness(cfg, seed: int):
    """Fitness and returns of three distinct genomes (the template shifted by 0, 0.3, 0.6)."""
    g = jax.vmap(lambda k: Trainer.build(cfg).template)(jnp.arange(3))
    g = jax.tree.map(lambda x: x + 0.3 * jnp.arange(3).reshape((-1,) + (1,) * (x.ndim - 1)), g)
    key = jax.random.key(seed)
    return jax.jit(lambda g, m: population_fitness(cfg, env_tasks(cfg), g, m, key, key))(g, jnp.arange(3))


def test_worst_fraction_fitness_is_the_mean_of_each_environments_worse_lifetimes():
    """``fitness.worst_fraction``: each environment's fitness is the mean of the member's worst
    ceil(f * lifetimes) lifetimes, computed here from the returned returns with numpy; 1.0 is the
    plain mean, and the worse half scores no member above its mean."""
    from agents.fitness import over_lifetimes

    four = jnp.array([0.1, 0.9, 0.5, 0.3])
    for fraction, want in [(0.5, 0.2), (0.3, 0.2), (0.25, 0.1), (1.0, 0.45)]:  # 0.3: ceil(1.2) = 2 lifetimes
        np.testing.assert_allclose(over_lifetimes(four, fraction), want, rtol=1e-6)
    cfg = tiny_cfg("lifetime.lifetimes=4", "fitness.worst_fraction=0.5", "envs=[CartPole-v1,Acrobot-v1]",
                   "fitness.combine=mean")
    fit, rets = three_members_fitness(cfg, seed=3)
    lives = {name: np.asarray(r).mean(-1) for name, r in rets.items()}  # (members, lifetimes): fitness.kind=mean
    worse = np.mean([np.sort(v, axis=1)[:, :2].mean(1) for v in lives.values()], axis=0)
    np.testing.assert_allclose(fit, worse, rtol=1e-5)
    mean = np.mean([v.mean(1) for v in lives.values()], axis=0)
    assert np.all(worse <= mean + 1e-6) and np.any(worse < mean - 1e-3), (worse, mean)
    for bad, needle in [("fitness.worst_fraction=0", "(0, 1]"), ("fitness.worst_fraction=1.5", "(0, 1]"),
                        ("fitness.worst_fraction=0.5", "lifetime.lifetimes >= 2")]:
        with pytest.raises(ConfigError, match=re.escape(needle)):
            tiny_cfg(bad)


def test_env_weights_tilt_the_combined_fitness_toward_the_named_environment():
    """``fitness.weights``: a member's fitness is the weighted combination of its environments'
    (checked against numpy from the returned returns), an environment not named counts 1, equal
    weights change nothing, and a heavier environment moves a member that is better there ahead
    of one that is better elsewhere; names outside envs and weights <= 0 are refused by name."""
    from agents.fitness import combine_envs, env_weights

    two = jnp.array([[0.9, 0.3], [0.5, 0.8]])  # member 0 is better in env 0, member 1 in env 1
    for how in ("product", "mean", "geomean"):
        np.testing.assert_allclose(combine_envs(two, how, [1.0, 1.0]), combine_envs(two, how), rtol=1e-6)
        even = combine_envs(two, how)
        tilted = combine_envs(two, how, [3.0, 1.0])
        assert float(even[0]) < float(even[1]) and float(tilted[0]) > float(tilted[1]), (how, even, tilted)
    np.testing.assert_allclose(combine_envs(two, "geomean", [3.0, 1.0])[1], (0.5**3 * 0.8) ** 0.25, rtol=1e-6)
    assert env_weights({}, ["CartPole-v1"]) is None
    assert env_weights({"Acrobot-v1": 2.0}, ["CartPole-v1", "Acrobot-v1"]) == [1.0, 2.0]
    cfg = tiny_cfg("lifetime.lifetimes=2", "envs=[CartPole-v1,Acrobot-v1]", "fitness.combine=mean",
                   "fitness.weights.Acrobot-v1=3")
    fit, rets = three_members_fitness(cfg, seed=5)
    cart, acro = (np.asarray(rets[name]).mean(-1).mean(-1) for name in ("CartPole-v1", "Acrobot-v1"))
    np.testing.assert_allclose(fit, (cart + 3 * acro) / 4, rtol=1e-5)
    for bad, needle in [("fitness.weights.Pong-v0=2", "not among envs"), ("fitness.weights.CartPole-v1=0", "positive"),
                        ("fitness.weights.CartPole-v1=-1", "positive")]:
        with pytest.raises(ConfigError, match=re.escape(needle)):
            tiny_cfg(bad)


def test_sfnn_evolution_improves_on_cartpole():
    """A few generations of CMA-ES on short CartPole lifetimes raise the population's fitness."""
    cfg = tiny_cfg("strategy.generations=8", "model.plasticity=neuron", "lifetime.terminal_reward=-1", "strategy.sigma_init=0.1")
    tr = Trainer.build(cfg)
    state = tr.init_state()
    means = []
    for g in range(cfg.strategy.generations):
        state, m = tr.generation(state, jnp.int32(g))
        means.append(float(m["mean_fitness"]))
    assert max(means[-3:]) > means[0] + 1.0, means


def test_unknown_strategy_is_a_config_error():
    with pytest.raises(ConfigError, match="strategy.name"):
        load_config(None, ["strategy.name=NotAnES"])


def test_config_rejects_unknown_keys_and_bad_types():
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(None, ["model.neurns=32"])
    with pytest.raises(ConfigError, match="strategy.population"):
        load_config(None, ["strategy.population=many"])
    with pytest.raises(ConfigError, match="lifetime.wiring"):
        load_config(None, ["lifetime.wiring=sometimes"])
    with pytest.raises(ConfigError, match="did you mean CartPole-v1"):
        load_config(None, ["envs=[CartPol-v1]"])
    cfg = load_config(None, ["envs=[CartPole-v1,Acrobot-v1]", "seed=3"])
    assert cfg.envs == ["CartPole-v1", "Acrobot-v1"] and cfg.seed == 3


def test_fixed_wiring_run_is_judged_on_its_own_wiring():
    """``own_wiring``: the final evaluation of a lifetime.wiring=fixed run lives the wiring its genomes
    were evolved on (the training evaluator's, exactly), with the evaluation's environment seeds."""
    from agents.rl.policy import genome_template
    from agents.rl.finish import evaluate_lifetimes

    cfg = load_config("configs/cartpole.yaml", ["lifetime.wiring=fixed", "lifetime.episodes=2", "lifetime.max_steps=60"])
    genomes = jax.vmap(lambda k: genome_template(cfg, k))(jax.random.split(jax.random.key(3), 4))
    own = evaluate_lifetimes(cfg, genomes, own_wiring=True)["CartPole-v1"]
    eval_key = jax.random.fold_in(jax.random.key(cfg.seed), 10_000)  # evaluate_lifetimes' default seed offset
    _, trained = population_fitness(cfg, env_tasks(cfg), genomes, jnp.arange(4), jax.random.key(cfg.seed), eval_key)
    np.testing.assert_array_equal(own, np.asarray(trained["CartPole-v1"][:, 0]))
    fresh = evaluate_lifetimes(cfg, genomes)["CartPole-v1"]
    assert not np.array_equal(own, fresh)  # fresh wirings are other networks


def test_ordinal_ties_change_nothing_without_ties():
    """With every fitness distinct, both rules rank alike and the update is the same."""
    template = {"x": jnp.zeros(6)}
    means = {}
    for ties in ("average", "ordinal"):
        for name in ("CMA_ES", "Open_ES"):
            es, params = make_strategy(name, 16, template, 0.5, ties=ties)
            state = es.init(jax.random.key(0), template, params)
            pop, state = es.ask(jax.random.key(1), state, params)
            fitness = jnp.sum((pop["x"] - 1.0) ** 2, axis=1)  # distinct, mirrored pairs included
            state, _ = es.tell(jax.random.key(2), pop, fitness, state, params)
            means[ties, name] = es.get_mean(state)["x"]
    for name in ("CMA_ES", "Open_ES"):
        np.testing.assert_allclose(means["ordinal", name], means["average", name], rtol=1e-6, atol=1e-7)


def test_a_run_built_with_ordinal_ties_ranks_with_them():
    """``strategy.ties`` reaches the strategy a run is built with, not only ``make_strategy``."""
    from agents.trainer import ordinal_weights_fitness_shaping_fn

    assert Trainer.build(tiny_cfg("strategy.ties=ordinal")).es.fitness_shaping_fn is ordinal_weights_fitness_shaping_fn
    assert Trainer.build(tiny_cfg()).es.fitness_shaping_fn.__name__ == "weights_fitness_shaping_fn"


def test_every_rank_based_algorithm_accepts_ordinal_ties():
    """The config's list of rank-based shaping and the trainer's ordinal twins stay in step:
    every algorithm the config lets take ``ties=ordinal`` is built with an ordinal shaping."""
    from evosax.algorithms import distribution_based_algorithms

    from agents.config import RANK_BASED_SHAPING, UNSUPPORTED_STRATEGIES, default_shaping
    from agents.trainer import ORDINAL_SHAPING

    assert set(ORDINAL_SHAPING) == set(RANK_BASED_SHAPING)
    built = 0
    for name, cls in sorted(distribution_based_algorithms.items()):
        if name in UNSUPPORTED_STRATEGIES or default_shaping(cls) not in RANK_BASED_SHAPING:
            continue
        es, _ = make_strategy(name, 8, {"x": jnp.zeros(4)}, 0.5, ties="ordinal")
        assert es.fitness_shaping_fn in ORDINAL_SHAPING.values(), name
        built += 1
    assert built >= 4  # CMA-ES, Sep-CMA-ES, SNES, xNES at least

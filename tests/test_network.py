"""The SFNN learner: genome independence, wiring, plastic state, zero update, fast == reference."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT, fast_and_reference

from sfnn import SFNNSpec, Topology, genome_size, init_genome, init_state, sample_masks, step
import sfnn.network as network
import sfnn.population as popmod
from sfnn.population import to_population_first


def spec_for(n_in, n_out, plasticity="synapse", neurons=16, **kw):
    return SFNNSpec(Topology.from_total(neurons, n_in, n_out), plasticity=plasticity, **kw)


@pytest.mark.parametrize("plasticity", ["synapse", "neuron"])
def test_genome_size_independent_of_env_sizes(plasticity):
    g = init_genome(jax.random.key(0), 4)
    assert genome_size(g) == 576
    for n_in, n_out in [(4, 2), (6, 3), (2, 3)]:
        spec = spec_for(n_in, n_out, plasticity)
        out, state = step(g, spec, init_state(jax.random.key(1), spec), jnp.ones(n_in), 0.5)
        assert out.shape == (n_out,)
        assert state.y["i"].shape == (n_in, 4) and state.y["o"].shape == (n_out, 4)
        assert bool(jnp.all(jnp.isfinite(out)))


def test_too_few_neurons_is_a_clear_error():
    with pytest.raises(ValueError, match="model.neurons"):
        Topology.from_total(6, 4, 2)


def test_masks_vary_with_key_and_respect_p():
    topo = Topology(n_in=8, n_hidden=64, n_out=8)
    a = sample_masks(jax.random.key(0), topo, 0.3)
    b = sample_masks(jax.random.key(1), topo, 0.3)
    assert any(not np.array_equal(a[k], b[k]) for k in a)
    frac = float(sum(m.sum() for m in a.values()) / sum(m.size for m in a.values()))
    assert abs(frac - 0.3) < 0.03
    assert set(a) == {"ih", "hh", "ho", "oh"}  # no I→I, I→O, O→O, H→I edges exist at all


def test_absent_edges_stay_zero():
    spec = spec_for(4, 2)
    g = init_genome(jax.random.key(0), 4)
    s = init_state(jax.random.key(3), spec)
    for _ in range(5):
        _, s = step(g, spec, s, jnp.ones(4), 1.0)
    for b, e in s.plastic.items():
        assert float(jnp.abs(e * (1 - s.masks[b][..., None])).max()) == 0.0


@pytest.mark.parametrize("plasticity", ["synapse", "neuron"])
def test_plasticity_changes_vectors_and_frozen_keeps_them(plasticity):
    spec = spec_for(4, 2, plasticity)
    g = init_genome(jax.random.key(0), 4)
    s0 = init_state(jax.random.key(1), spec)
    _, s_learn = step(g, spec, s0, jnp.ones(4), 1.0)
    _, s_frozen = step(g, spec, s0, jnp.ones(4), 1.0, learn=False)
    diff = sum(float(jnp.abs(a - b).sum()) for a, b in zip(jax.tree.leaves(s_learn.plastic), jax.tree.leaves(s0.plastic)))
    assert diff > 1e-4
    for a, b in zip(jax.tree.leaves(s_frozen.plastic), jax.tree.leaves(s0.plastic)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("plasticity", ["synapse", "neuron"])
def test_zero_gru_update_leaves_vectors_unchanged(plasticity):
    """Handmade GRU: all kernels zero, update gate shut (z≈0), candidate 0 -> GRU output ≈ 0."""
    g = init_genome(jax.random.key(0), 4)
    g["gru"] = jax.tree.map(jnp.zeros_like, g["gru"])
    g["gru"]["input_bias"] = g["gru"]["input_bias"].at[:, 4:8].set(-40.0)  # z gate -> 0
    spec = spec_for(4, 2, plasticity)
    s0 = init_state(jax.random.key(1), spec)
    s = s0
    for _ in range(3):
        _, s = step(g, spec, s, jax.random.normal(jax.random.key(2), (4,)), 1.0)
    for a, b in zip(jax.tree.leaves(s.plastic), jax.tree.leaves(s0.plastic)):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize(
    "plasticity, neurons, update, P, layout, every",
    [("synapse", 12, "add", 5, "cpu", "pass"), ("neuron", 12, "add", 5, "cpu", "pass"),
     ("neuron", 72, "add", 5, "cpu", "pass"), ("synapse", 12, "lerp", 5, "cpu", "pass"),
     ("neuron", 12, "lerp", 5, "cpu", "pass"), ("synapse", 12, "add", 32, "cpu", "pass"),
     ("synapse", 40, "add", 40, "cpu", "pass"), ("synapse", 12, "add", 5, "accelerator", "pass"),
     ("synapse", 12, "lerp", 5, "accelerator", "pass"), ("synapse", 40, "add", 40, "accelerator", "pass"),
     ("synapse", 12, "add", 5, "cpu", "step"), ("neuron", 12, "add", 5, "cpu", "step"),
     ("synapse", 40, "add", 40, "cpu", "step"), ("synapse", 12, "add", 5, "accelerator", "step")],
)
def test_fast_population_step_equals_reference(plasticity, neurons, update, P, layout, every, monkeypatch):
    """The population-last fast path computes the same outputs and plastic states as the
    readable single-agent reference, step after step (72 and 40 neurons: message sums longer
    than ``population.MESSAGE_CHUNK`` are split into chunks), for both plastic update rules,
    both update timings (``learn_every``), and at populations whose materialised terms go
    through each of ``_materialize``'s barriers (5: halves; 32, 40: the conditional).
    ``accelerator``: the program a GPU gets (no barriers, passes unrolled), traced here on the CPU."""
    if layout == "accelerator":
        monkeypatch.setattr(popmod, "_cpu_layout", lambda: False)
    spec = spec_for(3, 2, plasticity, neurons=neurons, update=update, plastic_lr=0.3 if update == "lerp" else 0.01,
                    learn_every=every)
    assert_fast_matches_reference(spec, P)


def assert_fast_matches_reference(spec, P: int, **genome_options) -> None:
    """Six steps of random observations and rewards through both paths: the same outputs every
    step and the same plastic state at the end (genomes from ``init_genome(**genome_options)``)."""
    ref_state, fast_state, ref_step, fast_step = fast_and_reference(spec, P, 4, **genome_options)
    for t in range(6):
        obs = jax.random.normal(jax.random.fold_in(jax.random.key(2), t), (P, 3))
        rew = jnp.arange(P, dtype=jnp.float32) * 0.1 - t * 0.05
        out_r, ref_state = ref_step(ref_state, obs, rew)
        out_f, fast_state = fast_step(fast_state, obs.T, rew)
        np.testing.assert_allclose(out_f.T, out_r, rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(to_population_first(fast_state)), jax.tree.leaves(ref_state)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _pre_only_gru(g):
    """Handmade GRU that reads only the pre-synaptic activation: all else zero, so from silent
    neurons (pre = 0) every gate is ½, the candidate 0 and the GRU's output half its state."""
    g["gru"] = jax.tree.map(jnp.zeros_like, g["gru"])
    g["gru"]["input_kernel"] = g["gru"]["input_kernel"].at[:, :4].set(1.0)
    return g


@pytest.mark.parametrize("every", ["pass", "step"])
def test_learn_every_step_updates_once_from_the_previous_activation(every):
    """``learn_every=step`` is the authors' timing: one GRU update per step (not one per pass),
    after the passes, fed the pre-synaptic neuron's activation of the *previous* step; so the
    first step of a lifetime (silent neurons) scales every edge by exactly 1 + η/2, and the
    step's output is the frozen step's. Learning at every pass feeds the GRU this pass's
    activations, which are not silent, and the second pass already sees the first's update."""
    g = _pre_only_gru(init_genome(jax.random.key(0), 4))
    spec = spec_for(4, 2, learn_every=every, plastic_lr=0.5)
    s0 = init_state(jax.random.key(1), spec)
    obs = jnp.array([0.5, -1.0, 2.0, 0.3])
    out, s1 = step(g, spec, s0, obs, 1.0)
    out_frozen, _ = step(g, spec, s0, obs, 1.0, learn=False)
    scaled_once = all(np.allclose(s1.plastic[b], s0.plastic[b] * 1.25, rtol=1e-6, atol=0) for b in s0.plastic)
    if every == "step":
        assert scaled_once
        np.testing.assert_array_equal(out, out_frozen)
    else:
        assert not scaled_once
        assert not np.allclose(out, out_frozen)


def _state_following_gru(g):
    """Handmade GRU whose output is its own state: update gate open (z≈1), h = v."""
    g["gru"] = jax.tree.map(jnp.zeros_like, g["gru"])
    g["gru"]["input_bias"] = g["gru"]["input_bias"].at[:, 4:8].set(40.0)
    return g


@pytest.mark.parametrize("plasticity", ["synapse", "neuron"])
def test_lerp_update_keeps_vectors_bounded_where_add_diverges(plasticity):
    """With a GRU that echoes its state, the authors' additive rule multiplies every vector by
    (1+η) per pass (here 1.5² per step: overflow within a lifetime), while ``lerp`` leaves it
    exactly where it is; with random GRUs ``lerp`` never leaves ±max(1, init_scale)."""
    obs = [jax.random.normal(jax.random.fold_in(jax.random.key(2), t), (4,)) for t in range(40)]

    def run(g, update, init_scale=0.1):
        spec = spec_for(4, 2, plasticity, update=update, plastic_lr=0.5, init_scale=init_scale)
        s0 = s = init_state(jax.random.key(1), spec)
        biggest = 0.0
        for o in obs:
            _, s = step(g, spec, s, o, 1.0)
            biggest = max(biggest, max(float(jnp.abs(v).max()) for v in jax.tree.leaves(s.plastic)))
        return s0, s, biggest

    echo = _state_following_gru(init_genome(jax.random.key(0), 4))
    _, _, grown = run(echo, "add")
    assert grown > 1e5
    s0, s, _ = run(echo, "lerp")
    for a, b in zip(jax.tree.leaves(s.plastic), jax.tree.leaves(s0.plastic)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for k in range(3):
        for scale in (0.1, 2.0):
            _, _, biggest = run(init_genome(jax.random.key(10 + k), 4), "lerp", scale)
            assert biggest <= max(1.0, scale) + 1e-6


def _fast_path_matches_reference(g, spec, obs, P=3, rtol=1e-3):
    """``population_step`` (population last) against ``step`` vmapped, P agents seeing scaled copies of
    ``obs``: outputs and final plastic vectors agree, and stay finite. The callers' echoing GRU grows
    every vector by 1.5^2 a step, which magnifies the two paths' last-bit differences (up to 2e-4
    relative after 150 steps under fully optimised XLA); a rescale or bound missed by either path would
    differ by factors of 2^64 or 1e6, so 1e-3 still tells them apart."""
    keys = jax.random.split(jax.random.key(5), P)
    fast_genome = popmod.to_population_last(jax.tree.map(lambda x: jnp.repeat(x[None], P, 0), g))
    fast = jax.jit(lambda s, o: popmod.population_step(fast_genome, spec, s, o, jnp.ones(P)))
    ref = jax.jit(jax.vmap(lambda s, o: step(g, spec, s, o, 1.0)))
    fs, rs = popmod.init_population_state(keys, spec), jax.vmap(lambda k: init_state(k, spec))(keys)
    for o in obs:
        o = o[None] * (1.0 + jnp.arange(P)[:, None])
        out_f, fs = fast(fs, o.T)
        out_r, rs = ref(rs, o)
        np.testing.assert_allclose(out_f.T, out_r, rtol=rtol, atol=1e-5)
    for a, b in zip(jax.tree.leaves(to_population_first(fs).plastic), jax.tree.leaves(rs.plastic)):
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-5)


@pytest.mark.parametrize("plasticity", ["synapse", "neuron"])
def test_rescale_keeps_growing_vectors_finite_and_the_network_acting_as_before(plasticity):
    """The additive rule with a GRU that echoes its state multiplies every vector by 1.5² a step,
    past float32's range (2¹²⁸) by step ~110. ``rescale`` scales the vectors into a neuron by 2⁻⁶⁴
    once they pass 2⁹⁶: the state stays finite for good, and until the unscaled run overflows
    the two runs act alike step for step, their states differing by exactly 1 or 2⁶⁴ per neuron
    (all edges into one neuron scaled together). The fast population path scales the same way."""
    echo = _state_following_gru(init_genome(jax.random.key(0), 4))
    obs = jax.random.normal(jax.random.key(2), (150, 4))

    def run(rescale):
        spec = spec_for(4, 2, plasticity, plastic_lr=0.5, rescale=rescale)
        one = jax.jit(lambda s, o: step(echo, spec, s, o, 1.0))
        s, outs, states = init_state(jax.random.key(1), spec), [], []
        for o in obs:
            out, s = one(s, o)
            outs.append(np.asarray(out))
            states.append(jax.tree.map(np.asarray, s.plastic))
        return spec, outs, states

    _, off_outs, off = run(False)
    spec, on_outs, on = run(True)
    finite = [all(np.isfinite(v).all() for v in p.values()) for p in off]
    overflow = finite.index(False)
    assert 80 < overflow < 150
    assert all(np.isfinite(v).all() and np.abs(v).max() < 2.0**98 for p in on for v in p.values())
    rescaled = 0
    for t in range(overflow):
        np.testing.assert_array_equal(on_outs[t], off_outs[t])
        per_neuron = {}  # neuron group -> ratio off/on of each neuron's incoming vectors
        for k, v in on[t].items():
            ratio = np.where(v != 0, off[t][k] / np.where(v != 0, v, 1.0), np.nan)
            assert np.all(np.isin(ratio[~np.isnan(ratio)], [1.0, 2.0**64]))
            axes, group = ((0, 2), network.BLOCKS[k][1]) if plasticity == "synapse" else (1, k)
            per_neuron.setdefault(group, []).append((np.fmin.reduce(ratio, axis=axes), np.fmax.reduce(ratio, axis=axes)))
        for pairs in per_neuron.values():
            lows, highs = np.array([lo for lo, _ in pairs]), np.array([hi for _, hi in pairs])
            np.testing.assert_array_equal(np.fmin.reduce(lows, axis=0), np.fmax.reduce(highs, axis=0))
        rescaled += int(any(np.fmax.reduce(hi, axis=None) > 1 for pairs in per_neuron.values() for _, hi in pairs))
    assert rescaled > 5

    _fast_path_matches_reference(echo, spec, obs)


@pytest.mark.parametrize("plasticity", ["synapse", "neuron"])
def test_plastic_max_holds_each_neuron_at_its_bound_and_leaves_smaller_vectors_alone(plasticity):
    """``plastic_max`` (``spec.bound``): under the echoing GRU every vector grows by 1.5² a step; with
    a bound of 3 the vectors into each neuron are scaled together so that their largest entry stays at
    3 (their ratios kept), and the fast population path does the same. A genome whose vectors stay
    below the bound lives exactly the lifetime it lives without one."""
    echo = _state_following_gru(init_genome(jax.random.key(0), 4))
    obs = jax.random.normal(jax.random.key(2), (30, 4))

    def run(g, bound, plastic_lr=0.5):
        spec = spec_for(4, 2, plasticity, plastic_lr=plastic_lr, bound=bound)
        one = jax.jit(lambda s, o: step(g, spec, s, o, 1.0))
        s, outs = init_state(jax.random.key(1), spec), []
        for o in obs:
            out, s = one(s, o)
            outs.append(np.asarray(out))
        return spec, s, outs

    spec, s, _ = run(echo, 3.0)
    _, s_free, _ = run(echo, 0.0)
    for k, v in s.plastic.items():
        v, free = np.asarray(v), np.asarray(s_free.plastic[k])
        assert np.abs(v).max() == pytest.approx(3.0, rel=1e-5) and np.abs(free).max() > 1e6
        # per neuron, the incoming vectors keep their ratios: the bounded state is the free one scaled
        axes = (0, 2) if plasticity == "synapse" else 1
        top = np.abs(free).max(axis=axes)
        scale = np.abs(v).max(axis=axes) / np.where(top > 0, top, 1.0)  # 0 / 1: a neuron without inputs
        shape = (1, -1, 1) if plasticity == "synapse" else (-1, 1)
        np.testing.assert_allclose(v, free * scale.reshape(shape), rtol=1e-4, atol=1e-6)

    quiet = init_genome(jax.random.key(3), 4)  # plastic_lr 0.01: nothing comes near 10 in 30 steps
    _, s_small, outs_small = run(quiet, 10.0, 0.01)
    _, s_none, outs_none = run(quiet, 0.0, 0.01)
    assert max(float(np.abs(v).max()) for v in s_none.plastic.values()) < 10.0
    for a, b in zip(outs_small, outs_none):
        np.testing.assert_array_equal(a, b)

    _fast_path_matches_reference(echo, spec, obs)


def test_plastic_max_must_be_zero_or_positive():
    from agents.config import ConfigError, load_config

    for bad in ("-1", "nan", "inf"):
        with pytest.raises(ConfigError, match="model.plastic_max"):
            load_config(None, [f"model.plastic_max={bad}"])
    assert load_config(None, ["model.plastic_max=50"]).model.plastic_max == 50.0


def test_lerp_needs_a_fraction_as_rate():
    from agents.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="plastic_lr=1.5 must be in"):
        load_config(None, ["model.plastic_update=lerp", "model.plastic_lr=1.5"])
    with pytest.raises(ConfigError, match="model.plastic_update"):
        load_config(None, ["model.plastic_update=mul"])
    with pytest.raises(ConfigError, match="model.learn_every"):
        load_config(None, ["model.learn_every=episode"])


AUTHORS_OPTIONS = dict(propagation="simultaneous", prev_action="channel0", action_feedback_from=1, initial_action=0,
                       self_loops=False, learn_every="step", passes=3)


@pytest.mark.parametrize(
    "plasticity, P, layout, options",
    [("synapse", 5, "cpu", AUTHORS_OPTIONS), ("synapse", 40, "cpu", AUTHORS_OPTIONS),
     ("synapse", 5, "accelerator", AUTHORS_OPTIONS), ("neuron", 5, "cpu", AUTHORS_OPTIONS),
     ("synapse", 5, "cpu", dict(propagation="simultaneous")), ("neuron", 5, "cpu", dict(propagation="simultaneous")),
     ("synapse", 5, "cpu", dict(prev_action="channel0", action_feedback_from=1, passes=3)),
     ("synapse", 5, "cpu", dict(update="lerp", plastic_lr=0.3)),
     ("synapse", 5, "cpu", {**AUTHORS_OPTIONS, "action_readout": "preactivation"}),
     ("synapse", 5, "cpu", dict(action_readout="preactivation")), ("neuron", 5, "cpu", dict(action_readout="preactivation")),
     ("synapse", 5, "accelerator", {**AUTHORS_OPTIONS, "action_readout": "preactivation"})],
)
def test_fast_step_equals_reference_with_the_authors_options(plasticity, P, layout, options, monkeypatch):
    """The authors' model options (simultaneous updates, the previous action over channel 0 from the
    second update, a first action, no self-loops, no neuron biases, an evolved plastic rate per
    agent) give the same outputs and plastic states on the fast path as on the reference, under
    per-pass learning (the passes scanned) and once-per-step learning (unrolled)."""
    if layout == "accelerator":
        monkeypatch.setattr(popmod, "_cpu_layout", lambda: False)
    spec = spec_for(3, 2, plasticity, neurons=12, **options)
    assert_fast_matches_reference(spec, P, neuron_bias=False, evolve_plastic_lr=True)


def test_preactivation_readout_breaks_the_ties_of_saturated_outputs():
    """float32 tanh is exactly 1 beyond ~9, so strongly driven output neurons tie and the value
    argmax falls to the lowest index; ``action_readout="preactivation"`` reads the same network's
    pre-activations, whose tanh is the value readout's output, bit for bit: the same action wherever
    the values differ, the network's own choice where they tie."""
    g = init_genome(jax.random.key(0), 4, neuron_bias=False)
    g["neuron"]["kernel"] = g["neuron"]["kernel"] * 300.0  # saturate
    obs = 3.0 * jax.random.normal(jax.random.key(3), (256, 3))
    actions = {}
    for readout in ("value", "preactivation"):
        spec = spec_for(3, 3, neurons=12, action_readout=readout)
        states = jax.vmap(lambda k: init_state(k, spec))(jax.random.split(jax.random.key(1), 256))
        out, _ = jax.vmap(lambda s, o: step(g, spec, s, o, 0.0))(states, obs)  # one step: the same previous action
        actions[readout] = np.asarray(jnp.argmax(out, -1))
        if readout == "value":
            values = out
        else:
            np.testing.assert_array_equal(jnp.tanh(out), values)  # the same arithmetic, only read earlier
    top = np.sort(np.asarray(values), -1)
    tied = top[:, -1] == top[:, -2]
    assert tied.mean() > 0.2 and (np.abs(top[tied, -1]) == 1.0).all()  # ties only where saturated
    np.testing.assert_array_equal(actions["value"][~tied], actions["preactivation"][~tied])
    assert (actions["value"][tied] != actions["preactivation"][tied]).any()
    np.testing.assert_array_equal(actions["value"][tied], np.asarray(jnp.argmax(values, -1))[tied])  # lowest index
    with pytest.raises(ValueError, match="discrete actions"):
        spec_for(3, 3, action_readout="preactivation", continuous=True)


def test_evolved_plastic_rate_scales_the_update():
    """η = plastic_lr·λ: λ = 0 freezes the plastic vectors, λ = 2 doubles their first change."""
    spec = spec_for(4, 2, learn_every="step")
    g = init_genome(jax.random.key(0), 4, evolve_plastic_lr=True)
    s0 = init_state(jax.random.key(1), spec)
    change = {}
    for lam in (0.0, 1.0, 2.0):
        g["plastic_lr_scale"] = jnp.array([lam])
        _, s = step(g, spec, s0, jnp.ones(4), 1.0)
        change[lam] = sum(float(jnp.abs(a - b).sum()) for a, b in zip(jax.tree.leaves(s.plastic), jax.tree.leaves(s0.plastic)))
    assert change[0.0] == 0.0 and change[1.0] > 1e-4
    np.testing.assert_allclose(change[2.0], 2 * change[1.0], rtol=1e-5)


def test_previous_action_over_channel_zero_replaces_the_messages_there():
    """``prev_action=channel0``: the output neurons' channel-0 input is the one-hot previous action
    alone (messages from hidden neurons reach the other channels only), from pass
    ``action_feedback_from`` on; ``initial_action`` is what a lifetime starts with."""
    spec = spec_for(3, 2, prev_action="channel0", initial_action=1)
    s0 = init_state(jax.random.key(1), spec)
    np.testing.assert_array_equal(s0.prev_action, [0.0, 1.0])
    s_out = jnp.full((2, 4), 7.0)
    fed = network.feed_action(spec, 0, s_out, s0.prev_action)
    np.testing.assert_array_equal(fed[:, 0], [0.0, 1.0])
    np.testing.assert_array_equal(fed[:, 1:], 7.0)
    late = dataclasses.replace(spec, action_feedback_from=1)
    np.testing.assert_array_equal(network.feed_action(late, 0, s_out, s0.prev_action), s_out)
    added = network.feed_action(spec_for(3, 2), 0, s_out, s0.prev_action)
    np.testing.assert_array_equal(added, s_out + s0.prev_action[:, None])


def test_simultaneous_updates_read_the_previous_update():
    """In a ``simultaneous`` pass the hidden neurons hear the input neurons' previous activations
    (silent at a lifetime's start), so the observation needs two updates to reach them; in a
    ``sequential`` pass it reaches them, and the outputs, in one."""
    g = init_genome(jax.random.key(0), 4, neuron_bias=False)
    for propagation, silent in (("simultaneous", True), ("sequential", False)):
        spec = spec_for(3, 2, propagation=propagation, passes=1, connect_prob=1.0)
        _, s = step(g, spec, init_state(jax.random.key(1), spec), jnp.ones(3), 0.0)
        assert bool(jnp.all(s.y["h"] == 0.0)) == silent
        assert bool(jnp.any(s.y["i"] != 0.0))


def test_blank_slate_acts_the_same_whatever_it_sees_until_it_learns():
    """``model.init_scale=0``: every plastic vector starts at zero, so no message carries what the
    network sees and its output is the same at every step until the GRUs have written something;
    learning off, it never changes (a frozen CartPole network holds one action, 9.3). From
    U(±0.1) vectors (``make train``'s config) the same genome's frozen network already answers to
    its observations."""
    from agents.config import load_config
    from agents.rl.policy import genome_template, sfnn_spec
    from envs.registry import make_env

    cfg = load_config(ROOT / "configs" / "default.yaml")
    env = make_env("CartPole-v1", 500)
    obs = jax.random.normal(jax.random.key(2), (30, env.obs_size))
    g = genome_template(cfg, jax.random.key(4))
    for scale in (0.0, 0.1):
        spec = dataclasses.replace(sfnn_spec(cfg, env), init_scale=scale)
        outs = {}
        for learn in (False, True):
            s, out = init_state(jax.random.key(1), spec), []
            for o in obs:
                y, s = step(g, spec, s, o, 0.5, learn=learn)
                out.append(np.asarray(y))
            outs[learn] = np.stack(out)
        varies = {learn: float(np.ptp(o, axis=0).max()) for learn, o in outs.items()}
        assert varies[True] > 1e-4, (scale, varies)  # learning: the observations reach the output
        assert (varies[False] == 0.0) == (scale == 0.0), (scale, varies)

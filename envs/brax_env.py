"""brax physics environments in the registry: ``brax/<name>`` with ``:key=value`` variants.

Variants (the registry's ``NAME:key=value,...`` syntax):

* ``backend=spring|positional|generalized|mjx`` — the physics pipeline (default ``spring``,
  the fastest on CPU; swimmer supports only ``generalized``, which is then its default);
* ``reset=first|fresh`` — what an episode that ends inside a lifetime restarts from: the
  lifetime's own first initial state (``first``, the default, as brax's AutoResetWrapper
  does; a brax reset costs as much as several steps) or a new random initial state (``fresh``);
* ``perm=SEED`` — a fixed permutation of the observation, as for gymnax names;
* any numeric or boolean argument of the environment's constructor, e.g.
  ``brax/hopper:ctrl_cost_weight=0.01,terminate_when_unhealthy=false``.

Episodes end by termination (brax's ``done`` before the cap) or by truncation at the cap
(``lifetime.max_steps``, default 1000), kept apart as for gymnax; a simulation that turns
non-finite (a NaN action) terminates its episode with reward 0. Actions are vectors in
[-1, 1], brax's own convention (its environments scale or clip them to the actuators).
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import io
import warnings
from functools import lru_cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs.adapter import EnvAdapter, UnknownEnvError, obs_permutation, parse_env_name

BACKENDS = ("spring", "positional", "generalized", "mjx")
DEFAULT_BACKEND = "spring"
ONLY_BACKENDS = {"swimmer": ("generalized",)}
FLUID_MODELS = ("swimmer",)  # models with fluid forces (their MJCF sets a viscosity): see _clip_takes_a_min
RESETS = ("first", "fresh")
DEFAULT_MAX_STEPS = 1000

# (observation size, action size) of each environment with default arguments, so that listing
# names (``sfnn envs``) builds nothing: building one takes seconds. The same on every backend;
# ``make_brax_env`` computes the real sizes, and tests/test_continuous.py checks this table.
BRAX_SIZES: dict[str, tuple[int, int]] = {
    "ant": (27, 8),
    "halfcheetah": (17, 6),
    "hopper": (11, 3),
    "humanoid": (244, 17),
    "humanoidstandup": (244, 17),
    "inverted_pendulum": (4, 1),
    "inverted_double_pendulum": (8, 1),
    "pusher": (23, 7),
    "reacher": (11, 2),
    "swimmer": (8, 2),
    "walker2d": (17, 6),
}


def brax_names() -> list[str]:
    return [f"brax/{n}" for n in BRAX_SIZES]


def return_range(short: str, max_steps: int) -> tuple[float, float] | None:
    """Built-in return ranges: inverted_pendulum earns 1 per step upright, so [0, cap]."""
    return (0.0, float(max_steps)) if short == "inverted_pendulum" else None


def _import_envs() -> Any:
    # mujoco.mjx prints "Failed to import warp" on stdout, which must stay clean for JSON output
    with contextlib.redirect_stdout(io.StringIO()):
        from brax import envs
    return envs


def _backends(short: str) -> tuple[str, ...]:
    return ONLY_BACKENDS.get(short, BACKENDS)


def _constructor_args(short: str) -> dict[str, Any]:
    """The environment's numeric and boolean constructor arguments with their defaults."""
    cls = _import_envs()._envs[short]
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if type(p.default) in (int, float, bool)}


def _parse_args(name: str, short: str, opts: dict[str, str]) -> dict[str, Any]:
    if not opts:
        return {}
    allowed = _constructor_args(short)
    out: dict[str, Any] = {}
    for key, value in opts.items():
        if key not in allowed:
            choices = ", ".join(["backend", "reset", "perm", *sorted(allowed)])
            raise UnknownEnvError(f"{name}: {key!r} is not a variant of brax/{short}; choose from {choices}")
        default = allowed[key]
        if isinstance(default, bool):
            if value not in ("true", "false"):
                raise UnknownEnvError(f"{name}: {key}={value!r} must be true or false")
            out[key] = value == "true"
            continue
        try:
            out[key] = type(default)(float(value))
        except ValueError:
            raise UnknownEnvError(f"{name}: {key}={value!r} is not a number") from None
    return out


def _split(base: str, opts: dict[str, str], name: str) -> tuple[str, str, str, str | None, dict[str, Any]]:
    """(short name, backend, reset mode, perm seed, constructor args); raises UnknownEnvError."""
    short = base.removeprefix("brax/")
    if short not in BRAX_SIZES:
        close = difflib.get_close_matches(base, brax_names(), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else f"choose one of {', '.join(brax_names())}"
        raise UnknownEnvError(f"unknown environment {base!r}: {hint}")
    opts = dict(opts)
    ok = _backends(short)
    backend = opts.pop("backend", ok[0] if DEFAULT_BACKEND not in ok else DEFAULT_BACKEND)
    if backend not in ok:
        close = difflib.get_close_matches(backend, ok, n=1, cutoff=0.4)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UnknownEnvError(f"unknown brax backend {backend!r} for {base}: {hint}choose one of {', '.join(ok)}")
    reset = opts.pop("reset", "first")
    if reset not in RESETS:
        raise UnknownEnvError(f"{name}: reset={reset!r} must be one of {', '.join(RESETS)}")
    perm = opts.pop("perm", None)
    return short, backend, reset, perm, _parse_args(name, short, opts)


def _clip_takes_a_min() -> bool:
    """Whether ``jnp.clip`` still accepts ``a_min``, which brax's fluid model passes (removed in
    JAX 0.10): a model with fluid forces would otherwise fail deep inside its first step."""
    return "a_min" in inspect.signature(jnp.clip).parameters


def _check_fluid(name: str, backend: str, fluid: bool) -> None:
    if fluid and backend != "mjx" and not _clip_takes_a_min():
        raise UnknownEnvError(
            f"{name} cannot run with this JAX: brax's fluid forces (this model's viscosity) call "
            f"jnp.clip(a_min=...), which JAX {jax.__version__} no longer accepts; no brax release fixes it yet"
        )


def check_brax_name(name: str) -> None:
    """Raise UnknownEnvError (one line, with suggestions) for an unknown name, backend or variant,
    or a model this JAX cannot step (checked from the name: building a model takes seconds)."""
    base, opts = parse_env_name(name)
    short, backend, *_ = _split(base, opts, name)
    _check_fluid(name, backend, short in FLUID_MODELS)


@lru_cache(maxsize=None)
def brax_env(short: str, backend: str, args: tuple[tuple[str, Any], ...] = ()) -> Any:
    """The brax environment object (built once per process: loading its model takes seconds)."""
    with warnings.catch_warnings():  # brax warns on every model load that it is not maintained
        warnings.simplefilter("ignore", UserWarning)
        return _import_envs().get_environment(short, backend=backend, **dict(args))


def brax_env_for(name: str) -> Any:
    """The brax environment object behind a registered ``brax/...`` name (for rendering)."""
    base, opts = parse_env_name(name)
    short, backend, _, _, args = _split(base, opts, name)
    return brax_env(short, backend, tuple(sorted(args.items())))


class BraxState(NamedTuple):
    """The adapter's environment state: the running episode, where to restart, steps so far."""

    env: Any  # brax State
    start: Any  # the lifetime's first brax State (reset=first), () for reset=fresh
    t: jax.Array  # steps in this episode


def _strong(tree: Any) -> Any:
    """Every leaf an array of fixed dtype: brax returns Python floats (reward 1.0) in places,
    which would change the loop's carry type from one step to the next."""
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.asarray(x).dtype), tree)


def make_brax_env(name: str, max_steps: int | None = None) -> EnvAdapter:
    """The registry adapter of a ``brax/<name>[:variants]`` name (see the module docstring)."""
    base, opts = parse_env_name(name)
    short, backend, reset_mode, perm_seed, args = _split(base, opts, name)
    env = brax_env(short, backend, tuple(sorted(args.items())))
    _check_fluid(name, backend, bool(getattr(getattr(env, "sys", None), "enable_fluid", False)))  # also unlisted models
    cap = int(max_steps) if max_steps is not None else DEFAULT_MAX_STEPS
    shape = jax.eval_shape(env.reset, jax.random.key(0))  # traced, never run: no unjitted reset
    obs_size = int(np.prod(shape.obs.shape))
    n_act = int(env.action_size)
    perm = obs_permutation(name, perm_seed, obs_size)
    fresh = reset_mode == "fresh"

    def flat(obs: jax.Array) -> jax.Array:
        return jnp.asarray(obs, jnp.float32).reshape(-1)[perm]

    def reset(key: jax.Array) -> tuple[jax.Array, BraxState]:
        s = _strong(env.reset(key))
        return flat(s.obs), BraxState(s, () if fresh else s, jnp.int32(0))

    def step(key: jax.Array, state: BraxState, action: jax.Array):
        nxt = _strong(env.step(state.env, jnp.asarray(action, jnp.float32).reshape(n_act)))
        t = state.t + 1
        # A non-finite action (a diverged network) or state makes the physics NaN from then on, and
        # brax's own checks (|angle| > 0.2, height ranges) are False on NaN: the episode would never
        # end and would collect its reward every step. A diverged simulation is a failure instead:
        # the episode terminates with reward 0, and the next one restarts from a finite state.
        diverged = ~(jnp.all(jnp.isfinite(nxt.obs)) & jnp.all(jnp.isfinite(nxt.reward)))
        terminated = (nxt.done > 0) | diverged
        truncated = jnp.logical_and(t >= cap, ~terminated)
        done = jnp.logical_or(terminated, truncated)
        start = _strong(env.reset(key)) if fresh else state.start
        pick = lambda a, b: jnp.where(done, a, b)  # noqa: E731
        restarted = nxt.replace(
            pipeline_state=jax.tree.map(pick, start.pipeline_state, nxt.pipeline_state),
            obs=pick(start.obs, nxt.obs),
            done=jnp.zeros_like(nxt.done),
        )
        new = BraxState(restarted, state.start, jnp.where(done, 0, t))
        reward = jnp.where(diverged, 0.0, jnp.asarray(nxt.reward, jnp.float32))
        return flat(restarted.obs), new, reward, terminated, truncated

    return EnvAdapter(
        name=name,
        obs_size=obs_size,
        n_actions=n_act,
        max_steps=cap,
        reset=reset,
        step=step,
        return_range=return_range(short, cap),
        termination="failure",  # brax ends an episode early only when the body is unhealthy (or diverged)
        continuous=True,
        action_low=(-1.0,) * n_act,
        action_high=(1.0,) * n_act,
    )

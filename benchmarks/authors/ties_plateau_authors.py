"""The authors' evolution strategy on a plateau: every member of every generation given the same fitness.

The counterpart of ``benchmarks/ties_plateau.py`` for the authors' pins (evosax 0.1.4, JAX
0.4.20): it builds the strategy as their ``EvosaxTrainer`` does (``evosax.CMA_ES(popsize,
num_dims)`` with its default parameters, ``FitnessShaper(maximize=True)``) and runs their
``ask`` / shape / ``tell`` on all-equal fitness, printing CMA-ES's σ after every ``--every``
generations as one JSON line in the same form as ``ties_plateau.py``. It needs no checkout of
their repository, only their environment (see README.md):

    benchmarks/authors/.venv/bin/python benchmarks/authors/ties_plateau_authors.py \
        [--strategy CMA_ES] [--population 128] [--dims 565] [--generations 150] [--every 50]

``--fitness`` picks the plateau's value (0: a product of normalised fitnesses where every member
failed one environment). evosax 0.1.4 sorts members with ``argsort``, which ranks tied members
one by one in population order: the library's ``strategy.ties=ordinal``.
"""

from __future__ import annotations

import json
import os
import sys
from importlib.metadata import version

import evosax
import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ties_plateau import plateau_parser  # noqa: E402  (stdlib only at import)


def plateau_sigma(strategy: str, population: int, dims: int, generations: int, every: int,
                  fitness: float) -> dict[int, float]:
    """CMA-ES's σ (mean over dimensions for the separable strategies) after each ``every`` generations."""
    es = getattr(evosax, strategy)(popsize=population, num_dims=dims)
    params = es.default_params
    shaper = evosax.FitnessShaper(maximize=True)
    state = es.initialize(jax.random.PRNGKey(0), params)
    ask, tell = jax.jit(es.ask), jax.jit(es.tell)
    flat = jnp.full((population,), fitness, jnp.float32)
    out = {}
    for g in range(generations):
        x, state = ask(jax.random.fold_in(jax.random.PRNGKey(1), g), state, params)
        state = tell(x, shaper.apply(x, flat), state, params)
        if (g + 1) % every == 0:
            out[g + 1] = float(jnp.mean(state.sigma))
    return out


def main() -> None:
    p = plateau_parser(__doc__.splitlines()[0])
    p.add_argument("--fitness", type=float, default=0.0, help="every member's fitness, each generation")
    a = p.parse_args()
    sigma = plateau_sigma(a.strategy, a.population, a.dims, a.generations, a.every, a.fitness)
    print(json.dumps({"strategy": a.strategy, "population": a.population, "dims": a.dims,
                      "ties": f"evosax {version('evosax')} (the authors' pin)",
                      "search_std": {str(g): round(s, 6) for g, s in sigma.items()}}))


if __name__ == "__main__":
    main()

"""What an ES does on a plateau: every member of every generation given the same fitness.

A product of normalised fitnesses is 0 for every member that sits at the bottom of one
environment's range, so a whole population can tie for hundreds of generations (the authors'
three-environment experiment from the zero genome does). This script feeds such generations to
the library's strategy (``agents.trainer.make_strategy``, as ``sfnn train`` builds it) under each
``strategy.ties`` rule and prints the search's step size (``search_std``: CMA-ES's σ) after
every ``--every`` generations, one JSON line per rule. Under evosax's average ranks every tied
member gets one shared weight, the step is the population's mean and σ shrinks by a constant
factor a generation; under ordinal ranks (evosax 0.1.4's ``argsort``) the step is a random one
and σ stays near its start.

    .venv/bin/python benchmarks/ties_plateau.py [--strategy CMA_ES] [--population 128]
        [--dims 565] [--generations 150] [--every 50] [--sigma 1.0]
"""

from __future__ import annotations

import argparse
import json


def plateau_parser(description: str) -> argparse.ArgumentParser:
    """The plateau's options, shared with ``authors/ties_plateau_authors.py`` (which runs in the
    authors' environment, so this module imports JAX and the library only inside functions)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--strategy", default="CMA_ES")
    p.add_argument("--population", type=int, default=128)
    p.add_argument("--dims", type=int, default=565, help="genome size (565: the authors' SFNN)")
    p.add_argument("--generations", type=int, default=150)
    p.add_argument("--every", type=int, default=50)
    return p


def plateau_std(strategy: str, population: int, dims: int, generations: int, every: int, sigma: float,
                ties: str) -> dict[int, float]:
    """``search_std`` after each ``every`` generations of all-equal (zero) fitness."""
    import jax
    import jax.numpy as jnp

    from agents.trainer import evosax_fitness, make_strategy

    template = {"x": jnp.zeros(dims)}
    es, params = make_strategy(strategy, population, template, sigma, ties=ties)
    state = es.init(jax.random.key(0), template, params)
    ask, tell = jax.jit(es.ask), jax.jit(es.tell)
    flat = evosax_fitness(jnp.zeros(population))[0]
    out = {}
    for g in range(generations):
        k1, k2 = jax.random.split(jax.random.fold_in(jax.random.key(1), g))
        pop, state = ask(k1, state, params)
        state, _ = tell(k2, pop, flat, state, params)
        if (g + 1) % every == 0:
            out[g + 1] = float(jnp.mean(state.std))
    return out


def main() -> None:
    from agents.config import TIES

    p = plateau_parser(__doc__.splitlines()[0])
    p.add_argument("--sigma", type=float, default=1.0)
    a = p.parse_args()
    for ties in TIES:
        std = plateau_std(a.strategy, a.population, a.dims, a.generations, a.every, a.sigma, ties)
        print(json.dumps({"strategy": a.strategy, "population": a.population, "dims": a.dims, "ties": ties,
                          "search_std": {str(g): round(s, 6) for g, s in std.items()}}))


if __name__ == "__main__":
    main()

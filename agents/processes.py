"""Runs of several processes (``parallel.processes`` > 1), joined through ``jax.distributed``.

Every process runs the same ``sfnn train`` command and the same generation loop; the
population is split over the devices of all processes, and the ES state and every metric
are replicated, so each process holds the same numbers. Only process 0 writes the run
directory. This module imports no more than jax, because ``join_processes`` must run before
anything starts JAX's backend (importing evosax does).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from agents.config import ConfigError, TrainConfig, validate_parallel


def join_processes(cfg: TrainConfig) -> None:
    """Join the run's other processes (``parallel.processes`` > 1) through ``jax.distributed``.

    Must come before anything starts JAX's backend (importing evosax or building environments
    does), since the backend learns the other processes' devices only at its start. It waits,
    up to 5 minutes, until all processes have joined. On CPU the processes exchange results
    through gloo, the default ``jax_cpu_collectives_implementation`` of jax 0.10.
    """
    validate_parallel(cfg)
    par = cfg.parallel
    if par.processes == 1:
        return
    print(f"process {par.process_id} of {par.processes}: joining the run at {par.coordinator} "
          "(waits up to 5 minutes for all processes)", flush=True)
    try:
        jax.distributed.initialize(coordinator_address=par.coordinator, num_processes=par.processes,
                                   process_id=par.process_id)
    except Exception as e:  # unreachable coordinator, port in use, timeout: one line for the user
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ConfigError(f"process {par.process_id} of {par.processes} could not join the run at "
                          f"parallel.coordinator={par.coordinator} ({first})") from None


def from_process_0(tree: Any) -> Any:
    """``tree`` as process 0 holds it, on every process (unchanged in a single-process run).

    Arrays travel as unsigned integers of their width, so floats arrive bit for bit (a sum
    with zeros, as the broadcast does, would turn -0.0 into 0.0).
    """
    if jax.process_count() == 1:
        return tree
    from jax.experimental import multihost_utils

    host = jax.tree.map(np.asarray, tree)
    bits = multihost_utils.broadcast_one_to_all(jax.tree.map(lambda a: a.view(f"u{a.itemsize}"), host))
    return jax.tree.map(lambda b, a: jnp.asarray(np.asarray(b).view(a.dtype)), bits, host)


def to_local(tree: Any) -> Any:
    """Arrays placed across processes -> this process's own copies, for code that runs on one process only."""
    if jax.process_count() == 1:
        return tree
    return jax.tree.map(lambda x: jnp.asarray(np.asarray(x)), tree)

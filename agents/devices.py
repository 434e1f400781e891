"""How many devices a population is split over on a CPU, decided before JAX starts.

XLA makes several CPU devices only when told so (``XLA_FLAGS``) before its backend starts, so
this module imports nothing from JAX: the command line calls ``expose_cpu_devices`` first, and
the trainer later picks its share of what exists (``cpu_device_count``).
"""

from __future__ import annotations

import os

from agents.config import TrainConfig, is_supervised
from agents.cpu import MIN_BATCH

FLAG = "--xla_force_host_platform_device_count"


def usable_cores() -> int:
    """Cores this process may run on (its affinity, e.g. under ``taskset``), else all of them."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_device_count(members: int, cores: int) -> int:
    """``parallel.devices: null`` on a CPU: the most devices, at most one per core, that split
    ``members`` evenly into shares of at least ``MIN_BATCH`` (16) members, the smallest batch
    a device's loops vectorise (``agents.cpu``). Two devices on two cores against one device on
    both (XLA's threads), ``sfnn bench``, alternated, AMD EPYC with AVX-512, 2026-12-07: 1.1-1.4x
    for the synapse configs at population 64 and 1.3x at 32; neuron level at 64, 1.2x at 32
    (docs/PERFORMANCE.md, "Several devices"). Results do not depend on it."""
    for d in range(max(cores, 1), 1, -1):
        if members % d == 0 and members // d >= MIN_BATCH:
            return d
    return 1


def splittable_members(cfg: TrainConfig) -> int:
    """The members ``parallel.devices: null`` may split over CPU devices: an SFNN population in
    a one-process run; none otherwise (dataset learners, several processes keep one device)."""
    return cfg.strategy.population if not is_supervised(cfg) and cfg.parallel.processes == 1 else 0


def expose_cpu_devices(devices: int | None, members: int) -> None:
    """Have XLA make the CPU devices that ``parallel.devices`` asks for (``members``: from
    ``splittable_members``): N for N > 1, up to one per core; for 0 (all), one per usable core;
    for null, one per usable core when ``members`` could use them. Only CPU devices are added,
    so a GPU or TPU run is unchanged; an ``XLA_FLAGS`` that already sets the count wins."""
    n = usable_cores() if devices == 0 else devices
    if n is None:
        n = usable_cores() if cpu_device_count(members, usable_cores()) > 1 else 1
    flags = os.environ.get("XLA_FLAGS", "")
    if 1 < n <= (os.cpu_count() or 1) and FLAG.lstrip("-") not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {FLAG}={n}".strip()

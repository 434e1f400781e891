"""What a run was computed on, written into its summary.json.

The same config and seed give the same bits on one machine (docs/RELIABILITY.md, determinism),
but another CPU type or another build of the numerical libraries may round one operation
differently, and CMA-ES's ranking turns a last-bit difference into another trajectory from the
next generation on. A recorded result therefore names the CPU, the JAX backend and the versions
of the packages that compute it, so that a rerun that parts from it can be told apart from a bug.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

import jax

from agents.cpu import cpu_info

# the packages whose arithmetic or random streams a run's numbers depend on
PACKAGES = ("jax", "jaxlib", "evosax", "gymnax", "brax", "numpy", "scipy")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None where it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_record() -> dict[str, Any]:
    """The CPU (model, widest vector ISA, any XLA cap), JAX's backend and devices, Python and
    :data:`PACKAGES`' versions: enough to tell whether two runs could have given the same bits."""
    devices = jax.devices()
    return {
        **cpu_info(),
        "backend": jax.default_backend(),
        "devices": f"{len(devices)} × {devices[0].device_kind}",
        "python": platform.python_version(),
        "packages": package_versions(),
    }

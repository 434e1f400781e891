"""The hand-written edge-GRU kernel of benchmarks/native_kernel.py computes the training path's update.

The kernel is a measurement, not a library path; this keeps its figures meaningful (and the
C++ from rotting): every lane, including a population that is not a multiple of 16, both
plastic rules, several channel counts, against XLA's update of the same block.
"""

import shutil
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
native_kernel = pytest.importorskip("native_kernel")

pytestmark = pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="no C++ compiler")


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return native_kernel.register(native_kernel.build(tmp_path_factory.mktemp("kernel")), "sfnn_test_edge_gru")


@pytest.mark.parametrize("pop,m,n", [(64, 4, 26), (37, 4, 5), (16, 3, 7), (5, 2, 3)])
@pytest.mark.parametrize("lerp", [False, True])
def test_kernel_equals_the_xla_update(target, pop, m, n, lerp):
    edges, mask, a, c, shared, wh, bn = native_kernel.block_inputs(pop, m, n, seed=pop + m)
    eta = 0.7  # large, so a wrong gate shows in the result rather than vanishing in η·h
    ref = native_kernel.xla_block(edges, mask, a, c, shared, wh, bn, eta, lerp)
    out = jax.jit(lambda *x: native_kernel.edge_gru(target, *x, eta, lerp))(edges, mask, a, c, shared, wh, bn)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=2e-6, rtol=0)
    assert float(jnp.max(jnp.abs(out))) > 0.1  # not all masked away

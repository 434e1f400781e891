"""Neuron groups and the random wiring of an SFNN.

Neurons are laid out as three groups, input (I), hidden (H) and output (O); each group is
one neuron type. Only four kinds of connection exist (I→H, H→H, H→O, O→H), so the wiring
is stored as four dense 0/1 blocks instead of one N×N matrix with mostly forbidden cells:
every edge then belongs to exactly one block, and a block's edges all share one type.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

# block name -> (pre-synaptic group, post-synaptic group)
BLOCKS: dict[str, tuple[str, str]] = {"ih": ("i", "h"), "hh": ("h", "h"), "ho": ("h", "o"), "oh": ("o", "h")}
GROUP_TYPE: dict[str, int] = {"i": 0, "h": 1, "o": 2}


@dataclass(frozen=True)
class Topology:
    """Group sizes of one network; static (hashable) so it can parametrise jitted code."""

    n_in: int
    n_hidden: int
    n_out: int

    @classmethod
    def from_total(cls, neurons: int, n_in: int, n_out: int) -> "Topology":
        """The authors' convention: a fixed total neuron count, hidden = total - in - out."""
        n_hidden = neurons - n_in - n_out
        if n_hidden < 1:
            raise ValueError(
                f"model.neurons={neurons} leaves no hidden neurons for {n_in} inputs and "
                f"{n_out} outputs; set model.neurons to at least {n_in + n_out + 1}"
            )
        return cls(n_in, n_hidden, n_out)

    def size(self, group: str) -> int:
        return {"i": self.n_in, "h": self.n_hidden, "o": self.n_out}[group]

    def block_shape(self, block: str) -> tuple[int, int]:
        pre, post = BLOCKS[block]
        return self.size(pre), self.size(post)

    @property
    def n_neurons(self) -> int:
        return self.n_in + self.n_hidden + self.n_out


def sample_masks(key: jax.Array, topo: Topology, p: float, self_loops: bool = True) -> dict[str, jax.Array]:
    """Fresh random wiring: each allowed edge exists independently with probability ``p``;
    ``self_loops=False`` removes hidden→hidden self-connections (the authors' wiring has none).
    The same key draws the same other edges either way."""
    keys = jax.random.split(key, len(BLOCKS))
    masks = {
        name: jax.random.bernoulli(k, p, topo.block_shape(name)).astype(jnp.float32)
        for k, name in zip(keys, BLOCKS)
    }
    if not self_loops:
        masks["hh"] = masks["hh"] * (1.0 - jnp.eye(topo.n_hidden, dtype=jnp.float32))
    return masks


def dense_adjacency(masks: dict[str, jax.Array], topo: Topology) -> jax.Array:
    """The wiring as one N×N matrix (rows pre, columns post) in I,H,O order, for plots."""
    off = {"i": 0, "h": topo.n_in, "o": topo.n_in + topo.n_hidden}
    adj = jnp.zeros((topo.n_neurons, topo.n_neurons))
    for name, (pre, post) in BLOCKS.items():
        a, b = off[pre], off[post]
        m = masks[name]
        adj = adj.at[a : a + m.shape[0], b : b + m.shape[1]].set(m)
    return adj

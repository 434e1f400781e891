"""Learners: Structurally Flexible Neural Networks (and BLUR), pure JAX, no environments."""

from sfnn import baselines
from sfnn.network import PLACEMENTS, PlasticState, SFNNSpec, init_state, step
from sfnn.topology import Topology, sample_masks
from sfnn.units import Genome, genome_size, init_genome

__all__ = [
    "PLACEMENTS",
    "Genome",
    "PlasticState",
    "SFNNSpec",
    "Topology",
    "genome_size",
    "init_genome",
    "init_state",
    "sample_masks",
    "baselines",
    "step",
]

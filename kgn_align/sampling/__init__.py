"""Weighted two-hop neighbourhood sampling (CG-MuAlign style) into :class:`TreeStore`.

- :mod:`~kgn_align.sampling.keys`: the deterministic race keys shared by Cypher and numpy.
- :mod:`~kgn_align.sampling.lists`: per-node neighbour lists (candidates, weights, draw).
- :mod:`~kgn_align.sampling.trees`: lists -> computation trees (vectorised).
- :mod:`~kgn_align.sampling.reference`: the in-memory sampler over an edge list.
- :mod:`~kgn_align.sampling.server`: the Cypher sampler (draws inside the graph server).
"""

from kgn_align.sampling.keys import HASH_PROPERTY, node_hash, seed_offsets
from kgn_align.sampling.lists import Candidates, NeighbourLists, candidates
from kgn_align.sampling.reference import lists_in_memory, sample_in_memory
from kgn_align.sampling.server import EntityTable, SampleStats, Sampler, SeedNotFound
from kgn_align.sampling.trees import compose

__all__ = [
    "Candidates",
    "EntityTable",
    "HASH_PROPERTY",
    "NeighbourLists",
    "SampleStats",
    "Sampler",
    "SeedNotFound",
    "candidates",
    "compose",
    "lists_in_memory",
    "node_hash",
    "sample_in_memory",
    "seed_offsets",
]

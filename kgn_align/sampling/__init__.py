"""Weighted two-hop neighbourhood sampling (CG-MuAlign style) into :class:`TreeStore`.

- :mod:`~kgn_align.sampling.keys`: the deterministic race keys shared by Cypher and numpy.
- :mod:`~kgn_align.sampling.lists`: per-node neighbour lists (candidates, weights, draw).
- :mod:`~kgn_align.sampling.trees`: lists -> computation trees (vectorised).
- :mod:`~kgn_align.sampling.reference`: the in-memory sampler over an edge list.
- :mod:`~kgn_align.sampling.server`: the Cypher sampler (draws inside the graph server).

The server module is imported lazily (it needs the driver); ``from kgn_align.sampling
import Sampler`` works all the same.
"""

from typing import Any

from kgn_align.sampling.keys import HASH_PROPERTY, node_hash, seed_offsets
from kgn_align.sampling.lists import Candidates, NeighbourLists, candidates
from kgn_align.sampling.reference import lists_in_memory, sample_in_memory
from kgn_align.sampling.trees import compose



def __getattr__(name: str) -> Any:
    if name in ("Sampler", "SampleStats", "EntityTable", "SeedNotFound"):
        from kgn_align.sampling import server

        return getattr(server, name)
    raise AttributeError(name)


__all__ = [
    "EntityTable",
    "SampleStats",
    "Sampler",
    "SeedNotFound",
    "HASH_PROPERTY",
    "Candidates",
    "NeighbourLists",
    "candidates",
    "compose",
    "lists_in_memory",
    "node_hash",
    "sample_in_memory",
    "seed_offsets",
]

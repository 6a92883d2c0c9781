"""Weighted two-hop neighbourhood sampling (CG-MuAlign style) into :class:`TreeStore`.

- :mod:`~kgn_align.sampling.keys`: the deterministic race keys shared by Cypher and numpy.
- :mod:`~kgn_align.sampling.lists`: per-node neighbour lists (candidates, weights, draw).
- :mod:`~kgn_align.sampling.trees`: lists -> computation trees (vectorised).
- :mod:`~kgn_align.sampling.reference`: the in-memory sampler over an edge list.
- :mod:`~kgn_align.sampling.server`: the Cypher sampler (draws inside the graph server).
"""

from __future__ import annotations

import importlib
from typing import Any

#: name -> submodule. Loaded on first use (PEP 562), so that the light parts (the race keys:
#: numpy only) load without torch: the pre-flight checks read HASH_PROPERTY and every
#: command runs them before its slow work.
_EXPORTS = {
    "HASH_PROPERTY": "keys", "node_hash": "keys", "seed_offsets": "keys",
    "Candidates": "lists", "NeighbourLists": "lists", "candidates": "lists",
    "lists_in_memory": "reference", "sample_in_memory": "reference",
    "EntityTable": "server", "SampleStats": "server", "Sampler": "server", "SeedNotFound": "server",
    "compose": "trees",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

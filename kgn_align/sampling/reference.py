"""The in-memory sampler: the same draw as the Cypher sampler, over an edge list.

It is the reference the Cypher path is tested against (same candidates, same weights, same
race keys, so on the same graph and seed both return identical trees), and it lets the
model be trained and tested without a graph server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from kgn_align.neighborhood import TreeStore
from kgn_align.sampling import keys as rk
from kgn_align.sampling.lists import (
    NeighbourLists,
    candidates,
    draw_lists,
    index_edges,
    string_ranks,
)
from kgn_align.sampling.trees import compose

Edge = tuple[object, str, object]


def lists_in_memory(edges: Iterable[Edge], cap: int, seed: int = 0, weighted: bool = True, *,
                    keys: Sequence[str] | None = None,
                    relationship_types: Sequence[str] | None = None,
                    same_as_type: str = "SAME_AS",
                    ) -> tuple[NeighbourLists, list[str], list[str]]:
    """Every node's first ``cap`` candidates; returns (lists, entity keys, relation names).

    ``edges`` are ``(head key, relationship type, tail key)`` of *one side* (the caller
    leaves out the other side's nodes, as the Cypher side filter does). Relationships of
    type ``same_as_type`` and, if ``relationship_types`` is given, of any type not in it
    are ignored. ``keys`` fixes the entity table's order (more keys are appended when
    edges mention them).
    """
    table = [str(k) for k in (keys or [])]
    key_index = {k: i for i, k in enumerate(table)}
    if len(key_index) != len(table):
        raise ValueError("entity keys must be unique")
    followed = None if relationship_types is None else set(relationship_types)
    kept = (e for e in edges
            if e[1] != same_as_type and (followed is None or e[1] in followed))
    relations: list[str] = []
    head, rel, tail = index_edges(kept, key_index, table, relations, {})
    cands = candidates(head, rel, tail, len(relations))
    lists = draw_lists(cands, rk.node_hashes(table), len(table), cap, seed, weighted,
                       rel_order=string_ranks(relations), key_order=string_ranks(table))
    return lists, table, relations


def sample_in_memory(edges: Iterable[Edge], seeds: Iterable[object], k1: int = 10, k2: int = 10,
                     seed: int = 0, weighted: bool = True, *,
                     keys: Sequence[str] | None = None,
                     entity_types: Mapping[str, str] | None = None,
                     default_type: str = "Entity",
                     relationship_types: Sequence[str] | None = None,
                     same_as_type: str = "SAME_AS") -> TreeStore:
    """Two-hop trees for ``seeds`` (keys), drawn exactly as the Cypher sampler draws them.

    Args:
        edges: ``(head key, relationship type, tail key)`` triples of one side.
        seeds: keys of the seed entities; each gets one tree, in this order.
        k1: hop-1 cap (default 10). k2: hop-2 cap per hop-1 slot (default 10).
        seed: random seed of the race keys (default 0). weighted: inverse-count weights
            (``True``, default) or uniform.
        keys: the entity table's order (default: seeds, then keys as edges mention them).
        entity_types: key -> type name (default: every entity ``default_type``).
        relationship_types: types to follow (default ``None``: all but ``same_as_type``).
    """
    seed_keys = [str(s) for s in seeds]
    table = list(keys) if keys is not None else list(dict.fromkeys(seed_keys))
    lists, table, relations = lists_in_memory(
        edges, max(k1, k2), seed, weighted, keys=table,
        relationship_types=relationship_types, same_as_type=same_as_type)
    key_index = {k: i for i, k in enumerate(table)}
    missing = [k for k in seed_keys if k not in key_index]
    if missing:
        raise ValueError(f"{len(missing)} seed(s) not in the entity table, e.g. {missing[:3]}")
    type_of = entity_types or {}
    type_names = sorted({type_of.get(k, default_type) for k in table}) or [default_type]
    type_index = {t: i for i, t in enumerate(type_names)}
    entity_type = np.fromiter((type_index[type_of.get(k, default_type)] for k in table),
                              dtype=np.int64, count=len(table))
    seed_rows = np.fromiter((key_index[k] for k in seed_keys), dtype=np.int64, count=len(seed_keys))
    return compose(seed_rows, lists, lists, k1, k2, keys=table, entity_type=entity_type,
                   relations=relations, types=type_names)

"""Per-node neighbour lists: each node's candidates sorted by race key, cut at a cap.

Both samplers produce the same intermediate: for every node ``x``, the first ``cap``
candidates of ``x`` in race-key order (:mod:`kgn_align.sampling.keys`). Because race
keys do not depend on which tree asks, a node's hop-1 sample (first ``k1``) and its hop-2
sample (first ``k2``) are prefixes of one list, and a hop-2 node shared by many trees is
drawn once (as DGL's block sampler does for CG-MuAlign). :mod:`kgn_align.sampling.trees`
turns lists into trees.

Candidates of ``x`` (the rule both the Cypher and the Python path implement):

- distinct ``(relationship type, direction, neighbour)`` triples over relationships of a
  followed type (never ``SAME_AS``) to a node ``m != x`` of the same side;
- ``c(x, type, direction)`` = number of candidates in that group; weight ``1 / c``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kgn_align.neighborhood import DIR_IN, DIR_OUT
from kgn_align.sampling import keys as rk


@dataclass
class NeighbourLists:
    """CSR lists over an entity table of ``n`` rows.

    - ``ptr``: ``(n + 1,)`` int64 offsets; node ``i``'s list is ``ptr[i]:ptr[i + 1]``.
    - ``nbr``: ``(L,)`` int64 entity row of each listed neighbour, in race-key order.
    - ``rel``: ``(L,)`` int64 index into the caller's relation vocabulary.
    - ``dir``: ``(L,)`` int64 :data:`~kgn_align.neighborhood.DIR_OUT` if the relationship
      points from the listed-for node to the neighbour, else ``DIR_IN``.
    - ``known``: ``(n,)`` bool, whether node ``i``'s list was drawn at all (a node can be
      known with an empty list: it has no candidates).
    """

    ptr: NDArray[np.int64]
    nbr: NDArray[np.int64]
    rel: NDArray[np.int64]
    dir: NDArray[np.int64]
    known: NDArray[np.bool_]

    @property
    def num_nodes(self) -> int:
        return int(self.ptr.shape[0] - 1)

    def lengths(self) -> NDArray[np.int64]:
        return np.diff(self.ptr)

    @classmethod
    def from_rows(cls, num_nodes: int, node: NDArray[np.int64], nbr: NDArray[np.int64],
                  rel: NDArray[np.int64], direction: NDArray[np.int64],
                  known: NDArray[np.int64] | None = None) -> NeighbourLists:
        """Lists from flat entries already in list order *within* each node.

        Entries of different nodes may be interleaved by node; a stable sort by node keeps
        each node's order. ``known`` (entity rows whose lists were drawn) defaults to the
        nodes with at least one entry.
        """
        order = np.argsort(node, kind="stable")
        counts = np.bincount(node, minlength=num_nodes)
        ptr = np.zeros(num_nodes + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        is_known = np.zeros(num_nodes, dtype=bool)
        is_known[node] = True
        if known is not None:
            is_known[np.asarray(known, dtype=np.int64)] = True
        return cls(ptr=ptr, nbr=np.asarray(nbr, np.int64)[order],
                   rel=np.asarray(rel, np.int64)[order],
                   dir=np.asarray(direction, np.int64)[order], known=is_known)


@dataclass
class Candidates:
    """Every candidate of every node (brute force, in memory), with its weight.

    Arrays of equal length ``C``: ``node`` (listed-for row), ``nbr`` (neighbour row),
    ``rel`` (relation id), ``dir``, ``count`` (group size ``c``) and ``weight = 1 / c``.
    """

    node: NDArray[np.int64]
    nbr: NDArray[np.int64]
    rel: NDArray[np.int64]
    dir: NDArray[np.int64]
    count: NDArray[np.int64]

    @property
    def weight(self) -> NDArray[np.float64]:
        return 1.0 / self.count


def candidates(head: NDArray[np.int64], rel: NDArray[np.int64], tail: NDArray[np.int64],
               num_relations: int) -> Candidates:
    """Candidates from stored relationships ``head -[rel]-> tail`` (entity rows, relation ids).

    Each relationship offers ``tail`` to ``head`` (``DIR_OUT``) and ``head`` to ``tail``
    (``DIR_IN``); self-loops offer nothing; parallel relationships count once.
    """
    head = np.asarray(head, np.int64)
    tail = np.asarray(tail, np.int64)
    rel = np.asarray(rel, np.int64)
    keep = head != tail
    head, tail, rel = head[keep], tail[keep], rel[keep]
    node = np.concatenate([head, tail])
    nbr = np.concatenate([tail, head])
    rels = np.concatenate([rel, rel])
    dirs = np.concatenate([np.full(head.shape, DIR_OUT), np.full(head.shape, DIR_IN)]).astype(np.int64)
    if node.size == 0:
        empty = np.zeros(0, np.int64)
        return Candidates(empty, empty, empty, empty, empty)
    # One integer per (node, rel, dir, nbr) to deduplicate and to find groups.
    group = (node * max(num_relations, 1) + rels) * 2 + dirs
    uniq = np.unique(np.stack([group, nbr]), axis=1)
    group, nbr = uniq[0], uniq[1]
    dirs = group % 2
    rels = (group // 2) % max(num_relations, 1)
    node = (group // 2) // max(num_relations, 1)
    _, inverse, counts = np.unique(group, return_inverse=True, return_counts=True)
    return Candidates(node=node, nbr=nbr, rel=rels, dir=dirs, count=counts[inverse])


def draw_lists(cands: Candidates, node_hash: NDArray[np.int64], num_nodes: int, cap: int,
               seed: int, weighted: bool, *, rel_order: NDArray[np.int64],
               key_order: NDArray[np.int64]) -> NeighbourLists:
    """The first ``cap`` candidates of every node in race-key order (vectorised).

    ``rel_order`` / ``key_order`` rank relation names and entity keys as strings: the
    tie-breakers Cypher's ``ORDER BY key, rel, dir, m.key`` uses.
    """
    take = race_order(cands.node, node_hash[cands.node], node_hash[cands.nbr], cands.dir,
                      cands.count, rel_order[cands.rel], key_order[cands.nbr], cap, seed, weighted)
    known = np.arange(num_nodes, dtype=np.int64)
    return NeighbourLists.from_rows(num_nodes, cands.node[take], cands.nbr[take], cands.rel[take],
                                    cands.dir[take], known=known)


def race_order(owner: NDArray[np.int64], owner_hash: NDArray[np.int64], nbr_hash: NDArray[np.int64],
               direction: NDArray[np.int64], count: NDArray[np.int64], rel_rank: NDArray[np.int64],
               key_rank: NDArray[np.int64], cap: int, seed: int, weighted: bool) -> NDArray[np.int64]:
    """The draw itself, over flat candidate entries: the positions of the entries each
    ``owner`` keeps (its first ``cap`` in race-key order), owner by owner, in list order.

    Per entry: ``owner_hash``/``nbr_hash`` (:func:`~kgn_align.sampling.keys.node_hash`),
    ``direction``, ``count`` (group size ``c``), and ranks of the relation name and of the
    neighbour's key as strings (the tie-breakers of Cypher's ``ORDER BY race, rel, dir,
    m.key``; equal names, equal ranks). Every sampler that draws in Python calls this.
    """
    if cap < 0:
        raise ValueError(f"cap must be >= 0, got {cap}")
    u = rk.uniform(owner_hash, nbr_hash, direction, seed)
    race = rk.race_keys(u, count if weighted else None)
    order = np.lexsort((key_rank, direction, rel_rank, race, owner))
    ranked = owner[order]
    starts = np.searchsorted(ranked, ranked, side="left")
    return order[(np.arange(ranked.size) - starts) < cap]


def string_ranks(values: Sequence[str]) -> NDArray[np.int64]:
    """Rank of each string in sorted order (equal strings share no rank: they never occur)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[np.asarray(order, dtype=np.int64)] = np.arange(len(values), dtype=np.int64)
    return ranks


def index_edges(edges: Iterable[tuple[object, str, object]], key_index: dict[str, int],
                keys: list[str], relations: list[str], rel_index: dict[str, int]
                ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Entity rows and relation ids for ``(head, type, tail)`` triples; extends the tables."""
    heads: list[int] = []
    rels: list[int] = []
    tails: list[int] = []
    for h, r, t in edges:
        row = []
        for k in (str(h), str(t)):
            i = key_index.get(k)
            if i is None:
                i = key_index[k] = len(keys)
                keys.append(k)
            row.append(i)
        j = rel_index.get(r)
        if j is None:
            j = rel_index[r] = len(relations)
            relations.append(r)
        heads.append(row[0])
        rels.append(j)
        tails.append(row[1])
    return (np.asarray(heads, np.int64), np.asarray(rels, np.int64), np.asarray(tails, np.int64))

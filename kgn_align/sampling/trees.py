"""Neighbour lists -> computation trees (:class:`~kgn_align.neighborhood.TreeStore`).

A seed's tree: the seed, the first ``k1`` entries of its own list (hop 1), and for each
hop-1 slot the first ``k2`` entries of *that* neighbour's list (hop 2). A hop-2 list is
not filtered by the tree it lands in, so the seed may reappear at depth 2 (as in DGL's and
PyG's neighbour samplers); this keeps each node's draw independent of who asks, which is
what lets a batch draw a shared neighbour once.

Slot order within a tree: seed, hop-1 slots in list order, then hop-2 slots grouped by
their hop-1 parent in hop-1 order (parents always before children). Built with numpy
cumsum/repeat arithmetic, no Python loop per node.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from kgn_align.neighborhood import SLOT_DTYPES, TreeStore
from kgn_align.sampling.lists import NeighbourLists


def _segments(starts: NDArray[np.int64], sizes: NDArray[np.int64]
              ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For segments ``[starts[i], starts[i] + sizes[i])``: (segment id, position) of each item."""
    seg = np.repeat(np.arange(sizes.shape[0], dtype=np.int64), sizes)
    first = np.cumsum(sizes) - sizes
    within = np.arange(int(sizes.sum()), dtype=np.int64) - first[seg]
    return seg, starts[seg] + within


def compose(seeds: NDArray[np.int64], hop1: NeighbourLists, hop2: NeighbourLists,
            k1: int, k2: int, *, keys: list[str], entity_type: NDArray[np.int64],
            relations: list[str], types: list[str]) -> TreeStore:
    """Trees for ``seeds`` (entity rows, in order) from hop-1 and hop-2 lists.

    ``hop1`` must know every seed and ``hop2`` every hop-1 neighbour (raises ``ValueError``
    otherwise: a silently empty hop would look like a leaf).
    """
    if k1 < 0 or k2 < 0:
        raise ValueError(f"caps must be >= 0, got k1={k1}, k2={k2}")
    seeds = np.asarray(seeds, dtype=np.int64)
    if seeds.size and not hop1.known[seeds].all():
        raise ValueError("hop-1 lists are missing for some seeds")
    b = seeds.shape[0]
    n1 = np.minimum(hop1.lengths()[seeds], k1)
    t1, e1 = _segments(hop1.ptr[seeds], n1)  # tree of each hop-1 slot, list entry
    p1 = hop1.nbr[e1]
    if p1.size and not hop2.known[p1].all():
        raise ValueError("hop-2 lists are missing for some hop-1 neighbours")
    n2 = np.minimum(hop2.lengths()[p1], k2)
    i2, e2 = _segments(hop2.ptr[p1], n2)  # hop-1 slot (global) of each hop-2 slot, entry

    hop2_per_tree = np.bincount(t1, weights=n2, minlength=b).astype(np.int64)
    sizes = 1 + n1 + hop2_per_tree
    tree_ptr = np.zeros(b + 1, dtype=np.int64)
    np.cumsum(sizes, out=tree_ptr[1:])
    total = int(tree_ptr[-1])

    # Local positions: hop-1 slot j of tree t sits at 1 + j.
    first1 = np.cumsum(n1) - n1
    j1 = np.arange(e1.shape[0], dtype=np.int64) - first1[t1]
    local1 = 1 + j1
    # Hop-2 block of hop-1 slot i starts after the tree's hop-1 slots and the blocks of
    # earlier hop-1 slots of the same tree.
    before = np.cumsum(n2) - n2  # global exclusive cumsum over hop-1 slots
    first_block = np.zeros(b, dtype=np.int64)
    has1 = n1 > 0
    first_block[has1] = before[first1[has1]]
    block_start = 1 + n1[t1] + before - first_block[t1]
    local2 = block_start[i2] + (np.arange(e2.shape[0], dtype=np.int64) - before[i2])
    t2 = t1[i2]

    # stored compact from the start (TreeStore's SLOT_DTYPES): no int64 copy of every slot
    compact = {name: torch.empty(0, dtype=dtype).numpy().dtype for name, dtype in SLOT_DTYPES.items()}
    slot_entity = np.empty(total, dtype=compact["slot_entity"])
    slot_depth = np.empty(total, dtype=compact["slot_depth"])
    slot_parent = np.empty(total, dtype=compact["slot_parent"])
    slot_rel = np.empty(total, dtype=compact["slot_rel"])
    slot_dir = np.empty(total, dtype=compact["slot_dir"])

    root = tree_ptr[:-1]
    slot_entity[root], slot_depth[root], slot_parent[root] = seeds, 0, -1
    slot_rel[root], slot_dir[root] = -1, -1
    pos1 = tree_ptr[t1] + local1
    slot_entity[pos1], slot_depth[pos1], slot_parent[pos1] = p1, 1, 0
    slot_rel[pos1], slot_dir[pos1] = hop1.rel[e1], hop1.dir[e1]
    pos2 = tree_ptr[t2] + local2
    slot_entity[pos2], slot_depth[pos2], slot_parent[pos2] = hop2.nbr[e2], 2, local1[i2]
    slot_rel[pos2], slot_dir[pos2] = hop2.rel[e2], hop2.dir[e2]

    return TreeStore(
        keys=keys,
        entity_type=torch.as_tensor(np.asarray(entity_type, dtype=np.int64)),
        tree_ptr=torch.from_numpy(tree_ptr),
        tree_seed=torch.from_numpy(seeds.copy()),
        slot_entity=torch.from_numpy(slot_entity),
        slot_depth=torch.from_numpy(slot_depth),
        slot_parent=torch.from_numpy(slot_parent),
        slot_rel=torch.from_numpy(slot_rel),
        slot_dir=torch.from_numpy(slot_dir),
        relations=list(relations),
        types=list(types),
    )

"""Explanations: which neighbours drove a pair's score, as plain records for a terminal.

Reads the attention a :class:`~kgn_align.model.pair_model.PairModel` returns with
``return_attention=True``: per layer, each tree edge's combined weight and, with cross-graph
attention, each slot's best match in the other tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from kgn_align.model.pair_model import PairOutput
from kgn_align.neighborhood import SideBatch


@dataclass(frozen=True)
class NeighbourWeight:
    side: str  #: "a" or "b"
    layer: int  #: 0 = hop 2 -> hop 1, 1 = hop 1 -> seed
    depth: int  #: depth of the neighbour slot
    entity: int  #: entity row on its side
    parent_entity: int
    relation: int  #: model relation id
    direction: int
    weight: float  #: combined attention alpha
    cross: float | None  #: best cosine with the other tree at the same depth


def neighbour_weights(out: PairOutput, a: SideBatch, b: SideBatch, pair: int = 0) -> list[NeighbourWeight]:
    """Every neighbour of pair ``pair`` with its weight per layer, heaviest first."""
    if not out.attention_a:
        raise ValueError("no attention recorded: call the model with return_attention=True (GNN variants only)")
    rows: list[NeighbourWeight] = []
    for side, batch, attention, cross in (("a", a, out.attention_a, out.cross_a), ("b", b, out.attention_b, out.cross_b)):
        for layer, alpha in enumerate(attention):
            last = layer == len(attention) - 1
            child, parent = batch.edge_index
            keep = batch.tree[parent] == pair
            if last:  # the last layer only ran the edges into the seeds
                keep = keep & (batch.depth[parent] == 0)
                edge_ids = (batch.depth[parent] == 0).nonzero(as_tuple=True)[0]
            else:
                edge_ids = keep.new_ones(keep.shape).nonzero(as_tuple=True)[0]
            sel = keep[edge_ids].nonzero(as_tuple=True)[0]
            for pos in sel.tolist():
                e = int(edge_ids[pos])
                c, p = int(child[e]), int(parent[e])
                rows.append(NeighbourWeight(
                    side=side, layer=layer, depth=int(batch.depth[c]), entity=int(batch.entity[c]),
                    parent_entity=int(batch.entity[p]), relation=int(batch.edge_type[e]),
                    direction=int(batch.edge_dir[e]), weight=float(alpha[pos]),
                    cross=float(cross[layer][c]) if cross else None,
                ))
    return sorted(rows, key=lambda r: (r.side, -r.layer, -r.weight))

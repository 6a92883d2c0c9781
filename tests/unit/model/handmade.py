"""Tiny hand-built computation trees for layer and model tests."""

from __future__ import annotations

import torch

from kgn_align.neighborhood import DIR_IN, DIR_OUT, TreeStore

# A tree: (seed, [(rel, dir, neighbour, [(rel, dir, neighbour2), ...]), ...])
Tree = tuple[int, list[tuple[int, int, int, list[tuple[int, int, int]]]]]


def make_store(num_entities: int, trees: list[Tree], num_relations: int = 3) -> TreeStore:
    ptr, ent, depth, par, rel, dr, seeds = [0], [], [], [], [], [], []
    for seed, hop1 in trees:
        seeds.append(seed)
        local = [(seed, 0, -1, -1, -1)]
        for r, d, n, hop2 in hop1:
            local.append((n, 1, 0, r, d))
            me = len(local) - 1
            for r2, d2, n2 in hop2:
                local.append((n2, 2, me, r2, d2))
        for e, dp, p, r, d in local:
            ent.append(e); depth.append(dp); par.append(p); rel.append(r); dr.append(d)
        ptr.append(len(ent))
    t = lambda x: torch.tensor(x, dtype=torch.long)  # noqa: E731
    return TreeStore(
        keys=[f"e{i}" for i in range(num_entities)],
        entity_type=torch.zeros(num_entities, dtype=torch.long),
        tree_ptr=t(ptr), tree_seed=t(seeds), slot_entity=t(ent), slot_depth=t(depth),
        slot_parent=t(par), slot_rel=t(rel), slot_dir=t(dr),
        relations=[f"r{i}" for i in range(num_relations)], types=["Entity"],
    )


OUT, IN = DIR_OUT, DIR_IN

"""The layout in which sampled two-hop neighbourhoods travel from sampling to the model.

Each seed entity gets its own *computation tree* (CG-MuAlign samples per entity, and the
same entity may appear in several trees): the seed at depth 0, at most ``k1`` sampled
neighbours at depth 1, at most ``k2`` sampled neighbours of each of those at depth 2.
Tree nodes are *slots*, not entities: one entity can fill several slots.

:class:`TreeStore` holds the trees of many seeds of one side (flat tensors with CSR
offsets, cheap to keep for a whole graph); :meth:`TreeStore.collate` cuts a
:class:`SideBatch` for any list of seeds, vectorised (no Python loop per node).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import torch
from torch import Tensor

DIR_OUT = 0  #: the stored relationship points from the parent slot to the child slot
DIR_IN = 1  #: the stored relationship points from the child slot to the parent slot


@dataclass
class SideBatch:
    """Trees of ``B`` seeds of one side, ready for message passing.

    Shapes (``N`` slots, ``E`` = ``N - B`` tree edges, ``B`` trees):

    - ``entity``: ``(N,)`` row of each slot's entity in the side's entity table
      (:attr:`TreeStore.keys`), used to look up level-0 features.
    - ``node_type``: ``(N,)`` entity-type id (index into the type vocabulary).
    - ``depth``: ``(N,)`` 0 for seeds, 1 or 2 for sampled neighbours.
    - ``tree``: ``(N,)`` which of the ``B`` trees a slot belongs to (PyG's ``batch``).
    - ``seed``: ``(B,)`` slot index of each tree's root, in the order seeds were asked for.
    - ``edge_index``: ``(2, E)`` ``[child, parent]``: messages flow from a sampled
      neighbour to the slot it was sampled for (``flow='source_to_target'``).
    - ``edge_type``: ``(E,)`` relationship-type id (index into the relation vocabulary).
    - ``edge_dir``: ``(E,)`` :data:`DIR_OUT` or :data:`DIR_IN`, as stored in the graph.
    """

    entity: Tensor
    node_type: Tensor
    depth: Tensor
    tree: Tensor
    seed: Tensor
    edge_index: Tensor
    edge_type: Tensor
    edge_dir: Tensor

    @property
    def num_trees(self) -> int:
        return int(self.seed.numel())

    @property
    def num_slots(self) -> int:
        return int(self.entity.numel())

    def to(self, device: torch.device | str) -> SideBatch:
        return SideBatch(**{k: getattr(self, k).to(device) for k in self.__dataclass_fields__})


#: storage type of each slot array of a :class:`TreeStore`: entity rows and relation ids
#: as int32 (2^31 entities or relationship types a side), depth and direction as int8, the
#: parent as int32 (its position within a tree, up to ``1 + k1 (1 + k2)``)
SLOT_DTYPES = {"slot_entity": torch.int32, "slot_depth": torch.int8, "slot_parent": torch.int32,
               "slot_rel": torch.int32, "slot_dir": torch.int8}


@dataclass
class TreeStore:
    """Sampled trees for many seeds of one side, stored flat.

    - ``keys``: entity keys, the side's entity table (row ``i`` is entity ``i``).
    - ``entity_type``: ``(num_entities,)`` type id of each entity.
    - ``tree_ptr``: ``(num_trees + 1,)`` CSR offsets into the slot arrays.
    - ``tree_seed``: ``(num_trees,)`` entity row of each tree's seed.
    - slot arrays (``slot_entity``, ``slot_depth``, ``slot_parent`` *local to the tree*,
      ``-1`` for the root; ``slot_rel``, ``slot_dir`` describe the edge to the parent,
      ``-1`` for the root). Within a tree, slot 0 is the seed and parents come before
      children.
    - ``relations`` / ``types``: the vocabularies behind ``slot_rel`` and ``entity_type``.

    Slot arrays are stored compact (:data:`SLOT_DTYPES`: 14 bytes a slot instead of 40 as
    int64; a whole fr_en side's trees take ~1 KB per entity, not ~3 KB); :meth:`collate`
    and :meth:`edges` hand out int64, as torch's indexing wants.
    """

    keys: list[str]
    entity_type: Tensor
    tree_ptr: Tensor
    tree_seed: Tensor
    slot_entity: Tensor
    slot_depth: Tensor
    slot_parent: Tensor
    slot_rel: Tensor
    slot_dir: Tensor
    relations: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    key_index: dict[str, int] = field(default_factory=dict, repr=False)
    #: the graph's element id of each entity row, where the sampler knows them (trees drawn
    #: for a few seeds: ``Sampler.sample_seeds``); empty otherwise. Keys need not tell
    #: neighbours apart (an author and a venue may share one), element ids do.
    element_ids: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        for name, dtype in SLOT_DTYPES.items():
            values = getattr(self, name)
            if values.dtype != dtype:
                if values.numel() and (int(values.min()) < torch.iinfo(dtype).min
                                       or int(values.max()) > torch.iinfo(dtype).max):
                    raise ValueError(f"{name} holds values outside {dtype}")
                setattr(self, name, values.to(dtype))
        if not self.key_index:
            self.key_index = {k: i for i, k in enumerate(self.keys)}

    @property
    def num_trees(self) -> int:
        return int(self.tree_seed.numel())

    @property
    def slot_tree(self) -> Tensor:
        """``(num_slots,)`` tree position of every slot."""
        return torch.repeat_interleave(torch.arange(self.num_trees), self.tree_ptr.diff())

    def slots_at_depth(self, depth: int) -> Tensor:
        """``(num_trees,)`` how many slots each tree holds at ``depth`` (0: its seed, 1: its
        sampled neighbours, 2: theirs), on the store's device."""
        at = torch.zeros(self.slot_depth.numel() + 1, dtype=torch.long, device=self.tree_ptr.device)
        torch.cumsum(self.slot_depth == depth, 0, out=at[1:])
        ptr = self.tree_ptr.long()
        return at[ptr[1:]] - at[ptr[:-1]]

    def edges(self) -> Tensor:
        """``(2, E)`` [seed entity, sampled hop-1 neighbour] rows of every tree."""
        slots = (self.slot_depth == 1).nonzero(as_tuple=True)[0]
        return torch.stack([self.tree_seed[self.slot_tree[slots]], self.slot_entity[slots].long()])

    def tree_of(self) -> dict[int, int]:
        """entity row -> tree position, for seeds that have a tree."""
        return {int(e): t for t, e in enumerate(self.tree_seed.tolist())}

    def to(self, device: torch.device | str) -> TreeStore:
        """This store with its tensors on ``device``: :meth:`collate` then cuts batches
        there (on CUDA: no batch built on the host and copied over)."""
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)
                                if isinstance(getattr(self, f.name), Tensor)})

    @property
    def nbytes(self) -> int:
        """Bytes of the store's tensors (not counting the key list)."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, Tensor))

    def collate(self, trees: Tensor | list[int]) -> SideBatch:
        """A :class:`SideBatch` for the given tree positions (repeats allowed), on the
        store's device."""
        device = self.tree_ptr.device
        trees = torch.as_tensor(trees, dtype=torch.long, device=device)
        starts = self.tree_ptr[trees]
        sizes = self.tree_ptr[trees + 1] - starts
        batch_tree = torch.repeat_interleave(torch.arange(trees.numel(), device=device), sizes)
        offsets = torch.cumsum(sizes, 0) - sizes  # first slot of each tree in the batch
        within = torch.arange(int(sizes.sum()), device=device) - offsets[batch_tree]
        src = starts[batch_tree] + within  # slot positions in the store
        parent_local = self.slot_parent[src].long()
        is_child = parent_local >= 0
        child = torch.nonzero(is_child, as_tuple=True)[0]
        parent = offsets[batch_tree[child]] + parent_local[child]
        entity = self.slot_entity[src].long()
        return SideBatch(
            entity=entity,
            node_type=self.entity_type[entity],
            depth=self.slot_depth[src].long(),
            tree=batch_tree,
            seed=offsets,
            edge_index=torch.stack([child, parent]),
            edge_type=self.slot_rel[src][child].long(),
            edge_dir=self.slot_dir[src][child].long(),
        )

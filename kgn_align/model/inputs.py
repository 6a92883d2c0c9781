"""Joining two sides' trees into pair batches under the model's vocabularies.

Each :class:`~kgn_align.neighborhood.TreeStore` numbers relations and types in its own
vocabulary; the model has one embedding table for both sides, so ids are remapped here
(unknown names -> id 0, reserved for them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from kgn_align.attributes import AttributeTable, pair_features
from kgn_align.neighborhood import SideBatch, TreeStore

UNKNOWN = "<unk>"


def build_vocabulary(*names: Sequence[str]) -> list[str]:
    """``<unk>`` first, then every distinct name in first-seen order."""
    vocab = [UNKNOWN]
    seen = {UNKNOWN}
    for group in names:
        for n in group:
            if n not in seen:
                seen.add(n)
                vocab.append(n)
    return vocab


def _mapping(local: Sequence[str], vocab: Sequence[str]) -> Tensor:
    index = {n: i for i, n in enumerate(vocab)}
    return torch.tensor([index.get(n, 0) for n in local] or [0], dtype=torch.long)


@dataclass
class SideInputs:
    """One side: its trees, its entity feature table ``(num_entities, F)``, and the maps
    from store-local relation/type ids to model ids and from entity rows to tree positions."""

    store: TreeStore
    features: Tensor
    relation_map: Tensor
    type_map: Tensor
    tree_position: Tensor  #: ``(num_entities,)``, -1 for entities without a tree
    #: the model's attribute properties per entity row (``None``: the model compares none)
    attributes: AttributeTable | None = None
    #: copies on other devices made by :func:`on_device`, by device (not copied by
    #: ``dataclasses.replace``: a replaced side gets its own)
    moved: dict[str, SideInputs] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def build(cls, store: TreeStore, features: Tensor, relations: Sequence[str], types: Sequence[str],
              attributes: AttributeTable | None = None) -> SideInputs:
        if features.size(0) != len(store.keys):
            raise ValueError(f"features have {features.size(0)} rows, the store {len(store.keys)} entities")
        if attributes is not None and len(attributes) != len(store.keys):
            raise ValueError(f"attributes have {len(attributes)} rows, the store {len(store.keys)} entities")
        pos = torch.full((len(store.keys),), -1, dtype=torch.long)
        pos[store.tree_seed] = torch.arange(store.num_trees)
        return cls(store, features, _mapping(store.relations, relations), _mapping(store.types, types), pos,
                   attributes)

    def entity_types(self) -> Tensor:
        """``(num_entities,)`` each entity's type id in the model's vocabulary (what
        :meth:`batch` gives its slots)."""
        return self.type_map[self.store.entity_type]

    def to(self, device: torch.device | str) -> SideInputs:
        """This side with its trees, features and id maps on ``device``: :meth:`batch`
        then collates there. The attribute table stays on the CPU (pair features are
        computed there and moved with the batch)."""
        return replace(self, store=self.store.to(device), features=self.features.to(device),
                       relation_map=self.relation_map.to(device), type_map=self.type_map.to(device),
                       tree_position=self.tree_position.to(device))

    @property
    def device(self) -> torch.device:
        return self.tree_position.device

    def batch(self, entities: Tensor) -> SideBatch:
        """Trees of the given entity rows (repeats allowed), ids in model vocabularies, on
        this side's device."""
        trees = self.tree_position[entities.to(self.tree_position.device)]
        if bool((trees < 0).any()):
            raise ValueError("some entities have no sampled tree")
        b = self.store.collate(trees)
        return replace(b, edge_type=self.relation_map[b.edge_type], node_type=self.type_map[b.node_type])


def pair_attributes(a: SideInputs, b: SideInputs, rows_a: Tensor, rows_b: Tensor) -> Tensor | None:
    """Attribute features of pairs ``(rows_a[i], rows_b[i])``
    (:func:`kgn_align.attributes.pair_features`), ``None`` when the sides carry no attributes.
    Shapes: ``(P,), (P,) -> (P, 3A)``."""
    if a.attributes is None or b.attributes is None or a.attributes.num_properties == 0:
        return None
    return pair_features(a.attributes, b.attributes, rows_a, rows_b)


def on_device(side: SideInputs, device: torch.device | str, *, share: float = 0.25) -> SideInputs:
    """``side`` on ``device`` (:meth:`SideInputs.to`, made once and kept with ``side``) when
    that is a GPU with room for it (its trees and features under ``share`` of the free
    memory); else ``side`` as it is, and each batch is collated on the host and copied
    over. On an H200 collating on the device took the pair model from 203,741 to 599,421
    pairs/s, 8,192 pairs a batch (benchmarks/results/pipeline_profile.md)."""
    device = torch.device(device)
    if device.type != "cuda" or side.device == device:
        return side
    key = str(device)
    if key not in side.moved:
        need = side.store.nbytes + side.features.nbytes + side.tree_position.nbytes
        free, _ = torch.cuda.mem_get_info(device)
        if need > share * free:
            return side
        side.moved[key] = side.to(device)
    return side.moved[key]

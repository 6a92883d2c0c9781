"""Both sides of an alignment as the model sees them, read from the graph once.

A snapshot is the bridge between the graph and the tensors: each side's entity table and
sampled two-hop trees (:mod:`kgn_align.sampling`), the names that become level-0 features,
and the labelled pairs (reviewed ``SAME_AS`` edges) that training learns from.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from kgn_align.attributes import AttributeTable
from kgn_align.candidates import CONTEXT_BETA, blocking_vectors, distil_student, refresh_blocking_vectors
from kgn_align.coldstart import ColdStartConfig, ColdStartMLP
from kgn_align.config import AlignConfig, GraphSide, SamplingConfig
from kgn_align.errors import ConfigError, KgnAlignError
from kgn_align.features import NgramFeaturizer, neighbour_context, with_context
from kgn_align.graph import Graph
from kgn_align.model.inputs import SideInputs
from kgn_align.neighborhood import TreeStore
from kgn_align.sampling import NeighbourLists, Sampler
from kgn_align.sampling.server import EntityTable

if TYPE_CHECKING:
    from kgn_align.scoring import TrainedModel

log = logging.getLogger(__name__)

#: progress(stage, done in this step, total of the stage)
Progress = Callable[[str, int, int], None]


def display_name(values: Sequence[object], key: str) -> str:
    """What the model reads of an entity's name properties (:func:`feature_text`: each
    distinct one, joined with ``" | "``), else the key: a user who edits one of several
    name properties sees the edit (showing the first alone hid it)."""
    return feature_text(values) or key


def feature_text(values: Sequence[object]) -> str:
    """All name properties joined: translated and native names both carry signal. An entity
    without a name has no name evidence (``""``, a zero name vector): it is matched through
    its neighbours only, never on its key (``"3"`` would n-gram-match ``"23"``)."""
    parts = [str(v).strip() for v in values if v is not None and str(v).strip()]
    return " | ".join(dict.fromkeys(parts))


@dataclass
class SideSnapshot:
    side: GraphSide
    table: EntityTable
    store: TreeStore
    names: list[str]  #: feature text per entity-table row
    labels: list[str]  #: display name per entity-table row
    aligned_row: dict[str, int]  #: key -> row, for the entities being aligned
    #: values of the config's ``attribute_properties`` per entity-table row
    attributes: AttributeTable | None = None
    #: the neighbour lists ``store`` was composed from (to refresh it after a change)
    lists: NeighbourLists | None = None
    #: after :func:`refreshed`: the entity rows whose name, attributes or hop-1
    #: neighbourhood may differ from the parent snapshot's (``None``: not a refresh)
    dirty: torch.Tensor | None = None

    def rows(self, keys: Sequence[str]) -> torch.Tensor:
        missing = [k for k in keys if k not in self.aligned_row]
        if missing:
            raise KgnAlignError(f"{len(missing)} key(s) are not entities of side {self.side.name!r}, "
                                f"e.g. {missing[:3]}")
        return torch.tensor([self.aligned_row[k] for k in keys], dtype=torch.long)


@dataclass
class Snapshot:
    config: AlignConfig
    source: SideSnapshot
    target: SideSnapshot
    #: identifies this snapshot to caches kept between jobs
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: the token of the snapshot it was refreshed from (:func:`refreshed`), if any
    parent: str | None = None

    def level0(self, featurizer: NgramFeaturizer,
               cache: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Both sides' level-0 (name) vectors, ``(N_i, F)`` per side; with ``cache``, names
        featurised before are not featurised again (:meth:`NgramFeaturizer.transform_cached`)."""
        if cache is not None:
            return (featurizer.transform_cached(self.source.names, cache),
                    featurizer.transform_cached(self.target.names, cache))
        return featurizer.transform(self.source.names), featurizer.transform(self.target.names)

    def fit_level0(self) -> tuple[NgramFeaturizer, tuple[torch.Tensor, torch.Tensor]]:
        """A featurizer fitted on both sides' names (as training fits one) and both sides'
        level-0 vectors under it, ``(N_i, F)`` per side, each name hashed once
        (:meth:`NgramFeaturizer.fit_transform`)."""
        featurizer, vectors = NgramFeaturizer.fit_transform(self.source.names + self.target.names)
        n = len(self.source.names)
        return featurizer, (vectors[:n], vectors[n:])

    def inputs(self, featurizer: NgramFeaturizer, relations: list[str], types: list[str],
               context_beta: float = 0.0,
               level0: tuple[torch.Tensor, torch.Tensor] | None = None,
               attributes: Sequence[str] = ()) -> tuple[SideInputs, SideInputs]:
        """Model inputs of both sides under the model's vocabularies and featurizer.

        With ``context_beta > 0`` each level-0 vector also carries its neighbourhood-name
        vector (:func:`kgn_align.features.with_context`) over the sampled hop-1 neighbours.
        ``level0`` passes vectors already computed by :meth:`level0`. ``attributes``: the
        model's attribute properties, each one the config names (:class:`KgnAlignError` if not).
        """
        columns = self.attribute_columns(attributes)
        a, b = (SideInputs.build(s.store, model_features(x, s.store, context_beta), relations, types,
                                 attributes=_columns(s, columns))
                for s, x in zip((self.source, self.target), level0 or self.level0(featurizer)))
        return a, b

    def attribute_columns(self, attributes: Sequence[str]) -> list[int]:
        """Positions of ``attributes`` among the config's ``attribute_properties``."""
        configured = list(self.config.attribute_properties)
        missing = [p for p in attributes if p not in configured]
        if missing:
            raise KgnAlignError(f"the model compares attribute properties {list(attributes)}, but the "
                                f"config's attribute_properties lack {missing}: add them or train again")
        return [configured.index(p) for p in attributes]

    def blocking(self, level0: tuple[torch.Tensor, torch.Tensor], student: ColdStartMLP | None,
                 beta: float = CONTEXT_BETA) -> tuple[torch.Tensor, torch.Tensor]:
        """Both sides' blocking vectors (:func:`kgn_align.candidates.blocking_vectors`) over
        the sampled hop-1 neighbours. The student fills in isolated *targets* only: they are
        the indexed side, where a missing neighbourhood part costs rank; an isolated source
        is a query, ranked by names alone, which measured better than a guess
        (``benchmarks/results/candidates.json``, cold start)."""
        a = blocking_vectors(level0[0], self.source.store.edges(), beta=beta)
        b = blocking_vectors(level0[1], self.target.store.edges(), beta=beta, student=student)
        return a, b

    def refresh_blocking(self, level0: tuple[torch.Tensor, torch.Tensor], student: ColdStartMLP | None,
                         beta: float, previous: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`blocking` computed from the parent snapshot's vectors ``previous``: only the
        :attr:`SideSnapshot.dirty` rows are computed again (the same values)."""
        if self.source.dirty is None or self.target.dirty is None:
            raise ValueError("refresh_blocking needs a refreshed snapshot")
        a = refresh_blocking_vectors(previous[0], level0[0], self.source.store.edges(), self.source.dirty,
                                     beta=beta)
        b = refresh_blocking_vectors(previous[1], level0[1], self.target.store.edges(), self.target.dirty,
                                     beta=beta, student=student)
        return a, b

    def distil_student(self, level0: tuple[torch.Tensor, torch.Tensor],
                       config: ColdStartConfig | None = None) -> ColdStartMLP | None:
        """The cold-start student of this snapshot's two sides (:mod:`kgn_align.coldstart`);
        ``None`` when no entity has a sampled neighbour (there is nothing to distil)."""
        edges = [self.source.store.edges(), self.target.store.edges()]
        if all(e.size(1) == 0 for e in edges):
            log.warning("no entity has sampled neighbours (on its side, with the key property): "
                        "blocking and the model use names alone; 'kgn-align check' says why")
            return None
        return distil_student(level0, edges, config)


def unfamiliar_relations(stores: Sequence[TreeStore], known: Sequence[str]) -> tuple[float, list[str]]:
    """The share of sampled neighbours (tree slots below the root, in ``stores``) linked by
    a relationship type not in ``known`` (a model's vocabulary), and those types, most
    frequent first."""
    known_set, unknown, total = set(known), Counter[str](), 0
    for store in stores:
        rel = store.slot_rel[store.slot_depth > 0].long()
        for i, n in enumerate(torch.bincount(rel, minlength=len(store.relations)).tolist()):
            total += n
            if n and store.relations[i] not in known_set:
                unknown[store.relations[i]] += n
    return (sum(unknown.values()) / total if total else 0.0), [r for r, _ in unknown.most_common()]


def _columns(side: SideSnapshot, columns: list[int]) -> AttributeTable | None:
    if not columns or side.attributes is None:
        return None
    index = torch.tensor(columns, dtype=torch.long)
    return AttributeTable(side.attributes.numeric.index_select(1, index), side.attributes.text.index_select(1, index))


def model_features(level0: torch.Tensor, store: TreeStore, context_beta: float) -> torch.Tensor:
    """The pair model's feature table of one side: level-0 vectors, with the
    neighbourhood-name vector over ``store``'s hop-1 neighbours when ``context_beta > 0``."""
    if context_beta <= 0:
        return level0
    return with_context(level0, neighbour_context(level0, store.edges()), context_beta)


def _side_params(config: AlignConfig, side: GraphSide) -> dict[str, object]:
    return {"side_property": side.property, "side_value": side.value,
            "name_properties": list(config.name_properties),
            "attribute_properties": list(config.attribute_properties)}


#: node ids per ``snapshot_names_by_id`` round trip
NAME_BATCH = 5000


def names_by_id(graph: Graph, config: AlignConfig, side: GraphSide, ids: Sequence[str],
                keys: Sequence[str], attribute_properties: Sequence[str] | None = None,
                ) -> Iterator[tuple[int, str, str, list[object]]]:
    """Per node of ``ids`` (element ids; ``keys`` their keys, shown and named in errors)
    still on the side: its position in ``ids``, its feature text, display name and values of
    ``attribute_properties`` (default: the config's; a model's own list for explanations),
    read by node (``snapshot_names_by_id``, :data:`NAME_BATCH` ids a query), never by key: two
    nodes may share a key, or hold it as a number. ConfigError for a list or a map where one
    value is read (:func:`_one_value_each`)."""
    attributes = list(config.attribute_properties if attribute_properties is None else attribute_properties)
    position = {e: i for i, e in enumerate(ids)}
    for start in range(0, len(ids), NAME_BATCH):
        found = graph.read("snapshot_names_by_id", {**_side_params(config, side), "attribute_properties": attributes,
                                                    "ids": list(ids[start:start + NAME_BATCH])},
                           {"label": side.label})[0]
        for eid, names, values in zip(found["id"], found["names"], found["attributes"]):
            i = position[str(eid)]
            _one_value_each(config, side, keys[i], names, attributes, values)
            yield i, feature_text(names), display_name(names, keys[i]), list(values or [None] * len(attributes))


def _names_of(graph: Graph, config: AlignConfig, side: GraphSide, table: EntityTable,
              rows: Sequence[int]) -> Iterator[tuple[int, str, str, list[object]]]:
    """:func:`names_by_id` of the entity-table rows ``rows``, each answer by its row."""
    found = names_by_id(graph, config, side, [table.ids[r] for r in rows], [table.keys[r] for r in rows])
    for i, feature, label, attributes in found:
        yield rows[i], feature, label, attributes


def _one_value_each(config: AlignConfig, side: GraphSide, key: str, names: Sequence[object],
                    attribute_properties: Sequence[str], attributes: Sequence[object] | None) -> None:
    """ConfigError naming the node and property when a name or attribute property holds a
    list or a map (preflight refuses such a graph; a node changed since, under a running
    worker, would otherwise be read as the list's text and lose its match)."""
    read = list(zip(config.name_properties, names)) + list(zip(attribute_properties, attributes or []))
    for prop, value in read:
        if isinstance(value, (list, tuple, dict)):
            raise ConfigError(
                f"the node with key {key!r} on the {side.name} side holds a "
                f"{'map' if isinstance(value, dict) else 'list'} in {prop!r}, which kgn-align reads as "
                f"one value (text, number, boolean or date): store one value there (e.g. SET n.{prop} = "
                f"n.{prop}[0], keeping the list under another property); nothing was aligned")


def _read_names(graph: Graph, config: AlignConfig, side: GraphSide,
                table: EntityTable) -> tuple[list[str], list[str], AttributeTable]:
    """Feature text, display name and attribute values of every entity-table row."""
    text = [""] * len(table.keys)  # nameless until a name property says otherwise
    labels = list(table.keys)
    n_attr = len(config.attribute_properties)
    values: list[list[object]] = [[None] * n_attr for _ in table.keys]
    for i, feature, label, attributes in _names_of(graph, config, side, table, range(len(table))):
        text[i], labels[i], values[i] = feature, label, attributes
    return text, labels, AttributeTable.read(values, n_attr)


def model_sampling(config: AlignConfig, model: TrainedModel | None) -> SamplingConfig:
    """The config's sampling, with the tree-shaping settings ``model`` was trained with;
    :class:`~kgn_align.errors.ConfigError` first if the config reads the graph otherwise
    than the model's training did (:meth:`~kgn_align.scoring.TrainedModel.check_reading`)."""
    if model is not None:
        model.check_reading(config)
    if model is None or not model.sampling:
        return config.sampling
    sampling = config.sampling.model_copy(update=model.sampling)
    if sampling.tree_settings() != config.sampling.tree_settings():
        log.info("sampling as model %s was trained: %s (the config says %s)", model.version,
                 sampling.tree_settings(), config.sampling.tree_settings())
    return sampling


def _aligned_rows(config: AlignConfig, side: GraphSide, table: EntityTable) -> dict[str, int]:
    """``{key: row}`` of the side's entities to align; ConfigError when two share a key (as
    preflight says it: a graph may change after a command's checks, under a running worker,
    and one of the two would be dropped in silence, its edges retracted)."""
    rows = [i for i in range(len(table)) if table.aligned[i]]
    aligned = {table.keys[i]: i for i in rows}
    if len(aligned) < len(rows):
        shared = [(k, n) for k, n in Counter(table.keys[i] for i in rows).most_common(5) if n > 1]
        raise ConfigError(f"keys must be unique per side, but on the {side.name} side several entities "
                          f"share a {config.key_property!r}: "
                          + ", ".join(f"{k!r} ({n}x)" for k, n in shared)
                          + "; nothing was aligned: give each its own key")
    return aligned


def take(graph: Graph, config: AlignConfig, *, progress: Progress | None = None,
         concurrency: int = 2, model: TrainedModel | None = None) -> Snapshot:
    """Sample both sides (one pass over each) and read their names and attributes.

    ``model``: the trees are drawn as they were for its training (the caps, seed and
    weighting its checkpoint records replace the config's), so that a model trained with
    other sampling settings (e.g. ``train --ablation uniform-sampling``) is scored on the
    trees it learned from.
    """
    sampler = Sampler(graph, config, model_sampling(config, model), concurrency=concurrency)
    sides = []
    for which, side in (("source", config.source), ("target", config.target)):
        table = sampler.prepare(side)
        step = (lambda done, total, w=which: progress(f"sample {w}", done, total)) if progress else None
        if step is not None:
            step(0, len(table.ids))  # the stage starts now (its time is counted from here)
        lists, store = sampler.lists_and_trees(side, step, table)
        text, labels, attributes = _read_names(graph, config, side, table)
        aligned = _aligned_rows(config, side, table)
        sides.append(SideSnapshot(side, table, store, text, labels, aligned, attributes, lists))
        log.info("side %s: %d entities, %d to align", side.name, len(table), len(aligned))
    return Snapshot(config, sides[0], sides[1])


def refreshed(graph: Graph, snapshot: Snapshot, element_ids: Sequence[str], *,
              model: TrainedModel | None = None) -> Snapshot | None:
    """``snapshot`` brought up to date after the nodes ``element_ids`` changed (created,
    a property or label set, a relationship added at either end: what the change capture
    reports), reading only those nodes: their neighbour lists are drawn again, every tree is
    recomposed from the lists (a tree holding a changed node as a hop-1 or hop-2 neighbour
    changes with it), and their names and attribute values are read again. The same trees,
    names and attributes as a fresh :func:`take` would give.

    ``None`` when a refresh cannot be exact and the caller must :func:`take` again: a side
    holds more or fewer nodes than the snapshot; a changed node is new on a side, left it, or
    has another key, type or side label now; or a redrawn list reaches a node the snapshot
    does not hold. ``model``: as for :func:`take`. The given snapshot is left as it was.

    What the change capture does not report is not seen: a relationship deleted between
    two nodes that stay reaches the trees with the next full :func:`take` (a backfill job).
    """
    config = snapshot.config
    sampler = Sampler(graph, config, model_sampling(config, model))
    ids = list(dict.fromkeys(element_ids))
    sides: list[SideSnapshot] = []
    for old in (snapshot.source, snapshot.target):
        side, table = old.side, old.table
        if sampler.entity_count(side) != len(table):
            log.info("refresh: side %s gained or lost nodes", side.name)
            return None
        here = {str(r["id"]): r for r in sampler.entity_rows(side, ids)}
        rows = [table.row_of[i] for i in ids if i in table.row_of]
        if any(i not in table.row_of for i in here):
            log.info("refresh: a changed node is new on side %s", side.name)
            return None
        for r in rows:
            now = here.get(table.ids[r])
            if (now is None or str(now["key"]) != table.keys[r] or bool(now["aligned"]) != bool(table.aligned[r])
                    or now["type"] != table.types[int(table.type[r])]):
                log.info("refresh: node %s of side %s changed its key, type or side", table.keys[r], side.name)
                return None
        if not rows:
            sides.append(dataclasses.replace(old, dirty=torch.zeros(0, dtype=torch.long)))
            continue
        if old.lists is None:
            return None
        relisted = sampler.relist(side, table, old.lists, old.store.relations, rows)
        if relisted is None:
            log.info("refresh: a changed node of side %s links to a node created since", side.name)
            return None
        lists, relations = relisted
        store = sampler.trees(table, lists, relations)
        names, labels = list(old.names), list(old.labels)
        n_attr = len(config.attribute_properties)
        values: dict[int, list[object]] = {}
        for r, feature, label, attributes in _names_of(graph, config, side, table, rows):
            names[r], labels[r], values[r] = feature, label, attributes
        attributes = old.attributes
        if attributes is not None and values:
            fresh = AttributeTable.read(list(values.values()), n_attr)
            index = torch.tensor(list(values), dtype=torch.long)
            attributes = AttributeTable(attributes.numeric.index_copy(0, index, fresh.numeric),
                                        attributes.text.index_copy(0, index, fresh.text))
        dirty = _touched(rows, old.store.edges(), store.edges(), len(table))
        sides.append(SideSnapshot(side, table, store, names, labels, old.aligned_row, attributes, lists, dirty))
    return Snapshot(config, sides[0], sides[1], parent=snapshot.token)


def _touched(rows: Sequence[int], before: torch.Tensor, after: torch.Tensor, n: int) -> torch.Tensor:
    """The changed ``rows`` and every entity joined to one of them by a hop-1 edge, before or
    after the change (their neighbourhood-name vectors read the changed rows): ``(R,)``."""
    changed = torch.zeros(n, dtype=torch.bool)
    changed[torch.as_tensor(list(rows), dtype=torch.long)] = True
    out = changed.clone()
    for edges in (before, after):
        touch = changed[edges[0]] | changed[edges[1]]
        out[edges[0][touch]] = True
        out[edges[1][touch]] = True
    return torch.nonzero(out, as_tuple=True)[0]

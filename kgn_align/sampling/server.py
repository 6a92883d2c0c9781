"""The Cypher sampler: draws neighbour lists inside the graph server, builds trees here.

Two ways to get trees, both one round trip per batch of seeds and both giving exactly the
trees :func:`~kgn_align.sampling.reference.sample_in_memory` gives on the same graph:

- :meth:`Sampler.sample_side` (a whole side, e.g. before training or a backfill): one
  ``sampling_lists`` query per batch of nodes returns every node's first ``max(k1, k2)``
  neighbours; trees are composed here. Each node is drawn once for the whole side.
- :meth:`Sampler.sample_seeds` (a few seeds, e.g. the worker): one ``sampling_trees``
  query per batch returns the seeds' hop-1 lists and their distinct hop-1 neighbours'
  hop-2 lists.

Before the first draw, :meth:`Sampler.prepare` makes sure every node of the side carries
its sampling hash (:mod:`kgn_align.sampling.keys`) and that seeds can be found by key.

With ``sampling.store_hash = false`` nothing is written to the nodes: the server returns
every candidate (``sampling_candidates``, and ``sampling_seed_ids`` to find seeds) and the
draw happens here, on the hash of each key computed in memory (same race keys, so the same
trees). The price: all of a node's candidates cross the wire, not just the first ``k``, and
the few-seeds path takes two round trips per batch (hop 1, then hop 2) instead of one.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kgn_align.config import AlignConfig, GraphSide, SamplingConfig
from kgn_align.errors import GraphError, KgnAlignError
from kgn_align.graph import Graph, QueryTiming, Row, chunked
from kgn_align.neighborhood import TreeStore
from kgn_align.sampling.keys import HASH_PROPERTY, node_hash, node_hashes, seed_offsets
from kgn_align.sampling.lists import NeighbourLists, race_order
from kgn_align.sampling.trees import compose

log = logging.getLogger(__name__)

#: progress(seeds done in this step, seeds in total)
Progress = Callable[[int, int], None]


class SeedNotFound(KgnAlignError, KeyError):
    """Some requested seeds are not nodes of the side (wrong key, other side, deleted)."""


def _entity_order(row: Row) -> tuple[str, str, bool, str]:
    """A ``sampling_entities`` row's place in the entity table: by key, then entity type
    (keys are unique per label, not per side); the element id only breaks ties between
    duplicates, which preflight reports."""
    return str(row["key"]), str(row["type"]), not row["aligned"], str(row["id"])


@dataclass
class EntityTable:
    """Every node of one side, as read by ``sampling_entities``.

    ``ids`` are element ids (valid for this run), ``keys`` the key property as text,
    ``type`` the entity-type id per node (into ``types``), ``aligned`` whether the node
    carries the side's label (the nodes being aligned; in a multi-type graph the others
    are their authors, venues, ...).
    """

    ids: list[str]
    keys: list[str]
    type: NDArray[np.int64]
    types: list[str]
    aligned: NDArray[np.bool_]
    row_of: dict[str, int] = field(repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self.row_of:
            self.row_of = {e: i for i, e in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)


def entity_type_labels(config: AlignConfig, side: GraphSide) -> list[str]:
    """The labels that name an entity's type, in order (the sampling queries'
    ``$entity_labels``): the configured ``entity_labels``, then the side's own label. A node
    takes the first of them it carries, else its first label. The side's label comes in so
    that the entities being aligned have that type even when they carry other labels too:
    Neo4j lists a node's labels in the order the labels were first created in the database,
    so ``:Publication:Doc`` against ``:Doc:Article`` would type one side Publication and the
    other Doc, and type-restricted blocking would give no source a candidate."""
    labels = list(config.entity_labels)
    return labels if side.label in labels else [*labels, side.label]


@dataclass
class SampleStats:
    """Where a sampling run spent its time (seconds) and what it moved."""

    seeds: int = 0
    batches: int = 0
    rows: int = 0  #: neighbour entries received
    server_s: float = 0.0  #: sum over batches of wall time minus client CPU: server + wire
    transfer_s: float = 0.0  #: sum over batches of client CPU while fetching: Bolt decoding
    build_s: float = 0.0  #: rows -> arrays -> trees, in this process
    prepare_s: float = 0.0  #: entity table, hashes, index
    wall_s: float = 0.0
    batch_latency_s: list[float] = field(default_factory=list)
    dropped: int = 0  #: neighbours that appeared after the entity table was read

    def add(self, timing: QueryTiming, entries: int) -> None:
        self.batches += 1
        self.rows += entries
        self.server_s += max(timing.wall_s - timing.client_s, 0.0)
        self.transfer_s += timing.client_s
        self.batch_latency_s.append(timing.wall_s)


class Sampler:
    """Samples two-hop trees of one side of an :class:`AlignConfig` through a :class:`Graph`.

    Args:
        graph: the connection.
        config: which sides, key property, entity labels and relationship types.
        sampling: caps, seed, batch size, weighting (default: ``config.sampling``).
        concurrency: batches in flight at once (default 1). 2 overlaps the server's work on
            one batch with decoding the previous one.
    """

    def __init__(self, graph: Graph, config: AlignConfig, sampling: SamplingConfig | None = None,
                 *, concurrency: int = 1) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.graph = graph
        self.config = config
        self.sampling = sampling or config.sampling
        self.concurrency = concurrency
        self.stats = SampleStats()

    # -- parameters ----------------------------------------------------------------------
    def side(self, which: str | GraphSide) -> GraphSide:
        if isinstance(which, GraphSide):
            return which
        if which in ("source", self.config.source.name):
            return self.config.source
        if which in ("target", self.config.target.name):
            return self.config.target
        raise ValueError(f"unknown side {which!r}: use 'source', 'target' or a side's name")

    def _identifiers(self, side: GraphSide, *, hash_slot: bool = True) -> dict[str, str]:
        idents = {"label": side.label, "key_property": self.config.key_property}
        return {**idents, "hash_property": HASH_PROPERTY} if hash_slot else idents

    def _params(self, side: GraphSide) -> dict[str, Any]:
        s1, s2 = seed_offsets(self.sampling.seed)
        types = self.config.relationship_types
        return {"side_property": side.property, "side_value": side.value,
                "same_as_type": self.config.same_as_type,
                "types": None if types is None else list(types),
                "weighted": self.sampling.weighted, "s1": s1, "s2": s2,
                "entity_labels": entity_type_labels(self.config, side)}

    # -- preparation ----------------------------------------------------------------------
    def prepare(self, which: str | GraphSide) -> EntityTable:
        """The side's entity table; writes missing or stale hashes; ensures the key index."""
        side = self.side(which)
        start = time.perf_counter()
        idents = self._identifiers(side)
        try:
            self.graph.write("sampling_key_index", {}, {
                "name": f"kgn_{side.label}_{self.config.key_property}", "label": side.label,
                "key_property": self.config.key_property})
        except GraphError as exc:  # e.g. a user without schema rights: slower, still right
            log.warning("could not create the key index for %s (%s); seed lookups may scan",
                        side.label, exc)
        rows = self.graph.read("sampling_entities", self._params(side), idents)
        # key order, not the server's: that follows how and when the nodes were written, and
        # every later stage (neighbour lists, training batches, candidate ties) follows the
        # table's order, so the same graph would not give the same model and edges
        rows.sort(key=_entity_order)
        ids = [r["id"] for r in rows]
        keys = [str(r["key"]) for r in rows]
        types = sorted({r["type"] for r in rows})
        type_index = {t: i for i, t in enumerate(types)}
        table = EntityTable(
            ids=ids, keys=keys,
            type=np.fromiter((type_index[r["type"]] for r in rows), np.int64, len(rows)),
            types=types, aligned=np.fromiter((bool(r["aligned"]) for r in rows), bool, len(rows)))
        stale = [{"id": r["id"], "hash": h} for r, k in zip(rows, keys)
                 if r["hash"] != (h := node_hash(k))] if self.sampling.store_hash else []
        if stale:
            log.info("writing sampling hashes of %d node(s) of side %s", len(stale), side.name)
            self.graph.write_batches("sampling_set_hash", stale, batch_size=5000,
                                     identifiers={"hash_property": HASH_PROPERTY})
        self.stats.prepare_s += time.perf_counter() - start
        return table

    # -- whole side ---------------------------------------------------------------------------
    def sample_side(self, which: str | GraphSide, progress: Progress | None = None,
                    table: EntityTable | None = None) -> TreeStore:
        """Trees for every aligned node of the side (seeds in entity-table order)."""
        return self.lists_and_trees(which, progress, table)[1]

    def lists_and_trees(self, which: str | GraphSide, progress: Progress | None = None,
                        table: EntityTable | None = None) -> tuple[NeighbourLists, TreeStore]:
        """:meth:`sample_side`, also returning the neighbour lists the trees were composed
        from (kept by a caller that refreshes the trees after a change: :meth:`relist`)."""
        side = self.side(which)
        run_start = time.perf_counter()
        table = table or self.prepare(side)
        lists, relations = self.side_lists(side, table, progress)
        store = self.trees(table, lists, relations)
        self.stats.wall_s += time.perf_counter() - run_start
        return lists, store

    def trees(self, table: EntityTable, lists: NeighbourLists, relations: list[str]) -> TreeStore:
        """Trees of every aligned node of ``table`` composed from ``lists``."""
        start = time.perf_counter()
        seeds = np.flatnonzero(table.aligned)
        store = compose(seeds, lists, lists, self.sampling.k1, self.sampling.k2, keys=table.keys,
                        entity_type=table.type, relations=relations, types=table.types)
        self.stats.build_s += time.perf_counter() - start
        self.stats.seeds += int(seeds.size)
        return store

    def entity_rows(self, which: str | GraphSide, ids: Sequence[str]) -> list[Row]:
        """``sampling_entities`` rows of those nodes among ``ids`` that are on the side now."""
        side = self.side(which)
        return self.graph.read("sampling_entities_by_id", {**self._params(side), "ids": list(ids)},
                               self._identifiers(side))

    def keyless_among(self, which: str | GraphSide, ids: Sequence[str]) -> int:
        """How many of the nodes ``ids`` are on the side but have no key property (no
        entity table holds them: they are never sampled nor aligned)."""
        side = self.side(which)
        return int(self.graph.read("sampling_keyless_by_id", {**self._params(side), "ids": list(ids)},
                                   self._identifiers(side, hash_slot=False))[0]["nodes"])

    def entity_count(self, which: str | GraphSide) -> int:
        """How many nodes the side's entity table would hold now."""
        side = self.side(which)
        return int(self.graph.read("sampling_entity_count", self._params(side),
                                   self._identifiers(side, hash_slot=False))[0]["nodes"])

    def relist(self, which: str | GraphSide, table: EntityTable, lists: NeighbourLists,
               relations: list[str], rows: Sequence[int]) -> tuple[NeighbourLists, list[str]] | None:
        """``lists`` with the lists of entity ``rows`` drawn again (after those nodes
        changed); the relation vocabulary extended if needed. ``None`` when a list now
        reaches a node the table does not hold (a node created since: take the side again).
        """
        fresh, relations, dropped = self._draw_lists(self.side(which), table, [table.ids[r] for r in rows],
                                                     relations)
        if dropped:
            return None
        redrawn = np.zeros(len(table), dtype=bool)
        redrawn[np.asarray(rows, dtype=np.int64)] = True
        node = np.repeat(np.arange(len(table), dtype=np.int64), lists.lengths())
        keep = ~redrawn[node]
        new_node = np.repeat(np.arange(len(table), dtype=np.int64), fresh.lengths())
        merged = NeighbourLists.from_rows(
            len(table), np.concatenate([node[keep], new_node]), np.concatenate([lists.nbr[keep], fresh.nbr]),
            np.concatenate([lists.rel[keep], fresh.rel]), np.concatenate([lists.dir[keep], fresh.dir]),
            known=np.flatnonzero(lists.known | fresh.known))
        return merged, relations

    def side_lists(self, which: str | GraphSide, table: EntityTable,
                   progress: Progress | None = None) -> tuple[NeighbourLists, list[str]]:
        """Every node's first ``max(k1, k2)`` neighbours, one round trip per batch."""
        lists, relations, dropped = self._draw_lists(self.side(which), table, table.ids, progress=progress)
        self.stats.dropped += dropped
        return lists, relations

    def _draw_lists(self, side: GraphSide, table: EntityTable, ids: Sequence[str],
                    relations: Sequence[str] = (), progress: Progress | None = None,
                    ) -> tuple[NeighbourLists, list[str], int]:
        """The first ``max(k1, k2)`` neighbours of the nodes ``ids`` (element ids of
        ``table``), one round trip per batch; relation ids continue ``relations``. Returns
        the lists over the whole table (known for ``ids``), the relation vocabulary, and how
        many neighbours were left out for not being in the table (created since it was read)."""
        cap = max(self.sampling.k1, self.sampling.k2)
        stored = self.sampling.store_hash
        params = {**self._params(side), "cap": cap}
        idents = self._identifiers(side, hash_slot=stored)
        query = "sampling_lists" if stored else "sampling_candidates"
        batches = list(chunked(list(ids), self.sampling.batch_size))
        builder = _ListBuilder(table.row_of, len(table), relations)

        def fetch(batch: list[str]) -> tuple[list[str], list[Row], QueryTiming]:
            rows, timing = self.graph.read_timed(query, {**params, "ids": batch}, idents)
            return batch, rows, timing

        for batch, rows, timing in self._map(fetch, batches):
            start = time.perf_counter()
            if stored:  # one row per batch, a column per field
                entries = builder.add_columns(rows[0]["id"], rows[0]["nbr"], rows[0]["rel"],
                                              rows[0]["dir"], batch)
            else:
                entries = builder.add(self._draw(rows, cap), "id", batch)
            self.stats.build_s += time.perf_counter() - start
            self.stats.add(timing, entries)
            if progress is not None:
                progress(len(batch), len(ids))
        start = time.perf_counter()
        lists = builder.lists()
        self.stats.build_s += time.perf_counter() - start
        return lists, builder.relations, builder.dropped

    # -- a few seeds ------------------------------------------------------------------------
    def sample_seeds(self, which: str | GraphSide, keys: Sequence[Any],
                     progress: Progress | None = None) -> TreeStore:
        """Trees for the given seed keys (in order), one ``sampling_trees`` query per batch.

        The entity table of the result holds the seeds first, then every other node the
        trees reach, in first-seen order. Raises :class:`SeedNotFound` for unknown seeds.
        """
        side = self.side(which)
        run_start = time.perf_counter()
        params = {**self._params(side), "k1": self.sampling.k1, "k2": self.sampling.k2}
        idents = self._identifiers(side)
        hop1: dict[str, Row] = {}
        hop2: dict[str, Row] = {}
        seen_keys: dict[str, str] = {}  # seed key -> element id

        def fetch(batch: list[Any]) -> tuple[list[Any], list[Row], QueryTiming]:
            if not self.sampling.store_hash:
                return self._trees_drawn_here(side, batch)
            rows, timing = self.graph.read_timed("sampling_trees", {**params, "keys": batch}, idents)
            return batch, rows, timing

        for batch, rows, timing in self._map(fetch, list(chunked(list(keys), self.sampling.batch_size))):
            entries = 0
            for row in rows:
                entries += len(row["nbr"])
                if row["hop"] == 1:
                    hop1[row["id"]] = row
                    seen_keys[str(row["key"])] = row["id"]
                else:
                    hop2.setdefault(row["id"], row)
            self.stats.add(timing, entries)
            if progress is not None:
                progress(len(batch), len(keys))
        missing = [k for k in keys if str(k) not in seen_keys]
        if missing:
            raise SeedNotFound(f"{len(missing)} key(s) are not entities of side {side.name!r}, "
                               f"e.g. {missing[:3]} (keys are the {self.config.key_property!r} "
                               "property, whole: e.g. '10500', not a prefix)")
        start = time.perf_counter()
        store = _trees_from_rows([seen_keys[str(k)] for k in keys], hop1, hop2,
                                 self.sampling.k1, self.sampling.k2)
        self.stats.build_s += time.perf_counter() - start
        self.stats.seeds += len(keys)
        self.stats.wall_s += time.perf_counter() - run_start
        return store

    # -- drawing here (sampling.store_hash = false) -------------------------------------------
    def _trees_drawn_here(self, side: GraphSide, keys: list[Any]) -> tuple[list[Any], list[Row], QueryTiming]:
        """``sampling_trees``' rows for one batch of seed keys, drawn here: the seeds' element
        ids, their candidates (hop 1, first ``k1``), then their picks' candidates (hop 2,
        first ``k2``). Returns the batch, the rows and the three queries' timing summed."""
        params = self._params(side)
        idents = self._identifiers(side, hash_slot=False)
        found, t0 = self.graph.read_timed("sampling_seed_ids", {**params, "keys": keys}, idents)
        ids = list(dict.fromkeys(r["id"] for r in found))
        rows1, t1 = self.graph.read_timed("sampling_candidates", {**params, "ids": ids}, idents)
        hop1 = [{**r, "hop": 1} for r in self._draw(rows1, self.sampling.k1)]
        frontier = list(dict.fromkeys(e for r in hop1 for e in r["nbr"]))
        rows2, t2 = self.graph.read_timed("sampling_candidates", {**params, "ids": frontier}, idents)
        hop2 = [{**r, "hop": 2} for r in self._draw(rows2, self.sampling.k2)]
        timing = QueryTiming(wall_s=t0.wall_s + t1.wall_s + t2.wall_s,
                             client_s=t0.client_s + t1.client_s + t2.client_s,
                             first_record_s=t0.first_record_s + t1.first_record_s + t2.first_record_s,
                             rows=t0.rows + t1.rows + t2.rows)
        return keys, hop1 + hop2, timing

    def _draw(self, rows: list[Row], cap: int) -> list[Row]:
        """``sampling_candidates`` rows cut to each node's first ``cap`` candidates in race-key
        order (:func:`~kgn_align.sampling.lists.race_order`, on ``node_hash`` of the keys):
        what ``sampling_lists``/``sampling_trees`` return from stored hashes."""
        lengths = np.fromiter((len(r["nbr"]) for r in rows), np.int64, len(rows))
        ptr = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(lengths, out=ptr[1:])
        flat = {f: list(itertools.chain.from_iterable(r[f] for r in rows))
                for f in ("nbr", "nbr_key", "rel", "dir", "c", "type")}
        nbr_keys = [str(k) for k in flat["nbr_key"]]
        rels = np.asarray(flat["rel"], dtype=str)
        take = race_order(
            owner=np.repeat(np.arange(len(rows), dtype=np.int64), lengths),
            owner_hash=np.repeat(node_hashes([str(r["key"]) for r in rows]), lengths),
            nbr_hash=node_hashes(nbr_keys),
            direction=np.asarray(flat["dir"], np.int64), count=np.asarray(flat["c"], np.int64),
            rel_rank=np.unique(rels, return_inverse=True)[1].astype(np.int64) if rels.size else rels.astype(np.int64),
            key_rank=np.unique(np.asarray(nbr_keys, dtype=str), return_inverse=True)[1].astype(np.int64)
            if nbr_keys else np.zeros(0, np.int64),
            cap=cap, seed=self.sampling.seed, weighted=self.sampling.weighted)
        counts = np.bincount(np.searchsorted(ptr, take, side="right") - 1, minlength=len(rows))
        drawn = []
        start = 0
        for row, n in zip(rows, counts.tolist()):
            picked = take[start:start + n].tolist()
            start += n
            drawn.append({"id": row["id"], "key": row["key"], "self": row["self"],
                          **{f: [values[i] for i in picked] for f, values in flat.items() if f != "c"}})
        return drawn

    def _map(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterable[Any]:
        """``map(fn, items)`` in order, ``concurrency`` calls in flight."""
        if self.concurrency == 1 or len(items) <= 1:
            yield from map(fn, items)
            return
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="kgn-sample") as pool:
            pending = [pool.submit(fn, item) for item in items[: self.concurrency]]
            rest = iter(items[self.concurrency:])
            while pending:
                result = pending.pop(0).result()
                nxt = next(rest, None)
                if nxt is not None:
                    pending.append(pool.submit(fn, nxt))
                yield result


class _ListBuilder:
    """Accumulates ``sampling_lists`` rows into flat arrays: one pass over rows, the
    per-entry work done by ``map``/``np.fromiter`` over chained lists (no per-node loop
    body in Python beyond collecting the row's lists)."""

    def __init__(self, row_of: dict[str, int], num_nodes: int, relations: Sequence[str] = ()) -> None:
        self.row_of = row_of
        self.num_nodes = num_nodes
        self.rel_index: dict[str, int] = {name: i for i, name in enumerate(relations)}
        self.relations: list[str] = list(relations)
        self.node: list[NDArray[np.int64]] = []
        self.nbr: list[NDArray[np.int64]] = []
        self.rel: list[NDArray[np.int64]] = []
        self.dir: list[NDArray[np.int64]] = []
        self.known: list[NDArray[np.int64]] = []
        self.dropped = 0

    def _rel_id(self, name: str) -> int:
        i = self.rel_index.get(name)
        if i is None:
            i = self.rel_index[name] = len(self.relations)
            self.relations.append(name)
        return i

    def add(self, rows: list[Row], id_field: str, asked: list[str]) -> int:
        """One row per node: its id in ``id_field`` and its lists ``nbr``, ``rel``, ``dir``."""
        return self.add_columns([r[id_field] for r in rows], [r["nbr"] for r in rows],
                                [r["rel"] for r in rows], [r["dir"] for r in rows], asked)

    def add_columns(self, ids: Sequence[str], nbrs: Sequence[Sequence[str]], rels: Sequence[Sequence[str]],
                    dirs: Sequence[Sequence[int]], asked: list[str]) -> int:
        """The nodes ``ids[i]`` with the lists ``nbrs[i]``, ``rels[i]``, ``dirs[i]``; ``asked``:
        every node the batch asked for (found or not). Returns the entries added."""
        lengths = np.fromiter(map(len, nbrs), np.int64, len(nbrs))
        total = int(lengths.sum())
        owners = np.fromiter((self.row_of[i] for i in ids), np.int64, len(ids))
        nbr = np.fromiter((self.row_of.get(e, -1) for e in itertools.chain.from_iterable(nbrs)),
                          np.int64, total)
        rel = np.fromiter(map(self._rel_id, itertools.chain.from_iterable(rels)), np.int64, total)
        direction = np.fromiter(itertools.chain.from_iterable(dirs), np.int64, total)
        node = np.repeat(owners, lengths)
        ok = nbr >= 0
        if not ok.all():  # created after the entity table was read: not in this run
            self.dropped += int((~ok).sum())
            node, nbr, rel, direction = node[ok], nbr[ok], rel[ok], direction[ok]
        self.node.append(node)
        self.nbr.append(nbr)
        self.rel.append(rel)
        self.dir.append(direction)
        # nodes asked for but gone since the table was read still count as drawn (empty)
        self.known.append(np.fromiter((self.row_of[e] for e in asked), np.int64, len(asked)))
        return total

    def lists(self) -> NeighbourLists:
        cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))
        return NeighbourLists.from_rows(self.num_nodes, cat(self.node), cat(self.nbr),
                                        cat(self.rel), cat(self.dir), known=cat(self.known))


def _trees_from_rows(seed_ids: list[str], hop1: dict[str, Row], hop2: dict[str, Row],
                     k1: int, k2: int) -> TreeStore:
    """TreeStore from ``sampling_trees`` rows; entity table = seeds, then first-seen nodes."""
    ids: dict[str, int] = {}
    keys: list[str] = []
    type_names: list[str] = []

    def row_id(eid: str, key: Any, type_name: str) -> int:
        i = ids.get(eid)
        if i is None:
            i = ids[eid] = len(keys)
            keys.append(str(key))
            type_names.append(type_name)
        return i

    for eid in seed_ids:
        row_id(eid, hop1[eid]["key"], hop1[eid]["self"])
    for row in itertools.chain(hop1.values(), hop2.values()):
        row_id(row["id"], row["key"], row["self"])
        for e, k, t in zip(row["nbr"], row["nbr_key"], row["type"]):
            row_id(e, k, t)
    types = sorted(set(type_names))
    type_index = {t: i for i, t in enumerate(types)}
    entity_type = np.fromiter((type_index[t] for t in type_names), np.int64, len(type_names))
    built = []
    relations: list[str] = []
    rel_index: dict[str, int] = {}
    for rows in (hop1, hop2):
        builder = _ListBuilder(ids, len(keys))
        builder.rel_index, builder.relations = rel_index, relations  # one shared vocabulary
        builder.add(list(rows.values()), "id", list(rows))
        built.append(builder.lists())
    seeds = np.fromiter((ids[e] for e in seed_ids), np.int64, len(seed_ids))
    store = compose(seeds, built[0], built[1], k1, k2, keys=keys, entity_type=entity_type,
                    relations=relations, types=types)
    store.element_ids = list(ids)  # row order: ids were numbered as they were first seen
    return store

"""Put the benchmark datasets into the graph: nodes, typed relationships, seed SAME_AS.

Every load parses and validates all its input first (so bad input changes nothing), then
writes in ``UNWIND $rows`` batches. Writes are idempotent (``MERGE`` on the per-label
``(graph, key)`` uniqueness constraint), so a second load adds nothing. Each load stamps
what it *creates* with a load id; if a write fails part-way, that load's nodes and
relationships are deleted again, leaving the graph as it was.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel

from kgn_align.config import AlignConfig, GraphSide, check_identifier
from kgn_align.datasets import KGDataset, TableDataset, local_name
from kgn_align.errors import InputError, KgnAlignError
from kgn_align.graph import Graph, chunked
from kgn_align.interrupts import interrupt_between_transactions, stops_deferred
from kgn_align.timing import StageClock

log = logging.getLogger(__name__)

#: progress(stage, rows done in this step, rows in this stage)
Progress = Callable[[str, int, int], None]
ENTITY_LABEL = "Entity"


class LoadReport(BaseModel):
    dataset: str
    graphs: tuple[str, str]
    nodes: int  #: nodes in the two graphs after the load
    relationships: int  #: relationships inside the two graphs after the load
    nodes_created: int
    relationships_created: int
    seed_pairs: int  #: reviewed SAME_AS edges written for training
    held_out_pairs: int  #: gold (matching) pairs kept out of the graph for evaluation
    seconds: float
    stage_seconds: dict[str, float] = {}  #: nodes / relationships / seed pairs


class _Plan:
    """Rows to write, grouped by template and identifiers, built before any write."""

    def __init__(self) -> None:
        self.labels: set[str] = set()
        self.nodes: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.edges: dict[tuple[str, str, str, str], list[dict[str, str]]] = defaultdict(list)
        self.seeds: list[dict[str, str]] = []

    def node(self, graph: str, label: str, key: str, props: dict[str, Any]) -> None:
        check_identifier(label)
        self.labels.add(label)
        self.nodes[(graph, label)].append({"key": key, "props": props})

    def edge(self, graph: str, head_label: str, rel: str, tail_label: str, head: str, tail: str,
             relation: str | None = None) -> None:
        """One relationship; ``relation``: the relation's own name, kept as ``r.relation``
        where the type had to differ from it."""
        check_identifier(rel)
        self.edges[(graph, head_label, rel, tail_label)].append(
            {"head": head, "tail": tail, "relation": relation})


def _graph_counts(graph: Graph, graphs: Iterable[str], labels: Iterable[str]) -> tuple[int, int]:
    nodes = rels = 0
    for g in graphs:
        for label in labels:
            row = graph.read("graph_count", {"graph": g}, {"label": label})[0]
            nodes += int(row["nodes"])
            rels += int(row["relationships"] or 0)
    return nodes, rels


def ensure_constraints(graph: Graph, labels: Iterable[str]) -> None:
    for label in sorted(set(labels)):
        graph.write("load_constraint", {}, {"name": f"kgn_{label}_graph_key", "label": label})


def _execute(graph: Graph, plan: _Plan, *, dataset: str, graphs: tuple[str, str],
             labels: tuple[str, str], same_as: str, held_out: int, batch_size: int,
             progress: Progress | None) -> LoadReport:
    start = time.perf_counter()
    ensure_constraints(graph, plan.labels)
    all_labels = sorted(plan.labels)
    before = _graph_counts(graph, graphs, all_labels)
    load_id = uuid.uuid4().hex
    report = progress or (lambda stage, done, total: None)
    clock = StageClock()

    graph.write("load_record_start", {"load_id": load_id, "dataset": dataset, "graphs": list(graphs)})
    # A Ctrl-C stops the load between two batches, never inside one; the rollback below
    # then removes every batch already committed.
    with interrupt_between_transactions():
        try:
            total_nodes = sum(len(r) for r in plan.nodes.values())
            ids: ElementIds = {}
            for (g, label), rows in plan.nodes.items():
                write_nodes(graph, g, label, rows, ids, load_id=load_id, batch_size=batch_size,
                            progress=lambda n: report("nodes", n, total_nodes))
            clock.lap("nodes")
            edges = {group: _edge_rows(rows) for group, rows in plan.edges.items()}
            total_edges = sum(len(r) for r in edges.values())
            write_edges(graph, edges, ids, load_id=load_id, batch_size=batch_size,
                        progress=lambda n: report("relationships", n, total_edges))
            clock.lap("relationships")
            if plan.seeds:
                graph.write_batches("load_seed_pairs", plan.seeds, batch_size=batch_size,
                                    identifiers={"source_label": labels[0], "target_label": labels[1],
                                                 "same_as": same_as},
                                    params={"source_graph": graphs[0], "target_graph": graphs[1],
                                            "origin": "seed", "load_id": load_id},
                                    progress=lambda n: report("seed pairs", n, len(plan.seeds)))
            clock.lap("seed pairs")
        except BaseException as exc:
            stopped = isinstance(exc, KeyboardInterrupt)  # asked for: said, not an error
            (log.warning if stopped else log.error)("load of %s %s; removing what it created (load id %s)",
                                                    dataset, "interrupted" if stopped else "failed", load_id)
            # Fresh connections: an interrupt can leave one mid-message (the driver then refuses
            # every further call, e.g. "BufferError: Existing exports of data") with its
            # transaction open on the server and holding locks; dropping it aborts that one.
            try:
                graph.reset()
                rollback(graph, load_id, all_labels)
                graph.write("load_record_finish", {"load_id": load_id, "graphs": []})
            except KeyboardInterrupt:
                log.error("rollback interrupted: load the same data again (loads are idempotent, "
                          "and the next one completes what this one left)")
            raise
        with stops_deferred("the load"):  # every row is in: a stop request no longer undoes it
            graph.write("load_record_finish", {"load_id": load_id, "graphs": list(graphs)})
            after = _graph_counts(graph, graphs, all_labels)
    return LoadReport(dataset=dataset, graphs=graphs, nodes=after[0], relationships=after[1],
                      nodes_created=after[0] - before[0], relationships_created=after[1] - before[1],
                      seed_pairs=len(plan.seeds), held_out_pairs=held_out,
                      seconds=round(time.perf_counter() - start, 3), stage_seconds=clock.laps)


#: ``(graph, label, key) -> element id`` of the nodes a load wrote (:func:`write_nodes`)
ElementIds = dict[tuple[str, str, str], str]


def write_nodes(graph: Graph, g: str, label: str, rows: list[dict[str, Any]], ids: ElementIds, *,
                load_id: str, batch_size: int = 5000, progress: Callable[[int], None] | None = None) -> None:
    """``MERGE`` the ``(:label {graph: g, key})`` nodes of ``rows`` (``[{key, props}]``) in
    key order, ``batch_size`` a transaction, and put each one's element id into ``ids``
    for :func:`write_edges`."""
    def keep(result: list[dict[str, Any]]) -> None:
        for key, element_id in result[0]["ids"]:
            ids[(g, label, key)] = element_id

    graph.write_batches("load_nodes", _in_key_order(rows), batch_size=batch_size, identifiers={"label": label},
                        params={"graph": g, "load_id": load_id}, progress=progress, on_result=keep)


def write_edges(graph: Graph, edges: dict[tuple[str, str, str, str], list[dict[str, Any]]], ids: ElementIds, *,
                load_id: str, batch_size: int = 5000, progress: Callable[[int], None] | None = None) -> None:
    """``MERGE`` the relationships of ``edges`` (``(graph, head label, type, tail label) ->
    [{head, tail, relation}]``, each relationship once: :func:`_edge_rows`) between nodes
    :func:`write_nodes` wrote, each end found by the element id it put into ``ids`` (a
    relationship whose end was not written is left out, as a lookup by key that finds no
    node leaves it; the count is logged).

    On Neo4j 5.26 (dynamic types) one statement serves every type; elsewhere one statement
    per type, many small types sharing a transaction. Looking the ends up by element id
    instead of by the ``(graph, key)`` index (``kgn-align load kg dbp15k_fr_en``, 221,720
    relationships, before and after alternating, 2026-12-07): on a fresh server 22.6 ->
    20.8 s on Neo4j 5.26 (a fresh JVM's load is mostly its JIT), 22.5 -> 21.3 s on
    ArcadeDB; the second and third load into the same server 9.6 -> 7.3 s on Neo4j, 13.3 ->
    11.6 s on ArcadeDB."""
    # rows by the statement that writes them: one per graph with dynamic types (the type in
    # the row), else one per graph and type (the labels are not in the statements)
    dynamic = graph.dialect.dynamic_types
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    missing = 0
    for (g, head_label, rel, tail_label), rows in edges.items():
        out = groups.setdefault((g, "" if dynamic else rel), [])
        for row in rows:
            head_id, tail_id = ids.get((g, head_label, row["head"])), ids.get((g, tail_label, row["tail"]))
            if head_id is None or tail_id is None:
                missing += 1
            else:
                out.append({**row, "head_id": head_id, "tail_id": tail_id, **({"type": rel} if dynamic else {})})
    if missing:
        log.warning("%d relationships name an entity the load has no node for: left out", missing)
    if dynamic:
        for (g, _), rows in groups.items():
            graph.write_batches("load_edges_dynamic", _edge_rows(rows), batch_size=batch_size,
                                params={"graph": g, "load_id": load_id}, progress=progress)
        return
    # Otherwise one statement per relationship type (types cannot be parameters), but many
    # small types share a transaction: on a graph with thousands of types the commit, not
    # the statement, is what costs.
    steps: list[tuple[str, dict[str, Any], dict[str, str]]] = []
    pending = 0
    for (g, rel), rows in groups.items():
        for chunk in chunked(rows, batch_size):
            steps.append(("load_edges", {"graph": g, "load_id": load_id, "rows": chunk}, {"type": rel}))
            pending += len(chunk)
            if pending >= batch_size:
                graph.write_many(steps)
                if progress is not None:
                    progress(pending)
                steps, pending = [], 0
    if steps:
        graph.write_many(steps)
        if progress is not None:
            progress(pending)


def _in_key_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Node rows sorted by key (stable: of two rows for one node the later still wins)."""
    return sorted(rows, key=lambda row: row["key"])


def _edge_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each relationship once (the first row, the one whose ``ON CREATE`` would have run),
    sorted by head, type and tail: a node's relationships then go in together, which
    touches fewer store pages (on Neo4j 5.26: about 10% less server CPU per relationship
    than in file order)."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault((row["head"], row.get("type", ""), row["tail"]), row)
    return [seen[k] for k in sorted(seen)]


def rollback(graph: Graph, load_id: str, labels: Iterable[str], limit: int = 10_000) -> None:
    """Delete everything a load created (relationships first, then nodes)."""
    for name in ("load_rollback_edges", "load_rollback_nodes"):
        for label in labels:
            graph.drain(name, {"load_id": load_id}, {"label": label}, limit=limit)


def graph_names(ds: KGDataset | TableDataset, prefix: str = "") -> tuple[str, str]:
    """The ``graph`` property values of a benchmark's two sides under ``prefix``, a folder
    of its own: ``demo`` and ``demo/`` both give ``demo/dblp_acm/dblp`` (not ``demodblp_acm/...``)."""
    folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    return f"{folder}{ds.graph_name(0)}", f"{folder}{ds.graph_name(1)}"


def load_kg(graph: Graph, ds: KGDataset, *, prefix: str = "", same_as: str = "SAME_AS",
            batch_size: int = 5000, progress: Progress | None = None) -> LoadReport:
    """A KG benchmark as ``(:Entity {graph, key, name, name_en, uri})`` nodes, typed
    relationships, and its training pairs as ``review: 'accepted'`` SAME_AS edges."""
    graphs = graph_names(ds, prefix)
    plan = _Plan()
    for side, g in zip(ds.sides, graphs):
        for ident, uri in side.uris.items():
            props = {"name": local_name(uri), "uri": uri}
            if ident in side.names:
                props["name_en"] = side.names[ident]
            plan.node(g, ENTITY_LABEL, str(ident), props)
        for head, rel, tail in side.triples:
            original = side.relations.get(rel)
            if rel == same_as:  # a data relation never becomes an alignment edge
                rel, original = f"R_{rel}", original or rel
            plan.edge(g, ENTITY_LABEL, rel, ENTITY_LABEL, str(head), str(tail), original)
    plan.seeds = [{"source": str(a), "target": str(b), "review": "accepted"} for a, b in ds.train_pairs]
    return _execute(graph, plan, dataset=ds.name, graphs=graphs, labels=(ENTITY_LABEL, ENTITY_LABEL),
                    same_as=same_as, held_out=len(ds.test_pairs), batch_size=batch_size,
                    progress=progress)


def load_tables(graph: Graph, ds: TableDataset, *, prefix: str = "", same_as: str = "SAME_AS",
                train_splits: tuple[str, ...] = ("train",), batch_size: int = 5000,
                progress: Progress | None = None) -> LoadReport:
    """A table benchmark as a multi-type graph: each record a node, each linked value
    (author, venue, artist, ...) a node of its own type shared by the records naming it."""
    graphs = graph_names(ds, prefix)
    plan = _Plan()
    record_label = ds.records[0][0].label if ds.records[0] else "Record"
    for records, g in zip(ds.records, graphs):
        linked: set[tuple[str, str]] = set()
        for rec in records:
            plan.node(g, rec.label, rec.key, {"name": rec.name, **rec.attributes})
            for rel, label, name in rec.links:
                key = name.casefold()
                if (label, key) not in linked:
                    linked.add((label, key))
                    plan.node(g, label, key, {"name": name})
                plan.edge(g, rec.label, rel, label, rec.key, key)
    labelled, held_out = table_reviews(ds, train_splits)
    plan.seeds = [{"source": a, "target": b, "review": r} for (a, b), r in labelled.items()]
    return _execute(graph, plan, dataset=ds.name, graphs=graphs, labels=(record_label, record_label),
                    same_as=same_as, held_out=held_out, batch_size=batch_size, progress=progress)


def table_reviews(ds: TableDataset, train_splits: tuple[str, ...] = ("train",)
                  ) -> tuple[dict[tuple[str, str], str], int]:
    """The reviews a table benchmark's ``train_splits`` give, ``{(source, target): 'accepted'
    | 'rejected'}`` (each pair once: the data repeats some), and how many matching pairs the
    other splits hold out (the gold ``evaluate`` judges against; their labelled non-matches
    are not counted). Raises InputError for a pair labelled both ways."""
    labelled: dict[tuple[str, str], str] = {}
    for split, rows in ds.splits.items():
        if split not in train_splits:
            continue
        for a, b, y in rows:
            review = "accepted" if y else "rejected"
            if labelled.setdefault((a, b), review) != review:
                raise InputError(f"pair {a} / {b} is labelled both match and non-match",
                                 path=f"{ds.name}/{split}")
    return labelled, len(ds.held_out_matches(train_splits))


def preset_config(ds: KGDataset | TableDataset, *, prefix: str = "", **overrides: Any) -> AlignConfig:
    """The AlignConfig that aligns a loaded benchmark's two graphs."""
    graphs = graph_names(ds, prefix)
    if isinstance(ds, KGDataset):
        names = [s.name for s in ds.sides]
        label, entity_labels, name_props = ENTITY_LABEL, (), ("name_en", "name")
        attribute_props: tuple[str, ...] = ()
    else:
        names = list(ds.side_names)
        label = ds.records[0][0].label if ds.records[0] else "Record"
        entity_labels, name_props = ds.labels, ("name",)
        attribute_props = ds.typed_attributes
    data: dict[str, Any] = {
        "source": GraphSide(name=names[0], label=label, property="graph", value=graphs[0]),
        "target": GraphSide(name=names[1], label=label, property="graph", value=graphs[1]),
        "key_property": "key",
        "name_properties": name_props,
        "attribute_properties": attribute_props,
        "entity_labels": entity_labels,
    }
    data.update(overrides)
    return AlignConfig(**data)


def delete_graphs(graph: Graph, prefix: str, limit: int = 10_000) -> int:
    """Delete every node (and its relationships) whose ``graph`` starts with ``prefix``, and
    what is kept about those graphs: load records, worker configurations and the jobs
    queued for them (:data:`~kgn_align.worker.Scope`), and the backfill runs over them
    (a trial's reload found its run id 'already complete', 1,024 edges written, none there)."""
    if not prefix:
        raise KgnAlignError("refusing to delete with an empty prefix")
    deleted = graph.drain("graph_delete", {"prefix": prefix}, limit=limit)
    graph.write("graph_delete_load_records", {"prefix": prefix})
    graph.write("graph_delete_worker_scopes", {"prefix": prefix})
    # a run's settings hold each side's selection as JSON (backfill.run_settings): the graph
    # name is a side's "value" there
    graph.write("graph_delete_backfill_runs", {"needle": '"value": ' + json.dumps(prefix)[:-1]})
    return deleted

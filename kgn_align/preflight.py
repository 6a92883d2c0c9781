"""Checks every command that reads the aligned graphs runs first, before anything slow.

A configuration can be valid on its own and still match nothing in the graph: a label
differing only in case, a name property no node has, a relationship type that is never
used, keys that two entities share, nodes that both sides select. Each of those used to
surface late or not at all (zero candidates, edges on keys, a node aligned with itself).
:func:`check` looks at the graph once and raises :class:`~kgn_align.errors.ConfigError`
naming every problem (with a near miss where there is one), or returns a
:class:`Preflight` report with the counts and the warnings worth printing.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field

from kgn_align.config import IDENTIFIER_RE, AlignConfig, GraphSide
from kgn_align.errors import ConfigError, ValueTypeError, closest, did_you_mean
from kgn_align.graph import Graph
from kgn_align.sampling.keys import HASH_PROPERTY

log = logging.getLogger(__name__)

SAMPLE = 100_000  #: nodes looked at for "did you mean" hints
SHOWN = 5  #: example keys named in a message
MIN_ACCEPTED = 10  #: accepted pairs (the seed alignment) training needs at the least
REACH_SAMPLE = 10_000  #: entities per side whose relationships preflight looks at
TYPO_CUTOFF = 0.9  #: difflib ratio from which a configured relationship type absent from the graph is a typo


@dataclass
class SideReport:
    name: str
    entities: int
    keyed: int
    named: int

    @property
    def nameless(self) -> int:
        """Entities with no non-empty name property: matched through neighbours only."""
        return self.entities - self.named


@dataclass
class Preflight:
    source: SideReport
    target: SideReport
    #: keys of nodes both sides select; never aligned with themselves
    on_both_sides: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _side_params(config: AlignConfig, side: GraphSide) -> dict[str, object]:
    return {"side_property": side.property, "side_value": side.value,
            "name_properties": list(config.name_properties)}


def _near(word: str, choices: list[str] | set[str], **kw: float) -> str:
    """:func:`did_you_mean` for a label, relationship type or property name: a near miss a
    configuration cannot name (``IN VENUE``) is said so, not suggested."""
    return did_you_mean(word, choices, nameable=IDENTIFIER_RE, **kw)


def _one_letter_off(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by one letter inserted, deleted or replaced (case aside)."""
    a, b = a.lower(), b.lower()
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    i = next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
    return a[i + (len(a) == len(b)):] == b[i + 1:]


def typo_of(word: str, choices: list[str]) -> str:
    """`` (did you mean 'X'?)`` when ``word`` is a typo of the choice ``X``: the same but for
    case, one letter off (inserted, deleted, replaced; in names of 3 letters or more: 'BYY'
    for 'BY', 'DIRECTD' for 'DIRECTED'), or a difflib ratio of :data:`TYPO_CUTOFF`; else
    ``""``. A name further off ('DIRECTED_BY' next to 'DIRECTED') may be meant as it is."""
    near = _near(word, choices, cutoff=TYPO_CUTOFF)
    if near:
        return near
    off = sorted(c for c in choices if c != word and max(len(c), len(word)) >= 3 and _one_letter_off(word, c))
    return _near(word, off[:1], cutoff=0.0) if off else ""


def near_or_carried(word: str, keys: list[str]) -> str:
    """:func:`did_you_mean` for a property, else `` (its entities carry 'a', 'b', ...)``:
    a key property named ``id`` (Neo4j's internal id is no property) gets the names to
    choose from."""
    near = _near(word, keys)
    if near or not keys:
        return near
    shown = ", ".join(repr(k) for k in sorted(keys)[:2 * SHOWN])
    return f" (its entities carry {shown}{', ...' if len(keys) > 2 * SHOWN else ''})"


def check(graph: Graph, config: AlignConfig, *, need_names: bool = True) -> Preflight:
    """Look at the graph with ``config``'s eyes; raise :class:`ConfigError` listing every
    problem, else return what was found. Reads only; a few aggregate queries per side.
    A property read as one value that holds a list or a map on some node (Neo4j refuses
    ``toString`` of it) is a ConfigError saying so, not the server's type error."""
    try:
        return _check(graph, config, need_names=need_names)
    except ValueTypeError as exc:
        read = [f"key {config.key_property!r}", f"name properties {list(config.name_properties)}"]
        if config.attribute_properties:
            read.append(f"attribute properties {list(config.attribute_properties)}")
        raise ConfigError(
            "a property kgn-align reads as one value holds a list (or a map) on some node of the "
            f"sides: {', '.join(read)}; kgn-align reads text, numbers, booleans and dates: store one "
            "value there (e.g. SET n.name = n.name[0], keeping the list under another property), or "
            f"leave that property out of the configuration (the server said: {exc})") from None


def _check(graph: Graph, config: AlignConfig, *, need_names: bool) -> Preflight:
    problems: list[str] = []
    warnings: list[str] = []
    reports = []
    labels: list[str] | None = None
    unused_by: dict[str, dict[str, str]] = {}  #: per side: name properties no entity has -> hint
    for which, side in (("source", config.source), ("target", config.target)):
        ident = {"label": side.label, "key_property": config.key_property}
        row = graph.read("preflight_side", _side_params(config, side), ident)[0]
        report = SideReport(side.name, int(row["entities"]), int(row["keyed"]), int(row["named"] or 0))
        reports.append(report)
        where = f"{which} side {side.name!r} (label {side.label!r}" + (
            f", {side.property} = {side.value!r})" if side.property else ")")
        if report.entities == 0:
            if labels is None:
                labels = [r["label"] for r in graph.read("preflight_labels", {"sample": SAMPLE})]
            hint = _value_hint(graph, config, side) if side.label in labels and side.property else ""
            problems.append(f"the {where} has no entities{hint or _near(side.label, labels)}")
            continue
        if report.keyed == 0:
            keys = _property_keys(graph, config, side)
            problems.append(f"no entity of the {where} has the key property "
                            f"{config.key_property!r}{near_or_carried(config.key_property, keys)}")
        elif report.keyed < report.entities:
            warnings.append(f"{report.entities - report.keyed} of {report.entities} entities of the "
                            f"{where} have no {config.key_property!r} and are left out")
        duplicates = graph.read("preflight_duplicate_keys",
                                {**_side_params(config, side), "limit": SHOWN}, ident)
        if duplicates:
            shown = ", ".join(f"{r['key']!r} ({r['copies']}x)" for r in duplicates)
            problems.append(f"keys must be unique per side, but on the {where} several entities "
                            f"share a {config.key_property!r}: {shown}")
        odd = graph.read("preflight_key_types", {**_side_params(config, side), "limit": SHOWN}, ident)[0]
        if int(odd["entities"]):
            shown = ", ".join(repr(k) for k in odd["examples"])
            problems.append(f"{odd['entities']} entities of the {where} have a {config.key_property!r} that is "
                            f"not a string (e.g. {shown}): edges are written by string key; store the keys "
                            f"as strings (SET n.{config.key_property} = toString(n.{config.key_property}))")
        counted = list(dict.fromkeys(config.name_properties + config.attribute_properties))
        per_name = {r["property"]: int(r["entities"]) for r in graph.read(
            "preflight_property_counts", {**_side_params(config, side), "properties": counted},
            {"label": side.label})}
        absent = [p for p in config.attribute_properties if per_name.get(p, 0) == 0]
        if absent:
            keys = _property_keys(graph, config, side)
            hints = "; ".join(f"{p!r}{near_or_carried(p, keys)}" for p in absent)
            problems.append(f"no entity of the {where} has the attribute property {hints}")
        unused = [p for p in config.name_properties if per_name.get(p, 0) == 0]
        if unused and need_names:
            keys = _property_keys(graph, config, side)
            near = {p: _near(p, keys) for p in unused}
            if len(unused) == len(config.name_properties):
                hints = "; ".join(f"{p!r}{hint}" for p, hint in near.items())
                if not any(near.values()):
                    hints += near_or_carried(unused[0], keys)
                problems.append(f"no entity of the {where} has any of the name properties: {hints}")
            else:  # said once both sides are looked at: one side's name may be the other's
                unused_by[which] = near
        if report.nameless and need_names and len(unused) < len(config.name_properties):
            warnings.append(f"{report.nameless} of {report.entities} entities of the {where} have "
                            "no name: they are matched through their neighbours only")
        reach = _neighbour_reach(graph, config, side, which, where)
        if reach:
            warnings.extend(reach)
        elif (isolated := _isolated(graph, config, side, where)):
            warnings.append(isolated)
    if len(unused_by) == 2:  # a name property neither side has is a typo, not an alternative
        neither = [p for p in config.name_properties if p in unused_by["source"] and p in unused_by["target"]]
        for side in (config.source, config.target):  # unless the entities' neighbours have it
            if neither and side.property is not None:
                on_neighbours = {r["property"] for r in graph.read(
                    "preflight_neighbour_property",
                    {"side_property": side.property, "side_value": side.value, "properties": neither})}
                neither = [p for p in neither if p not in on_neighbours]
        if neither:
            near = {p: unused_by["source"][p] or unused_by["target"][p] for p in neither}
            if not all(near.values()):  # a near miss of the neighbours' own (their 'fullname')
                around = _neighbour_keys(graph, config)
                near = {p: hint or _near(p, around) for p, hint in near.items()}
            warnings.append("no entity of either side has the name property "
                            + "; ".join(f"{p!r}{hint}" for p, hint in near.items()))
    if config.relationship_types and all(r.entities for r in reports):  # else: a knock-on of that
        used = [{r["type"] for r in graph.read(
            "preflight_relationship_types",
            {**_side_params(config, side), "same_as_type": config.same_as_type},
            {"label": side.label})} for side in (config.source, config.target)]
        every = sorted(used[0] | used[1])
        missing = [t for t in config.relationship_types if t not in used[0] | used[1]]
        hints = ", ".join(f"{t!r}{_near(t, every)}" for t in missing)
        # a near miss of a type the graph has (one letter off, another case) is a typo that
        # would silently drop that relation from every sample and model: refused; a type with
        # no near miss may be one the graph will have later: warned
        typos = {t: near for t in missing if (near := typo_of(t, every))}
        if missing and len(missing) == len(config.relationship_types):
            problems.append(f"no entity has a relationship of the configured relationship_types: {hints}")
        elif typos:
            problems.append("relationship_types the graph does not have, each a near miss of one it "
                            "has: " + ", ".join(f"{t!r}{near}" for t, near in typos.items()))
        elif missing:
            warnings.append(f"relationship types never used by either side: {hints}")
    if all(r.entities for r in reports) and (typo := _same_as_typo(graph, config)):
        problems.append(typo)
    if config.entity_labels:
        carried = sorted({r["label"] for side in (config.source, config.target) for r in graph.read(
            "preflight_side_labels", _side_params(config, side), {"label": side.label})})
        unused_labels = [label for label in config.entity_labels if label not in carried]
        if unused_labels:
            warnings.append("entity_labels no node of either side carries (their entities take "
                            "their first label instead): " + ", ".join(
                                f"{label!r}{_near(label, carried)}" for label in unused_labels))
    both: list[str] = []
    if not problems:
        backward, forward = reviews_by_direction(graph, config)
        if backward:
            remedy = "are [source] and [target] swapped?" if backward > forward else "turn them round"
            warnings.append(f"{swapped_text(config, backward)} ({forward} the configured way): reviews "
                            f"are read from source to target, so these teach and settle nothing; {remedy}")
        row = graph.read("preflight_both_sides", {
            "source_property": config.source.property, "source_value": config.source.value,
            "target_property": config.target.property, "target_value": config.target.value,
            "limit": SHOWN}, {"source_label": config.source.label,
                              "target_label": config.target.label,
                              "key_property": config.key_property})[0]
        if int(row["nodes"]):
            both = [str(k) for k in row["keys"]]
            warnings.append(f"{row['nodes']} node(s) are on both sides (e.g. keys "
                            f"{', '.join(repr(k) for k in both)}): they are never aligned with "
                            "themselves; give the sides disjoint labels or filters")
    unfinished = _unfinished_loads(graph, config)
    if problems:
        raise ConfigError("the graph does not match the configuration: " + "; ".join(problems)
                          + (f" (perhaps because {unfinished})" if unfinished else ""))
    if unfinished:
        warnings.insert(0, unfinished)
    for w in warnings:
        log.warning("%s", w)
    return Preflight(reports[0], reports[1], both, warnings)


def _same_as_typo(graph: Graph, config: AlignConfig) -> str | None:
    """In words, a ``same_as_type`` that joins no source entity to a target entity while a
    near miss of it does (another case, a letter off: :data:`TYPO_CUTOFF`), or None. Such a
    typo reads none of the reviews (the model's pairs contradict them) and writes a second
    set of edges beside the reviewed ones (a new user's trial: ``SAMEAS`` for ``SAME_AS``)."""
    rows = graph.read("preflight_cross_side_types", {
        "source_property": config.source.property, "source_value": config.source.value,
        "target_property": config.target.property, "target_value": config.target.value},
        {"source_label": config.source.label, "target_label": config.target.label})
    joining = {str(r["type"]): int(r["relationships"]) for r in rows}
    if config.same_as_type in joining:
        return None
    close = closest(config.same_as_type, set(joining), cutoff=TYPO_CUTOFF)
    if close is None:
        return None
    near = _near(config.same_as_type, joining, cutoff=TYPO_CUTOFF)
    return (f"same_as_type {config.same_as_type!r} joins no source entity to a target entity, "
            f"but {close!r} joins {joining[close]:,}{near}: reviews are read and edges written "
            f"under same_as_type, so this one would ignore those and write a second set beside them")


def _unfinished_loads(graph: Graph, config: AlignConfig) -> str | None:
    """In words, the loads into either side's graph that started and never completed (the
    loader's record of them stays), or None."""
    rows = graph.read("preflight_unfinished_loads", {"values": [config.source.value, config.target.value]})
    if not rows:
        return None
    first = rows[0]
    more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
    return (f"the load of {first['dataset']} started {instant_text(first['started'])} (load id {first['id']}){more} "
            "did not complete (killed, its rollback interrupted, or still running): the graph may "
            "lack some of its nodes and relationships; run the same load again (loads are "
            "idempotent: the next one completes it)")


def instant_text(text: str | None) -> str:
    """A Cypher datetime's text to the second, the same from every server: Neo4j writes
    ``2026-12-03T16:42:00.123456789Z``, ArcadeDB ``2026-12-03T16:42:00.123Z[Etc/UTC]``."""
    if not text:
        return "(when unknown)"
    return re.sub(r"(\d\d:\d\d:\d\d)\.\d+", r"\1", re.sub(r"\[[^\]]*\]$", "", text))


def unfinished_backfills(graph: Graph, config: AlignConfig, run_id: str) -> str | None:
    """In words, the backfill runs of the whole source side (no ``--key``), other than
    ``run_id``, that started and did not complete (stopped, or still running elsewhere), the
    newest named with how to go on with it; or None. Two such runs write the same sources'
    edges, the last write standing."""
    sides = {"source": config.source.model_dump(mode="json"), "target": config.target.model_dump(mode="json")}

    def of_these_sides(row: dict) -> bool:
        try:
            settings = json.loads(row["settings"] or "{}")
        except (TypeError, ValueError):
            return False  # not a run kgn-align wrote: nothing to say about its sides
        if not isinstance(settings, dict) or (settings.get("filter") or {}).get("keys") is not None:
            return False  # a run over chosen sources (a worker's 'changed' job, --key): not the sides'
        return all(settings.get(k) == v for k, v in sides.items())

    # a whole-side run of these sides that completed, started after an unfinished one, wrote
    # every source's edges again: the unfinished one is history (it was named at every
    # backfill until resumed or cleaned away)
    completed = [instant_text(r["started"]) for r in graph.read("backfill_runs_completed", {"run_id": run_id})
                 if r["started"] and of_these_sides(r)]
    since = max(completed, default=None)
    rows = [row for row in graph.read("backfill_runs_unfinished", {"run_id": run_id})
            if of_these_sides(row) and (since is None or instant_text(row["started"]) >= since)]
    if not rows:
        return None
    first = rows[0]
    done = (f"{first['entities'] or 0:,} of {first['total']:,} source entities done"
            if first["total"] is not None else f"{first['entities'] or 0:,} source entities done")
    more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
    return (f"backfill run {first['id']!r} on these two sides did not complete (started "
            f"{instant_text(first['started'])}, {done}){more}: it stopped, or is still running "
            f"elsewhere; two runs write the same sources' edges and the last write stands. To go "
            f"on with that one instead, give --run-id {first['id']} with its options")


def reviews_by_direction(graph: Graph, config: AlignConfig) -> tuple[int, int]:
    """Reviewed SAME_AS edges between the sides pointing target -> source, and source -> target."""
    row = graph.read("preflight_reversed_reviews", {
        "source_property": config.source.property, "source_value": config.source.value,
        "target_property": config.target.property, "target_value": config.target.value},
        {"source_label": config.source.label, "target_label": config.target.label,
         "same_as": config.same_as_type})[0]
    return int(row["reversed"]), int(row["forward"])


def swapped_text(config: AlignConfig, backward: int) -> str:
    return (f"{backward} reviewed {config.same_as_type} edge(s) point from the target side "
            f"{config.target.name!r} to the source side {config.source.name!r}")


def _neighbour_reach(graph: Graph, config: AlignConfig, side: GraphSide, which: str, where: str) -> list[str]:
    """Warnings about the neighbours the sampler takes around the side's entities: none at
    all (on the side and with the key property: the side is then matched by names alone,
    with the labels their relationships lead to instead and what would bring those nodes
    in); else neighbours on the side without the key, which every sample leaves out, and
    neighbour labels without names (:func:`_nameless_neighbours`)."""
    rows = graph.read("preflight_neighbour_reach",
                      {**_reach_params(config, side), "name_properties": list(config.name_properties)},
                      {"label": side.label, "key_property": config.key_property})
    if any(r["sampled"] for r in rows):
        found = []
        unkeyed = sorted(((int(r["nodes"]), r["label"] or "(no label)") for r in rows
                          if r["on_side"] and not r["sampled"]), reverse=True)
        if unkeyed:
            found.append(f"neighbours on the {where} that have no {config.key_property!r} are left out of "
                         f"every sample: " + ", ".join(f"{n:,} {label}" for n, label in unkeyed[:SHOWN])
                         + f" (around its first {REACH_SAMPLE:,} entities); give every node on the side "
                         f"a unique {config.key_property!r}")
        nameless = _nameless_neighbours(graph, config, side, where, [r for r in rows if r["sampled"]])
        return found + ([nameless] if nameless else [])
    followed = "of the configured relationship_types " if config.relationship_types else ""
    plain = f"the {where}: its entities have no relationships {followed}to nodes the sampler " \
            "takes, so no neighbours are sampled and it is matched by names alone"

    def shown(found: list[dict]) -> str:
        counts = sorted(((int(r["relationships"]), r["label"] or "(no label)") for r in found), reverse=True)
        return ", ".join(f"{label} ({n:,} relationships)" for n, label in counts[:SHOWN])

    keyless = [r for r in rows if r["on_side"]]
    if keyless:
        return [f"{plain}; their neighbours on the side have no {config.key_property!r} "
                f"({shown(keyless)}): give every node on the side a unique {config.key_property!r} "
                "(the sampler keys the nodes it samples by it)"]
    if not rows:
        return [plain]
    if side.property is None:
        fix = (f"a side selected by its label alone holds only {side.label} nodes: give the "
               f"{side.label} nodes and their neighbours a property naming their graph (e.g. "
               f"graph = {side.name!r}) and set property and value under [{which}]")
    else:
        fix = f"give those neighbours {side.property} = {side.value!r} too"
    return [f"{plain}; their relationships lead to nodes off the side: {shown(rows)}; {fix}"]


def _reach_params(config: AlignConfig, side: GraphSide) -> dict[str, object]:
    """What the neighbour-reach queries take: the side, the sample, the types followed."""
    return {"side_property": side.property, "side_value": side.value, "sample": REACH_SAMPLE,
            "same_as_type": config.same_as_type,
            "types": None if config.relationship_types is None else list(config.relationship_types)}


def _isolated(graph: Graph, config: AlignConfig, side: GraphSide, where: str) -> str:
    """A warning when most of the side's entities (of the first :data:`REACH_SAMPLE`) have no
    neighbour the sampler takes, though some do: most of the side is matched by names
    alone (a graph loaded in part keeps few of its relationships)."""
    row = graph.read("preflight_isolated", _reach_params(config, side),
                     {"label": side.label, "key_property": config.key_property})[0]
    entities, isolated = int(row["entities"]), int(row["isolated"] or 0)
    if 2 * isolated <= entities:
        return ""
    looked = "" if entities < REACH_SAMPLE else f" (of the first {entities:,} looked at)"
    return (f"{isolated:,} of {entities:,} entities of the {where}{looked} have no neighbour the "
            "sampler takes: they are matched by their names alone (a graph loaded in part, as "
            "with load --pairs, keeps few of its relationships)")


def _nameless_neighbours(graph: Graph, config: AlignConfig, side: GraphSide, where: str,
                         sampled: list[dict]) -> str:
    """A warning naming the labels of sampled neighbours (other than the side's entities,
    which the nameless count covers) of which most carry none of the name properties:
    the names around an entity are half of its blocking vector and of what the model
    reads, and those neighbours lend none. With the properties they carry instead."""
    found = []
    for r in sorted(sampled, key=lambda r: -int(r["nodes"])):
        label, nodes, named = r["label"], int(r["nodes"]), int(r["named"])
        if label in ("", side.label) or 2 * named >= nodes:
            continue
        carried: list[str] = []
        if IDENTIFIER_RE.fullmatch(label):
            skip = {side.property, config.key_property, *config.attribute_properties}
            carried = [k for k in _property_keys(graph, config, side.model_copy(update={"label": label}))
                       if k not in skip][:SHOWN]
        found.append(f"{nodes - named:,} of {nodes:,} {label}" + (
            f" (they carry {', '.join(repr(k) for k in carried)})" if carried else ""))
    if not found:
        return ""
    names = ", ".join(repr(p) for p in config.name_properties)
    return (f"neighbours sampled around the {where} have none of the name properties ({names}): "
            f"{'; '.join(found[:SHOWN])}; their names are not read (add theirs to name_properties)")


def _value_hint(graph: Graph, config: AlignConfig, side: GraphSide) -> str:
    """A hint when nodes have the side's label but none its filter value: the value that
    ends with the configured one (a graph loaded with another prefix: ``--prefix``), else
    a close one, else the values there are when they are few; ``""`` otherwise."""
    values = [r["value"] for r in graph.read("preflight_side_values",
                                             {"side_property": side.property, "sample": SAMPLE,
                                              "limit": 1000}, {"label": side.label})]
    if not values:  # no node with the label has the filter property: a misspelt property?
        keys = _property_keys(graph, config, side.model_copy(update={"property": None, "value": None}))
        return f" (no {side.label!r} node has a property {side.property!r}{_near(side.property, keys)})"
    wanted = str(side.value)
    prefixed = sorted(v for v in values if v.endswith(wanted) and v != wanted)
    if prefixed:
        extra = prefixed[0][: -len(wanted)]
        return f" (its nodes have {side.property} = {prefixed[0]!r}: loaded with --prefix {extra!r}?)"
    near = did_you_mean(wanted, values)
    if near or len(values) > 2 * SHOWN:
        return near
    shown = ", ".join(repr(v) for v in sorted(values))
    return f" (its {side.label} nodes have {side.property} = {shown})"


def _neighbour_keys(graph: Graph, config: AlignConfig) -> list[str]:
    """The property keys (a sample per label) of the other labels' nodes on either side: the
    entities' neighbours, whose names are read too."""
    keys: set[str] = set()
    for side in (config.source, config.target):
        for r in graph.read("preflight_side_labels", _side_params(config, side), {"label": side.label}):
            if r["label"] != side.label and IDENTIFIER_RE.fullmatch(r["label"]):
                keys.update(_property_keys(graph, config, side.model_copy(update={"label": r["label"]})))
    return sorted(keys)


def _property_keys(graph: Graph, config: AlignConfig, side: GraphSide) -> list[str]:
    """The property keys the side's entities carry (a sample), less kgn-align's own."""
    return [r["key"] for r in graph.read("preflight_property_keys",
                                         {**_side_params(config, side), "sample": SAMPLE},
                                         {"label": side.label}) if r["key"] != HASH_PROPERTY]

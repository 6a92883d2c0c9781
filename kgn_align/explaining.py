"""``kgn-align explain``: one pair's score and the neighbours that drove it, or one
source's candidates and why a backfill writes the edge it writes, or none.

A pair (:func:`explain_pair`): finds the two entities by key or by a unique end of their
key (:func:`resolve_key`), samples just their trees (one round trip per side), scores the
pair with attention recorded, and turns model-internal ids back into keys, names and
relation types.

A source (:func:`explain_source`): aligns the whole side as a backfill with the same
options would (:class:`~kgn_align.scoring.ModelScorer`, the reviews, the policy) and says
what becomes of each of the source's candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel

from kgn_align.config import AlignConfig, GraphSide
from kgn_align.errors import KgnAlignError
from kgn_align.graph import Graph
from kgn_align.model.explain import neighbour_weights
from kgn_align.attributes import FEATURES_PER_ATTRIBUTE, AttributeTable, read_value
from kgn_align.model.inputs import SideInputs, pair_attributes
from kgn_align.neighborhood import DIR_OUT, TreeStore
from kgn_align.sampling import Sampler
from kgn_align.scoring import TrainedModel
from kgn_align.snapshot import SideSnapshot, model_features, model_sampling, names_by_id
from kgn_align.writeback import Policy, ScoredPair

log = logging.getLogger(__name__)


class Neighbour(BaseModel):
    side: str
    layer: int  #: 1 = hop 1 -> entity, 0 = hop 2 -> hop 1
    key: str
    name: str
    via: str  #: "-[:TYPE]->" as stored, seen from the entity it informs
    parent: str
    weight: float
    cross: float | None


class Explanation(BaseModel):
    source: str
    target: str
    source_name: str
    target_name: str
    score: float  #: the pair on its own (Platt); a backfill's r.score also weighs rivals
    logit: float
    model: str
    neighbours: list[Neighbour]
    #: the SAME_AS edge between the two in the graph (score, model, method, review), if any
    edge: dict[str, Any] | None = None
    #: per attribute property the model compares: both values and how they agree
    attributes: list[dict[str, Any]] = []


#: What may precede the end of a key that a user types instead of the whole key.
KEY_SEPARATORS = ("/", "#", ":")
#: Keys named when a part of a key matches several.
CANDIDATES_SHOWN = 5


class KeyNotFound(KgnAlignError, LookupError):
    """No entity of a side has this key, or a key ending in it; or several do."""


def key_suffixes(text: str) -> list[str]:
    """The ends of a key that ``text`` stands for: ``text`` after a separator (``Paris`` ->
    ``/Paris``, ``#Paris``, ``:Paris``), so that ``Paris`` never matches ``Gare_de_Paris``;
    ``text`` itself when it starts with one (``/resource/Paris``)."""
    if text.startswith(KEY_SEPARATORS):
        return [text]
    return [sep + text for sep in KEY_SEPARATORS]


def pick_key(text: str, side_name: str, total: int, keys: list[str]) -> str:
    """The key ``text`` names, from ``explain_find_keys``' answer: ``total`` keys match, and
    ``keys`` lists the exact key, the other matches, then other keys of the side. The exact
    key wins; else the one match; else :class:`KeyNotFound` naming the problem in one line."""
    matches = keys[:total]
    if text in matches:
        return text
    if total == 1:
        return matches[0]
    if total == 0:
        looks = f" (its keys look like {keys[0]!r})" if keys else " (the side has no entities)"
        raise KeyNotFound(f"no {side_name!r} entity has the key {text!r}, or a key ending in "
                          f"it after '/', '#' or ':'{looks}")
    shown = ", ".join(repr(k) for k in matches[:CANDIDATES_SHOWN])
    more = f" and {total - CANDIDATES_SHOWN} more" if total > CANDIDATES_SHOWN else ""
    raise KeyNotFound(f"{text!r} matches {total} {side_name!r} keys: {shown}{more}; "
                      "give more of the key")


def resolve_key(graph: Graph, config: AlignConfig, side: GraphSide, text: str) -> str:
    """The whole key of the ``side`` entity that ``text`` names: the key itself, or a
    unique end of it after ``/``, ``#`` or ``:`` (``resource/Paris`` or ``Paris`` for
    ``http://fr.dbpedia.org/resource/Paris``). Raises :class:`KeyNotFound` otherwise."""
    text = text.strip()
    if not text:
        raise KeyNotFound(f"an empty key names no {side.name!r} entity")
    row = graph.read("explain_find_keys", {
        "text": text, "suffixes": key_suffixes(text), "side_property": side.property,
        "side_value": side.value, "limit": CANDIDATES_SHOWN + 1},
        {"label": side.label, "key_property": config.key_property})[0]
    return pick_key(text, side.name, int(row["total"] or 0), [str(k) for k in row["keys"]])


def _swapped(graph: Graph, config: AlignConfig, source_key: str, target_key: str) -> str:
    """A hint when the two keys name entities of the other sides: given in the wrong order."""
    try:
        resolve_key(graph, config, config.target, source_key)
        resolve_key(graph, config, config.source, target_key)
    except KeyNotFound:
        return ""
    return (f"; {source_key!r} is a key of {config.target.name!r} and {target_key!r} one of "
            f"{config.source.name!r}: give the source key first")


@dataclass
class _Side:
    store: TreeStore
    inputs: SideInputs
    names: list[str]
    values: list[object]  #: the seed's attribute values, in the model's property order


def _side(graph: Graph, config: AlignConfig, sampler: Sampler, side: GraphSide, key: str,
          trained: TrainedModel) -> _Side:
    store = sampler.sample_seeds(side, [key])
    trained.check_relations([store])
    # read by node, as a snapshot reads them: two neighbours with one key (an author and a
    # venue), or a key that is a number, are told apart and found (by key they were not)
    text, names = [""] * len(store.keys), list(store.keys)
    values: list[list[object]] = [[None] * len(trained.attributes)] * len(store.keys)
    for i, feature, label, read in names_by_id(graph, config, side, store.element_ids, store.keys,
                                               trained.attributes):
        text[i], names[i], values[i] = feature, label, read
    features = model_features(trained.featurizer.transform(text), store, trained.context_beta)
    attributes = AttributeTable.read(values, len(trained.attributes))
    inputs = SideInputs.build(store, features, trained.relations, trained.types,
                              attributes if trained.attributes else None)
    return _Side(store, inputs, names, values[0])


def explain_pair(graph: Graph, config: AlignConfig, trained: TrainedModel, source_key: str,
                 target_key: str) -> Explanation:
    """Score one pair with attention recorded. Each key may be the whole key or a unique
    end of it (:func:`resolve_key`); the explanation carries the whole keys. A configuration
    that reads the graph otherwise than the model's training (sides swapped too) is refused
    first (:meth:`~kgn_align.scoring.TrainedModel.check_reading`): keys given in the trained
    order would otherwise be reported as missing."""
    sampling = model_sampling(config, trained)
    try:
        source_key = resolve_key(graph, config, config.source, source_key)
        target_key = resolve_key(graph, config, config.target, target_key)
    except KeyNotFound as exc:
        raise KeyNotFound(f"{exc}{_swapped(graph, config, source_key, target_key)}") from None
    sampler = Sampler(graph, config, sampling)
    a = _side(graph, config, sampler, config.source, source_key, trained)
    b = _side(graph, config, sampler, config.target, target_key, trained)
    seed = torch.tensor([0])  # sample_seeds puts the seed first in its entity table
    model = trained.model.eval()
    device = next(model.parameters()).device
    ba, bb = a.inputs.batch(seed).to(device), b.inputs.batch(seed).to(device)
    compared = pair_attributes(a.inputs, b.inputs, seed, seed)
    with torch.inference_mode():
        out = model(ba, bb, a.inputs.features.to(device), b.inputs.features.to(device),
                    return_attention=True, attributes=compared)
    neighbours = []
    for w in (neighbour_weights(out, ba, bb) if out.attention_a else []):
        side = a if w.side == "a" else b
        rel = trained.relations[w.relation] if 0 <= w.relation < len(trained.relations) else "?"
        arrow = f"-[:{rel}]->" if w.direction == DIR_OUT else f"<-[:{rel}]-"
        neighbours.append(Neighbour(
            side="source" if w.side == "a" else "target", layer=w.layer, key=side.store.keys[w.entity],
            name=side.names[w.entity], via=arrow, parent=side.names[w.parent_entity],
            weight=round(w.weight, 4), cross=None if w.cross is None else round(w.cross, 4)))
    from kgn_align.writeback import selection

    identifiers, params = selection(config)
    found = graph.read("explain_edge", {**params, "source": source_key, "target": target_key},
                       identifiers)
    attributes = []
    for j, prop in enumerate(trained.attributes):
        present, equal, near = (bool(v) for v in compared[0, FEATURES_PER_ATTRIBUTE * j:FEATURES_PER_ATTRIBUTE * (j + 1)])
        agreement = "equal" if equal else "different" if present else "missing"
        if near and not equal:  # one unit is one year, day or second, but also one dollar: say how far
            gap = abs(read_value(a.values[j])[0] - read_value(b.values[j])[0])
            agreement = f"within one unit ({gap:.4g} apart)"
        attributes.append({"property": prop, "source": _plain(a.values[j]), "target": _plain(b.values[j]),
                           "agreement": agreement})
    return Explanation(source=source_key, target=target_key, source_name=a.names[0],
                       target_name=b.names[0], score=round(float(out.prob[0]), 4),
                       logit=round(float(out.logit[0]), 4), model=trained.version,
                       neighbours=neighbours, edge=dict(found[0]) if found else None,
                       attributes=attributes)


def _plain(value: object) -> object:
    """A property value as JSON can hold it (dates and the like as text)."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def render(ex: Explanation, top: int = 8) -> str:
    """A terminal-friendly view: score, then each side's heaviest neighbours."""
    lines = [f"{ex.source_name!r} ({ex.source})  vs  {ex.target_name!r} ({ex.target})"]
    # what the backfill wrote first: the pair model's own score is an input to it, no verdict
    if ex.edge is None:
        lines.append("SAME_AS in the graph: none between these two")
    elif ex.edge.get("review"):
        lines.append(f"SAME_AS in the graph: reviewed ({ex.edge['review']})")
    else:
        lines.append(f"SAME_AS in the graph: score {ex.edge.get('score')} ({ex.edge.get('method')}, "
                     f"{ex.edge.get('model')})")
    lines += [f"pair model on this pair alone: logit {ex.logit:.3f}, pair score {ex.score:.4f}   "
              f"model {ex.model}",
              "(the pair score is the logit under the training's Platt scaling, with no rivals; an "
              "edge's score comes from the global matching: the logit next to the names' and "
              "neighbours' similarity, the rival targets and sources, calibrated on whole candidate lists)"]
    for att in ex.attributes:
        lines.append(f"attribute {att['property']}: {att['source']!r} vs {att['target']!r} ({att['agreement']})")
    lines.append("")
    if not ex.neighbours:
        lines.append("(this model has no attention to show: names-only variant or no neighbours)")
    for side in ("source", "target"):
        rows = [n for n in ex.neighbours if n.side == side and n.layer == max(
            (m.layer for m in ex.neighbours if m.side == side), default=0)][:top]
        lines.append(f"{side} side: neighbours of the entity, by attention weight")
        lines.append(f"  {'weight':>7} {'cross':>6}  relation / neighbour")
        for n in rows:
            cross = f"{n.cross:6.3f}" if n.cross is not None else "     -"
            lines.append(f"  {n.weight:7.3f} {cross}  {n.parent} {n.via} {n.name}")
        if not rows:
            lines.append("  (no sampled neighbours)")
        lines.append("")
    lines.append("weight: self- and cross-graph attention combined (sums to 1 per entity); "
                 "cross: best cosine with a neighbour of the other side's tree at the same depth, "
                 "in the model's learned cross-graph projection (what its cross-graph attention "
                 "compares; another model gives other values: not a name similarity)")
    return "\n".join(lines)


# ------------------------------------------------------------------ one source, as a backfill sees it
class CandidateOutcome(BaseModel):
    """One candidate target of a source and what a backfill does with the pair."""

    target: str
    name: str
    score: float  #: calibrated, as the edge would carry it
    outcome: str  #: "chosen", "below the threshold", "rejected by a review", ...


class SourceView(BaseModel):
    """Why a source gets the SAME_AS edge it gets, or none: what a whole-side backfill with
    the same options would do with each of its candidates (:func:`explain_source`)."""

    source: str
    source_name: str
    model: str
    options: dict[str, Any]  #: k, threshold, policy, bootstrap
    candidates: list[CandidateOutcome]  #: best first; empty for a source with an accepted pair
    accepted: list[str]  #: targets accepted for the source by a review
    #: the source's SAME_AS edges in the graph now (target, score, model, method, review)
    edges: list[dict[str, Any]]
    verdict: str


def _label(side: SideSnapshot, key: str) -> str:
    """The display name of a side's entity to align, by key."""
    return side.labels[side.aligned_row[key]]


#: the outcomes :func:`source_verdict` tells apart (the others are said as they are)
CHOSEN = "chosen: a backfill writes this edge"
REJECTED = "rejected by a review: never written"


def source_outcomes(source: str, pairs: Sequence[ScoredPair], chosen: Sequence[ScoredPair],
                    rejected: set[tuple[str, str]], threshold: float, policy: Policy) -> list[tuple[ScoredPair, str]]:
    """What a backfill does with each of ``source``'s candidate ``pairs`` (scored, best
    first): ``chosen`` holds the pairs the policy picked over the whole side (all sources),
    ``rejected`` the pairs a review rejected. Pure: the decision rules of
    :class:`~kgn_align.writeback.Reviews` and :func:`~kgn_align.writeback.select`, in words."""
    taken = {p.target: p for p in chosen if p.source != source}
    mine = {p.target: p.score for p in chosen if p.source == source}
    out = []
    for p in sorted(pairs, key=lambda q: (-q.score, q.target)):
        if (p.source, p.target) in rejected:
            why = REJECTED
        elif p.target in mine:
            why = CHOSEN
        elif p.score < threshold:
            why = f"below the threshold ({threshold:g})"
        elif policy is Policy.ONE_TO_ONE and p.target in taken:
            rival = taken[p.target]
            why = f"given to source {rival.source} (score {rival.score:.4f}): one-to-one gives each target once"
        elif policy is Policy.BEST and mine:
            why = ("another candidate scores higher (policy best: one edge per source)" if p.score < max(mine.values())
                   else "scores as the chosen one: policy best writes one edge per source, ties go to "
                   "the smallest target key")
        elif policy is Policy.ONE_TO_ONE:
            why = "not in the one-to-one matching (a better pair of the source took its place)"
        else:
            why = "not chosen"
        out.append((p, why))
    return out


def source_verdict(source: str, outcomes: Sequence[tuple[ScoredPair, str]], accepted: Sequence[str],
                   threshold: float, policy: Policy, k: int) -> str:
    """One line: the edge a backfill writes for ``source``, or why it writes none."""
    if accepted:
        return (f"no model edge: it has an accepted SAME_AS to {', '.join(accepted)} (a person's answer; "
                "the model writes no other edge for it)")
    chosen = [p for p, why in outcomes if why == CHOSEN]
    if chosen:
        return "a backfill writes SAME_AS to " + ", ".join(f"{p.target} (score {p.score:.4f})" for p in chosen)
    if not outcomes:
        return (f"no edge: it has no open candidate (each of its {k} nearest targets is accepted for "
                "another source or rejected for it)")
    best, why = next(((p, w) for p, w in outcomes if w != REJECTED), outcomes[0])
    if why == REJECTED:
        return "no edge: every candidate of it was rejected by a review"
    if best.score < threshold:
        return (f"no edge: its best candidate {best.target} scores {best.score:.4f}, below the "
                f"threshold {threshold:g} (the score is the calibrated probability of a match: its "
                "candidates share one chance, and other sources wanting the target count)")
    return f"no edge: its best candidate {best.target} is {why}"


def explain_source(graph: Graph, config: AlignConfig, trained: TrainedModel, source_text: str, *,
                   k: int, threshold: float, policy: Policy, bootstrap: bool = True) -> SourceView:
    """What a whole-side backfill with these options (``-k``, ``--threshold``, ``--policy``,
    ``--bootstrap``) writes for one source, and why: each candidate's calibrated score and
    outcome. Aligns the whole side (each source competes with the others for its targets),
    so it takes about as long as a backfill's scoring; a source with an accepted SAME_AS
    is answered without it. Raises :class:`KeyNotFound` for a key of no source entity."""
    from kgn_align.backfill import BackfillFilter, select_keys
    from kgn_align.scoring import ModelScorer
    from kgn_align.snapshot import take
    from kgn_align.writeback import Reviews, labelled_pairs, read_edges_of, select

    try:
        source = resolve_key(graph, config, config.source, source_text)
    except KeyNotFound as exc:
        try:
            resolve_key(graph, config, config.target, source_text)
        except KeyNotFound:
            raise exc from None
        raise KeyNotFound(f"{exc}; {source_text!r} is a key of {config.target.name!r}: give a source "
                          f"key ({config.source.name!r}), explain shows a source's candidates") from None
    labelled = labelled_pairs(graph, config)
    reviews = Reviews(labelled)
    accepted = sorted(t for s, t, review in labelled if s == source and review == "accepted")
    edges = [e.model_dump() for e in read_edges_of(graph, config, [source])]
    options = {"k": k, "threshold": threshold, "policy": policy.value, "bootstrap": bootstrap}
    outcomes: list[tuple[ScoredPair, str]] = []
    names: dict[str, str] = {}
    if accepted:  # answered without scoring: the name from the source's own sample
        sampler = Sampler(graph, config, model_sampling(config, trained))
        source_name = _side(graph, config, sampler, config.source, source, trained).names[0]
    else:
        log.info("aligning the whole source side as a backfill would (each source competes for its "
                 "targets): about as long as a backfill's scoring")
        snapshot = take(graph, config, model=trained)
        source_name = _label(snapshot.source, source)
        scorer = ModelScorer(snapshot, trained, k=k, labelled=labelled, bootstrap=bootstrap)
        pairs = scorer([source])  # every candidate, accepted targets left out
        if policy is Policy.ONE_TO_ONE:  # a global matching: every source's pairs
            everything = reviews.allowed(scorer(select_keys(graph, config, BackfillFilter())), policy)
        else:
            everything = reviews.allowed(pairs, policy)
        chosen = select(everything, policy, threshold)
        outcomes = source_outcomes(source, pairs, chosen, reviews.rejected, threshold, policy)
        names = {p.target: _label(snapshot.target, p.target) for p, _ in outcomes}
    return SourceView(source=source, source_name=source_name, model=trained.version, options=options,
                      candidates=[CandidateOutcome(target=p.target, name=names.get(p.target, p.target),
                                                   score=p.score, outcome=why) for p, why in outcomes],
                      accepted=accepted, edges=edges,
                      verdict=source_verdict(source, outcomes, accepted, threshold, policy, k))


def render_source(view: SourceView, top: int = 8) -> str:
    """A terminal-friendly view of :class:`SourceView`: the verdict, the edges in the graph
    now, then the candidates best first (``top`` of them)."""
    o = view.options
    name = f"{view.source_name!r} ({view.source})" if view.source_name != view.source else view.source
    lines = [f"source {name}, as a backfill with -k {o['k']} --threshold {o['threshold']:g} "
             f"--policy {o['policy']}{'' if o['bootstrap'] else ' --no-bootstrap'} and model "
             f"{view.model} would align it:",
             f"  {view.verdict}"]
    if view.edges:
        lines.append("SAME_AS in the graph now:")
        for e in view.edges:
            how = (f"reviewed ({e['review']})" if e.get("review")
                   else f"score {e.get('score')} ({e.get('method')}, {e.get('model')})")
            lines.append(f"  -> {e['target']}: {how}")
    else:
        lines.append("SAME_AS in the graph now: none from it")
    if view.candidates:
        lines.append(f"its candidates, best first ({min(top, len(view.candidates))} of "
                     f"{len(view.candidates)}; --top shows more):")
        width = max(len(c.target) for c in view.candidates[:top])
        for c in view.candidates[:top]:
            lines.append(f"  {c.score:.6f}  {c.target:<{width}}  {c.name[:60]!r}  {c.outcome}")
        lines.append(f"a target not listed is not among its {o['k']} candidates (blocking by names and "
                     "neighbours; -k takes more); 'kgn-align explain SOURCE TARGET' shows what the pair "
                     "model sees in one pair")
    return "\n".join(lines)

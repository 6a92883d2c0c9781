"""``kgn-align explain``: one pair's score and the neighbours that drove it.

Samples just the two entities' trees (one round trip per side), scores the pair with
attention recorded, and turns model-internal ids back into keys, names and relation types.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import BaseModel

from kgn_align.config import AlignConfig, GraphSide
from kgn_align.graph import Graph
from kgn_align.model.explain import neighbour_weights
from kgn_align.model.inputs import SideInputs
from kgn_align.neighborhood import DIR_OUT, TreeStore
from kgn_align.sampling import Sampler
from kgn_align.scoring import TrainedModel
from kgn_align.snapshot import display_name, feature_text, model_features


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


@dataclass
class _Side:
    store: TreeStore
    inputs: SideInputs
    names: list[str]


def _side(graph: Graph, config: AlignConfig, sampler: Sampler, side: GraphSide, key: str,
          trained: TrainedModel) -> _Side:
    store = sampler.sample_seeds(side, [key])
    rows = graph.read("snapshot_names_by_key", {
        "keys": store.keys, "side_property": side.property, "side_value": side.value,
        "name_properties": list(config.name_properties)},
        {"label": side.label, "key_property": config.key_property})
    values = {str(r["key"]): r["names"] for r in rows}
    text = [feature_text(values.get(k, [])) for k in store.keys]
    names = [display_name(values.get(k, []), k) for k in store.keys]
    features = model_features(trained.featurizer.transform(text), store, trained.context_beta)
    inputs = SideInputs.build(store, features, trained.relations, trained.types)
    return _Side(store, inputs, names)


def explain_pair(graph: Graph, config: AlignConfig, trained: TrainedModel, source_key: str,
                 target_key: str) -> Explanation:
    sampler = Sampler(graph, config)
    a = _side(graph, config, sampler, config.source, source_key, trained)
    b = _side(graph, config, sampler, config.target, target_key, trained)
    seed = torch.tensor([0])  # sample_seeds puts the seed first in its entity table
    model = trained.model.eval()
    device = next(model.parameters()).device
    ba, bb = a.inputs.batch(seed).to(device), b.inputs.batch(seed).to(device)
    with torch.inference_mode():
        out = model(ba, bb, a.inputs.features.to(device), b.inputs.features.to(device),
                    return_attention=True)
    neighbours = []
    for w in (neighbour_weights(out, ba, bb) if out.attention_a else []):
        side = a if w.side == "a" else b
        rel = trained.relations[w.relation] if 0 <= w.relation < len(trained.relations) else "?"
        arrow = f"-[:{rel}]->" if w.direction == DIR_OUT else f"<-[:{rel}]-"
        neighbours.append(Neighbour(
            side="source" if w.side == "a" else "target", layer=w.layer, key=side.store.keys[w.entity],
            name=side.names[w.entity], via=arrow, parent=side.names[w.parent_entity],
            weight=round(w.weight, 4), cross=None if w.cross is None else round(w.cross, 4)))
    return Explanation(source=source_key, target=target_key, source_name=a.names[0],
                       target_name=b.names[0], score=round(float(out.prob[0]), 4),
                       logit=round(float(out.logit[0]), 4), model=trained.version,
                       neighbours=neighbours)


def render(ex: Explanation, top: int = 8) -> str:
    """A terminal-friendly view: score, then each side's heaviest neighbours."""
    lines = [f"{ex.source_name!r} ({ex.source})  vs  {ex.target_name!r} ({ex.target})",
             f"pair score {ex.score:.4f} (logit {ex.logit:.3f})   model {ex.model}",
             "(the pair on its own; an edge's r.score also weighs the source's other candidates)", ""]
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
                 "cross: best cosine with a neighbour on the other side")
    return "\n".join(lines)

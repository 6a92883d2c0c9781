"""Scorers for :func:`kgn_align.backfill.run_backfill` that need no trained model.

:class:`NameSimilarityScorer` scores a source entity against its nearest target entities
by name: the cosine of the pair model's level-0 vectors (TF-IDF character n-grams and
words). It is the baseline the GNN must beat, the scorer the backfill tests use
(deterministic, fast), and a usable first pass on graphs whose names are informative.
The GNN scorer has the same shape: keys in, scored pairs out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from kgn_align.candidates import Backend, search
from kgn_align.config import CANDIDATES_PER_SOURCE, AlignConfig, GraphSide
from kgn_align.features import NgramFeaturizer
from kgn_align.graph import Graph
from kgn_align.snapshot import feature_text
from kgn_align.writeback import ScoredPair

log = logging.getLogger(__name__)

METHOD = "name-similarity"
#: Scores are computed per pair in float64 and rounded, so that a pair gets the same score
#: however the batches that found it were cut.
DECIMALS = 6


def read_side(graph: Graph, config: AlignConfig, side: GraphSide) -> tuple[list[str], list[str], list[str]]:
    """Keys, name texts (every name property, as the pair model reads them) and entity
    types of one side (type ``""``: untyped)."""
    rows = graph.read("backfill_names", {"value": side.value,
                                         "name_properties": list(config.name_properties)},
                      {"label": side.label, "property": side.property or config.key_property,
                       "key": config.key_property})
    keys, names, types = [], [], []
    for r in rows:
        keys.append(str(r["key"]))
        names.append(feature_text(r["names"]))
        types.append(next((t for t in config.entity_labels if t in r["labels"]), ""))
    return keys, names, types


class NameSimilarityScorer:
    """Top-``k`` targets of each source entity by name cosine, as scored pairs.

    Args:
        graph, config: where the two sides are.
        k: candidates scored per source entity (:data:`~kgn_align.config.CANDIDATES_PER_SOURCE`).
        backend: nearest-neighbour backend (:func:`kgn_align.candidates.search`).
    """

    method = METHOD

    def __init__(self, graph: Graph, config: AlignConfig, *, k: int = CANDIDATES_PER_SOURCE,
                 backend: Backend = "auto") -> None:
        s_keys, s_names, s_types = read_side(graph, config, config.source)
        t_keys, t_names, t_types = read_side(graph, config, config.target)
        vocab = {t: i for i, t in enumerate(sorted(set(s_types) | set(t_types)))}
        self.k, self.backend = k, backend
        self.source_row = {key: i for i, key in enumerate(s_keys)}
        self.target_keys = t_keys
        # the pair model's level-0 featurizer: TF-IDF fitted on both sides' names
        vectors = NgramFeaturizer.fit_transform(s_names + t_names)[1]
        self.source_vec, self.target_vec = vectors[:len(s_names)], vectors[len(s_names):]
        self.source_types = torch.tensor([vocab[t] for t in s_types], dtype=torch.long)
        self.target_types = torch.tensor([vocab[t] for t in t_types], dtype=torch.long)
        log.info("name scorer: %d source, %d target entities", len(s_keys), len(t_keys))

    @property
    def settings(self) -> dict[str, object]:
        """What changes its output besides the graph: part of a run's fingerprint."""
        return {"k": self.k, "backend": self.backend}

    def __call__(self, keys: Sequence[str]) -> list[ScoredPair]:
        known = [k for k in keys if k in self.source_row]
        if not known or not self.target_keys:
            return []
        rows = torch.tensor([self.source_row[k] for k in known])
        cands = search(self.source_vec[rows], self.target_vec, self.k,
                       source_types=self.source_types[rows], target_types=self.target_types,
                       backend=self.backend)
        found = list(cands.pairs())
        if not found:
            return []
        # Re-score each pair on its own, in float64: a matmul's last bits depend on the
        # shape of the batch, and a resumed or re-cut run must give identical scores.
        src = rows[torch.tensor([r for r, _, _ in found])]
        tgt = torch.tensor([c for _, c, _ in found])
        exact = (self.source_vec[src].double() * self.target_vec[tgt].double()).sum(-1)
        return [ScoredPair(source=known[r], target=self.target_keys[c],
                           score=round(min(max(float(s), 0.0), 1.0), DECIMALS))
                for (r, c, _), s in zip(found, exact.tolist())]

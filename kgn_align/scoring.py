"""Scoring candidate pairs with a trained pair model, for backfills and evaluation.

Candidates come from blocking vectors (names + sampled neighbourhood names, with the
checkpoint's cold-start student for entities without neighbours; see
:mod:`kgn_align.candidates`) within the pool of target entities, restricted to the same
entity type; the pair model (cross-encoder) then scores each candidate pair. Pairs stream
through the model in fixed-size batches, so memory is bounded by the batch, not the graph.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from kgn_align.candidates import CONTEXT_BETA, search_pool
from kgn_align.coldstart import ColdStartMLP
from kgn_align.features import NgramFeaturizer
from kgn_align.model.inputs import SideInputs
from kgn_align.model.pair_model import PairModel
from kgn_align.snapshot import Snapshot
from kgn_align.training import load_checkpoint, pick_device, score_pairs
from kgn_align.writeback import ModelStamp, ScoredPair

log = logging.getLogger(__name__)

METHOD = "cg-mualign"
DECIMALS = 6  #: scores are rounded so a resumed run writes exactly what a fresh one would


@dataclass
class TrainedModel:
    """A checkpoint loaded for use: the model, its featurizer and vocabularies."""

    model: PairModel
    featurizer: NgramFeaturizer
    relations: list[str]
    types: list[str]
    version: str
    metrics: dict[str, float]
    path: Path
    context_beta: float = 0.0
    student: ColdStartMLP | None = None  #: blocking vectors for entities without neighbours

    @classmethod
    def load(cls, path: str | Path, device: torch.device | None = None) -> TrainedModel:
        path = Path(path)
        if not path.is_file():
            from kgn_align.errors import KgnAlignError

            raise KgnAlignError(f"no model at {path}: train one with 'kgn-align train'")
        model, ckpt = load_checkpoint(path, device=device or pick_device())
        features = dict(ckpt["features"])
        beta = float(features.pop("context_beta", 0.0))
        student = ColdStartMLP.from_state(ckpt["student"]) if ckpt.get("student") else None
        return cls(model, NgramFeaturizer.from_state(features), list(ckpt["relations"]),
                   list(ckpt["types"]), ckpt["version"], dict(ckpt.get("metrics", {})), path, beta,
                   student)

    def inputs(self, snapshot: Snapshot,
               level0: tuple[Tensor, Tensor] | None = None) -> tuple[SideInputs, SideInputs]:
        return snapshot.inputs(self.featurizer, self.relations, self.types, self.context_beta, level0)

    @property
    def stamp(self) -> ModelStamp:
        return ModelStamp(model=f"kgn-align/{self.version}", method=METHOD)


class ModelScorer:
    """Backfill scorer: source keys in, candidate pairs with calibrated scores out."""

    def __init__(self, snapshot: Snapshot, trained: TrainedModel, *, k: int = 10,
                 batch_pairs: int = 4096, block_beta: float = CONTEXT_BETA,
                 name_cache: dict[str, Tensor] | None = None) -> None:
        """``name_cache``: level-0 vectors by name text, kept by a long-running caller for
        this model's featurizer (the worker) so repeated jobs featurise only new names."""
        self.snapshot, self.trained, self.k, self.batch_pairs = snapshot, trained, k, batch_pairs
        self.block_beta = block_beta
        level0 = snapshot.level0(trained.featurizer, name_cache)
        self.side_a, self.side_b = trained.inputs(snapshot, level0)
        self.block_a, self.block_b = snapshot.blocking(level0, trained.student, block_beta)
        tgt = snapshot.target
        self.pool = torch.tensor(sorted(tgt.aligned_row.values()), dtype=torch.long)
        # type ids are numbered per side: compare them by name. The two side labels are one
        # type (a Movie side and a Film side: without entity_labels they share no type name,
        # and type-restricted blocking would find no candidate at all).
        alias = {tgt.side.label: snapshot.source.side.label}
        names_a = list(snapshot.source.table.types)
        names_b = [alias.get(t, t) for t in tgt.table.types]
        common = {t: i for i, t in enumerate(sorted(set(names_a) | set(names_b)))}
        src_types = {names_a[int(snapshot.source.table.type[r])] for r in snapshot.source.aligned_row.values()}
        tgt_types = {names_b[int(tgt.table.type[r])] for r in tgt.aligned_row.values()}
        #: source entity types with no target entity of the same type: no candidates
        self.unmatched_types = sorted(src_types - tgt_types)
        if self.unmatched_types:
            log.warning("source entity type(s) %s have no target entities of the same type: "
                        "those sources get no candidates (name the types in entity_labels, "
                        "or label both sides alike)", self.unmatched_types)
        self.types_a = torch.tensor([common[names_a[t]] for t in snapshot.source.table.type.tolist()] or [0])
        self.types_b = torch.tensor([common[names_b[t]] for t in tgt.table.type.tolist()] or [0])

    @property
    def settings(self) -> dict[str, object]:
        """What changes its output besides the graph and the model: part of a run's fingerprint."""
        return {"k": self.k, "block_beta": self.block_beta}

    def __call__(self, keys: Sequence[str]) -> list[ScoredPair]:
        known = [k for k in keys if k in self.snapshot.source.aligned_row and
                 int(self.side_a.tree_position[self.snapshot.source.aligned_row[k]]) >= 0]
        if not known or self.pool.numel() == 0:
            return []
        rows = self.snapshot.source.rows(known)
        cands = search_pool(self.block_a, self.block_b, rows, self.pool, self.k,
                            source_types=self.types_a, target_types=self.types_b).index
        src = rows.repeat_interleave(cands.size(1))
        tgt = cands.reshape(-1)
        keep = tgt >= 0
        src, tgt = src[keep], tgt[keep]
        logit, _ = score_pairs(self.trained.model, self.side_a, self.side_b, src, tgt,
                               batch_pairs=self.batch_pairs)
        # each source's candidates compete: score them as a list (margin over the best rival)
        lists = torch.full(cands.shape, float("-inf"))
        lists.view(-1)[keep] = logit
        prob = self.trained.model.calibrated_in_lists(lists).view(-1)[keep]
        s_keys, t_keys = self.snapshot.source.table.keys, self.snapshot.target.table.keys
        return [ScoredPair(source=s_keys[a], target=t_keys[b], score=round(float(p), DECIMALS))
                for a, b, p in zip(src.tolist(), tgt.tolist(), prob.double().tolist())]

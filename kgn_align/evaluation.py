"""Evaluation: rank blocked candidates with the pair model, then summarise.

For each held-out source, candidates are its top-``k`` target entities by blocking-vector
similarity (the backfill's vectors, :func:`kgn_align.candidates.blocking_vectors`, or
level-0 names when none are given); the gold is *not* added, so blocking misses count as
misses. The pair model re-scores every (source, candidate) pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from kgn_align.candidates import search_pool
from kgn_align.metrics import classification_metrics, gold_ranks, plot_pr_curve, ranking_metrics
from kgn_align.model.inputs import SideInputs
from kgn_align.model.pair_model import PairModel
from kgn_align.training import score_pairs

log = logging.getLogger(__name__)


@dataclass
class Ranking:
    candidates: Tensor  #: ``(Q, k)`` target rows
    name_scores: Tensor  #: ``(Q, k)`` blocking cosine
    scores: Tensor  #: ``(Q, k)`` candidate-list probabilities (or blocking scores without a model)


def rank(
    model: PairModel | None,
    side_a: SideInputs,
    side_b: SideInputs,
    sources: Tensor,
    pool: Tensor,
    *,
    k: int = 50,
    batch_pairs: int = 1024,
    blocking: tuple[Tensor, Tensor] | None = None,
) -> Ranking:
    """Candidates by ``blocking`` vectors (default: the level-0 features), re-scored by
    ``model`` (``None``: keep the blocking scores)."""
    vectors = blocking or (side_a.features, side_b.features)
    found = search_pool(vectors[0], vectors[1], sources, pool, min(k, pool.numel()), backend="exact")
    cands, name_scores = found.index, found.similarity
    if model is None:
        return Ranking(cands, name_scores, name_scores)
    kk = cands.size(1)
    logit, _ = score_pairs(model, side_a, side_b, sources.repeat_interleave(kk), cands.reshape(-1),
                           batch_pairs=batch_pairs)
    return Ranking(cands, name_scores, model.calibrated_in_lists(logit.view(-1, kk)))


def summarise(ranking: Ranking, gold: Tensor, *, pr_curve: str | Path | None = None,
              title: str = "") -> dict[str, float]:
    """Hits@1/10, MRR over sources; PR-AUC and best F1 over all scored candidate pairs
    (a gold missed by blocking is a positive that never got a score: it lowers recall)."""
    ranks = gold_ranks(ranking.scores, ranking.candidates, gold)
    out = ranking_metrics(ranks)
    labels = (ranking.candidates == gold.unsqueeze(1)).reshape(-1)
    scores = ranking.scores.reshape(-1)
    missed = int((~torch.isfinite(ranks)).sum())
    # missed golds enter as positives scored below everything
    if missed:
        scores = torch.cat([scores, torch.full((missed,), float(scores.min()) - 1.0)])
        labels = torch.cat([labels, torch.ones(missed, dtype=torch.bool)])
    out.update(classification_metrics(scores, labels))
    out["blocking_recall"] = float(torch.isfinite(ranks).double().mean())
    out["sources"] = int(gold.numel())
    if pr_curve is not None:
        plot_pr_curve(scores, labels, pr_curve, title=title)
    return out

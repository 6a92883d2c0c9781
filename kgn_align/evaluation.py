"""Evaluation: judging what the aligner writes, and ranking held-out pairs.

- :func:`judge_edges` judges SAME_AS edges — those a backfill would write (a dry run) or
  those in the graph — against held-out gold (:class:`Gold`): one function for both, so
  the two agree exactly.
- :func:`list_ranks` ranks a gold target among its source's candidates (Hits@k, MRR).
- :func:`reliability`: is a score of 0.8 right 80 % of the time (expected calibration
  error, reliability table).
- :func:`rank` / :func:`summarise`: the pair model alone on blocked candidate lists
  (training experiments; the gold is *not* added, so blocking misses count as misses).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
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
    batch_pairs: int | None = None,
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


# ------------------------------------------------------------------ judging written edges
@dataclass(frozen=True)
class Gold:
    """Held-out answers: ``pairs`` maps a source key to its target key.

    ``complete``: every source *not* in ``pairs`` (and not already reviewed) has no
    counterpart, so an edge on it is wrong — true of DBLP-ACM's ground truth, or a user's
    ``--gold`` file declared complete. Otherwise (the KG benchmarks' test split), edges on
    sources outside the gold are counted and described, not judged.
    """

    pairs: dict[str, str]
    complete: bool = False
    #: a benchmark's labelled test pairs (source key, target key, 1 match / 0 not), judged
    #: as a pair classification (:func:`judge_labelled`); empty for most gold
    labelled: tuple[tuple[str, str, int], ...] = ()


def settle(gold: Gold, accepted: Sequence[tuple[str, str]]) -> tuple[Gold, dict[str, int]]:
    """Leave out of ``gold`` the pairs the graph has already settled by review: a source with
    an accepted SAME_AS (it gets no model edge: reviews rule) or a target accepted for
    another source (never handed out). Such a pair is not held out from the aligner, whatever
    the benchmark's split says (iTunes-Amazon's splits share records). Returns the rest and
    ``{"settled": n, "settled_agreeing": m}``, ``m`` of them reviewed exactly as the gold says."""
    by_source = dict(accepted)
    taken = {b for _, b in accepted}
    kept: dict[str, str] = {}
    settled = agreeing = 0
    for a, b in gold.pairs.items():
        if a in by_source or b in taken:
            settled += 1
            agreeing += by_source.get(a) == b
        else:
            kept[a] = b
    return Gold(kept, gold.complete, gold.labelled), {"settled": settled, "settled_agreeing": agreeing}


def contradicted(gold: Gold, accepted: Sequence[tuple[str, str]]) -> list[str]:
    """The gold pairs an accepted review contradicts, each in words: its source accepted
    with another target, or its target accepted for another source (a swapped or stale gold
    row, or a wrong review). :func:`settle` leaves them out of the judging either way; these
    are the ones worth a look. In gold order."""
    by_source = dict(accepted)
    by_target = {b: a for a, b in accepted}
    said = []
    for a, b in gold.pairs.items():
        if a in by_source and by_source[a] != b:
            said.append(f"gold {a} -> {b}, but {a} -> {by_source[a]} is accepted")
        elif b in by_target and by_target[b] != a:
            said.append(f"gold {a} -> {b}, but {by_target[b]} -> {b} is accepted")
    return said


def judge_edges(edges: Sequence[tuple[str, str, float]], gold: Gold) -> dict[str, Any]:
    """Precision, recall and F1 of model edges ``(source key, target key, score)`` against
    ``gold`` (see :class:`Gold`), and what lies on sources outside it. Precision is over
    *every* edge when the gold is complete, else over edges on gold sources."""
    truth = gold.pairs
    on_gold = [e for e in edges if e[0] in truth]
    off_gold = [e for e in edges if e[0] not in truth]
    correct = sum(1 for s, t, _ in on_gold if truth[s] == t)
    precision, recall, f1 = _precision_recall_f1(correct, len(edges) if gold.complete else len(on_gold),
                                                 len(truth))
    off_scores = [float(e[2]) for e in off_gold]
    return {
        "edges": len(edges), "correct": correct, "gold_pairs": len(truth),
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "precision_on_gold_sources": round(correct / len(on_gold), 4) if on_gold else 0.0,
        "edges_on_gold_sources": len(on_gold),
        "edges_on_other_sources": len(off_gold),
        "other_sources_judged_wrong": gold.complete,
        "other_sources_score_quartiles": [round(float(q), 4) for q in
                                          np.quantile(off_scores, [0.25, 0.5, 0.75])] if off_scores else [],
    }


def _precision_recall_f1(correct: int, predicted: int, actual: int) -> tuple[float, float, float]:
    """Precision ``correct / predicted``, recall ``correct / actual`` and their F1 (0 where
    a denominator is 0)."""
    precision = correct / predicted if predicted else 0.0
    recall = correct / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def judge_labelled(edges: Sequence[tuple[str, str, float]], accepted: Sequence[tuple[str, str]],
                   labelled: Sequence[tuple[str, str, int]]) -> dict[str, Any]:
    """Labelled pairs judged as a pair classification, the protocol of entity-matching
    benchmarks (DeepMatcher, Ditto on iTunes-Amazon): a pair is predicted a match when the
    graph would hold a SAME_AS between the two — a model edge of ``edges`` or a pair a
    person accepted. Precision, recall and F1 over the labelled pairs."""
    predicted = {(s, t) for s, t, _ in edges} | set(accepted)
    tp = sum(1 for s, t, y in labelled if y and (s, t) in predicted)
    positive = sum(1 for s, t, _ in labelled if (s, t) in predicted)
    matches = sum(1 for *_, y in labelled if y)
    precision, recall, f1 = _precision_recall_f1(tp, positive, matches)
    return {"pairs": len(labelled), "matches": matches, "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(f1, 4)}


def list_ranks(rows: Tensor, cols: Tensor, scores: Tensor, sources: Sequence[int],
               gold: Sequence[int]) -> Tensor:
    """:func:`kgn_align.metrics.gold_ranks` over a sparse candidate matrix: 1-based rank of
    each ``gold[i]`` among the entries of row ``sources[i]`` (``rows``, ``cols``,
    ``scores``: ``(P,)`` each), ties pessimistic, ``inf`` where the gold is no candidate.
    Shapes: ``(Q,)`` lists -> ``(Q,)`` float."""
    by_row: dict[int, list[tuple[float, int]]] = {}
    for r, c, s in zip(rows.tolist(), cols.tolist(), scores.tolist()):
        by_row.setdefault(r, []).append((s, c))
    lists = [by_row.get(int(r), []) for r in sources]
    width = max((len(entries) for entries in lists), default=0) or 1
    padded = torch.full((len(lists), width), -math.inf, dtype=torch.float64)
    candidates = torch.full((len(lists), width), -1, dtype=torch.long)
    for i, entries in enumerate(lists):
        if entries:
            padded[i, :len(entries)] = torch.tensor([s for s, _ in entries], dtype=torch.float64)
            candidates[i, :len(entries)] = torch.tensor([c for _, c in entries], dtype=torch.long)
    return gold_ranks(padded, candidates, torch.tensor([int(g) for g in gold], dtype=torch.long))


def reliability(probs: Tensor, labels: Tensor, threshold: float | None = None) -> dict[str, Any]:
    """Expected calibration error and the reliability table (see
    :func:`kgn_align.assignment.expected_calibration_error`) of scored pairs; with
    ``threshold`` also the ECE of the pairs scored at least that (``ece_at_threshold``, over
    ``pairs_at_threshold``: the candidates a backfill may write, whose scores users read). Over all pairs the ECE is mostly the
    many near-0 non-matches, which it weighs by count (on dblp_acm 38,567 of 40,320 pairs
    sit below 0.1): an over-confident band of edges barely moves it."""
    from kgn_align.assignment import expected_calibration_error

    ece, table = expected_calibration_error(probs, labels)
    out: dict[str, Any] = {"ece": ece, "pairs": int(probs.numel()), "bins": table}
    if threshold is not None:
        above = probs >= threshold
        out["ece_at_threshold"] = expected_calibration_error(probs[above], labels[above])[0]
        out["pairs_at_threshold"] = int(above.sum())
    return out

"""Global alignment: every source's candidates decided together, then calibrated.

A source ranked on its own picks its most similar target, even when that target is
plainly the counterpart of another source, or when the source has no counterpart at all
(a *dangling entity*). Two remedies from the entity-alignment literature, over the sparse
candidate matrix (source rows x target columns, one entry per candidate pair):

- **Sinkhorn** (:func:`sinkhorn`): alternately normalise rows and columns of
  ``exp(S / tau)`` — the entropic relaxation of one-to-one assignment, as in SEU (Mao et
  al., *From Alignment to Assignment: Frustratingly Simple Unsupervised Entity Alignment*,
  EMNLP 2021) and LightEA (Mao et al., EMNLP 2022). Here it runs on the candidate entries
  only (``P = N_s x k`` values), not on the dense ``N_s x N_t`` matrix SEU uses (POT's
  ``ot.sinkhorn`` is dense: 1.5 GB per copy for 20k x 20k), so memory stays linear in the
  number of candidates. Normalising groups of a sparse vector is PyG's
  :func:`torch_geometric.utils.softmax`.
- **Competition features** (:func:`competition_features`): how far a pair's score is
  above the best rival in its row (other targets of the source) and in its column (other
  sources that also want the target). A dangling source's best candidate is usually some
  other source's match, and its column margin is negative. Where the sides carry
  attribute properties, the pair's Fellegi–Sunter attribute evidence is a fourth feature
  (:data:`ATTRIBUTE_EVIDENCE`): the matching ranks by names and neighbours, and a paper's
  conference and journal versions rank alike.

A :class:`Calibrator` turns those features into the probability that a pair is a match,
per source list: the source's candidates and "no counterpart" compete in one softmax (a
conditional logit with a null alternative), so a source's probabilities sum to 1 at most.
It is fitted on validation lists — sources whose
answer is known but which the pair model never trained on — each taken twice: as it is
(its answer among its candidates, or missed by blocking) and with its answer removed, as a
source with no counterpart looks (:func:`dangling_copies`). So a source with no
counterpart is calibrated too, not just ranked (Platt, 1999, on lists that include
unmatched sources). The two kinds of list are weighted by how many of the graph's sources
have a counterpart (:func:`counterpart_share`, estimated from the unlabelled sources'
lists): with equal weights the calibration assumed as many sources without a counterpart
as with one, and on dbp15k_fr_en kept one correct edge in sixteen under 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import scatter

#: Sinkhorn temperature on cosine-like scores in [0, 1], as SEU's 0.02 (on dbp15k_fr_en's
#: candidate matrix 0.02 ranked better than 0.05 and 0.1)
TEMPERATURE = 0.02
ITERATIONS = 10
#: margin used where a row or column has no rival (a lone candidate): ahead, by about what
#: a pair that wins its column leads by (the median positive column margin of
#: dbp15k_ja_en's candidate matrix: 0.22; 99 % of them are under 0.59), not by more than
#: nearly any real margin. At 1.0 the calibrator's column weight (11 on ja_en) gave a
#: target no other source wants a lift no rival could earn, so a source whose match another
#: source outbid put its probability on a lone, poor candidate ('santa cruz fc' -> 'beauty
#: & stupid' at 0.947, its match at 0.053, ahead of every candidate in score). Same trained
#: models, 1.0 -> 0.2: Hits@1 among all targets on ja_en 0.9659 -> 0.9667, fr_en 0.9906 ->
#: 0.9907, srprs_en_fr 0.9883 either way.
NO_RIVAL = 0.2
#: Calibration features: relative evidence only. The raw score is left out: it depends on
#: how much a source's name says (a paper whose title is missing scores low on its
#: neighbours alone yet can be plainly ahead of its rivals). On DBLP-ACM with 30% of held-out
#: titles blanked this raised recall on those papers from 0.64 to 0.69 at precision 0.997,
#: at equal F1 on dbp15k_fr_en (0.959) and DBLP-ACM (0.986-0.987).
FEATURES = ("log_assignment", "row_margin", "column_margin")


#: the calibration feature of a pair's attribute properties (see :func:`competition_features`)
ATTRIBUTE_EVIDENCE = "attribute_evidence"


@dataclass
class CandidateMatrix:
    """Sparse candidate pairs: ``row[p]`` (source row), ``col[p]`` (target row), one entry
    per candidate pair. Shapes ``(P,)`` each; rows and columns index whatever tables the
    caller uses (entity-table rows here)."""

    row: Tensor
    col: Tensor

    @classmethod
    def from_lists(cls, sources: Tensor, candidates: Tensor) -> tuple[CandidateMatrix, Tensor]:
        """From ``(Q,)`` source rows and ``(Q, k)`` candidate target rows (``-1`` padding);
        also returns the ``(Q, k)`` bool mask of real entries, in the entries' order."""
        keep = candidates >= 0
        rows = sources.unsqueeze(1).expand_as(candidates)[keep]
        return cls(rows.contiguous(), candidates[keep].contiguous()), keep

    def __len__(self) -> int:
        return int(self.row.numel())

    def _compact(self) -> tuple[Tensor, Tensor, int, int]:
        r, ri = torch.unique(self.row, return_inverse=True)
        c, ci = torch.unique(self.col, return_inverse=True)
        return ri, ci, r.numel(), c.numel()


def sinkhorn(matrix: CandidateMatrix, scores: Tensor, *, temperature: float = TEMPERATURE,
             iterations: int = ITERATIONS) -> Tensor:
    """Log of the Sinkhorn-normalised ``exp(scores / temperature)`` over the candidate
    entries: rows and columns alternately rescaled to sum to one (SEU, Mao et al. 2021).

    Shapes: ``scores (P,)`` -> ``(P,)`` log-probabilities (a row's entries sum to 1 after
    the last, row-wise, step). ``iterations=0``: a plain softmax per row (no competition
    between sources). Deterministic: same entries, same result.
    """
    if scores.shape != matrix.row.shape:
        raise ValueError(f"scores have shape {tuple(scores.shape)}, the matrix {len(matrix)} entries")
    if len(matrix) == 0:
        return scores.clone()
    ri, ci, nr, nc = matrix._compact()
    log_p = scores.double() / temperature
    for _ in range(iterations):
        log_p = _log_normalise(log_p, ci, nc)
        log_p = _log_normalise(log_p, ri, nr)
    if iterations == 0:
        log_p = _log_normalise(log_p, ri, nr)
    return log_p.float()


def _log_normalise(log_p: Tensor, group: Tensor, n: int) -> Tensor:
    """``log_p`` minus the log-sum-exp of its group: each group's probabilities sum to one,
    computed in the log domain. Normalising in probabilities (softmax, then log, floored at
    1e-300) lost the order of a source whose every target a far stronger source holds: its
    entries all fell to the floor. Shapes: ``(P,), (P,) -> (P,)``."""
    top = scatter(log_p, group, dim=0, dim_size=n, reduce="max")
    shifted = log_p - top[group]  # <= 0, and 0 for each group's largest entry: the sum is >= 1
    lse = top + torch.log(scatter(shifted.exp(), group, dim=0, dim_size=n, reduce="sum"))
    return log_p - lse[group]


def _second_best(values: Tensor, group: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Per entry: the best value in its group and the best value among the *other* entries
    of its group (``-inf`` when it is alone)."""
    best = scatter(values, group, dim=0, dim_size=n, reduce="max")
    is_best = values == best[group]
    # the best entry's rival is the group's best among the rest: mask one best per group
    first = torch.full((n,), values.numel(), dtype=torch.long)
    idx = torch.arange(values.numel())
    first = first.scatter_reduce(0, group[is_best], idx[is_best], reduce="amin")
    masked = values.clone()
    masked[first[group] == idx] = float("-inf")
    runner = scatter(masked, group, dim=0, dim_size=n, reduce="max")
    rival = torch.where(first[group] == idx, runner[group], best[group])
    return best[group], rival


def competition_features(matrix: CandidateMatrix, scores: Tensor, log_assignment: Tensor,
                         evidence: Tensor | None = None) -> Tensor:
    """``(P, 3)`` features of each candidate pair, in :data:`FEATURES` order: its Sinkhorn
    log-probability, its margin (in ``scores``) over the best other target of its source
    (row) and over the best other source wanting its target (column), each margin
    :data:`NO_RIVAL` where there is no rival; ``(P, 4)`` with ``evidence`` ``(P,)``, the
    pair's :data:`ATTRIBUTE_EVIDENCE` as a fourth column.

    That column is the record-linkage evidence of the attribute properties
    (:class:`kgn_align.attributes.MatchWeights`, Fellegi & Sunter 1969) beside the
    matching's: the scores rank by names and neighbours, and two records a year apart (a
    paper's conference and journal versions: same title, same authors) rank alike. On
    DBLP-ACM every gold pair agrees on its year, and 11 of the 16 edges a backfill wrote on
    papers without a counterpart did not."""
    ri, ci, nr, nc = matrix._compact()
    s = scores.float()
    _, row_rival = _second_best(s, ri, nr)
    _, col_rival = _second_best(s, ci, nc)
    row_margin = torch.where(torch.isfinite(row_rival), s - row_rival, torch.full_like(s, NO_RIVAL))
    col_margin = torch.where(torch.isfinite(col_rival), s - col_rival, torch.full_like(s, NO_RIVAL))
    out = torch.stack([log_assignment.float().clamp_min(-30.0), row_margin, col_margin], 1)
    if evidence is None:
        return out
    if evidence.shape != (out.size(0),):
        raise ValueError(f"evidence has shape {tuple(evidence.shape)}, the matrix {out.size(0)} entries")
    return torch.cat([out, evidence.float().unsqueeze(1)], 1)


def dangling_copies(matrix: CandidateMatrix, scores: Tensor, log_assignment: Tensor,
                    sources: Tensor, gold: Tensor, *,
                    features: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Validation lists as seen by a source *without* a counterpart: for each ``sources[i]``
    its entries with ``gold[i]`` removed, features recomputed (row margin among the rest,
    the row's Sinkhorn mass renormalised over the rest; a column margin is about other
    sources, so it stays). Returns ``(features (M, 3), labels (M,), rows (M,))``, all
    labels 0, ``rows`` the source row of each entry. ``features``: the matrix's
    :func:`competition_features`, when the caller has them (their attribute columns, about
    the pair alone, stay as they are).
    """
    if features is None:
        features = competition_features(matrix, scores, log_assignment)
    wanted = torch.isin(matrix.row, sources)
    answer = torch.full((int(matrix.row.max()) + 1 if len(matrix) else 1,), -2, dtype=torch.long)
    answer[sources] = gold
    keep = wanted & (matrix.col != answer[matrix.row])
    if not bool(keep.any()):
        return torch.empty(0, features.size(1)), torch.empty(0), torch.empty(0, dtype=torch.long)
    sub = CandidateMatrix(matrix.row[keep], matrix.col[keep])
    ri, _, nr, _ = sub._compact()
    s = scores[keep].float()
    _, rival = _second_best(s, ri, nr)
    row_margin = torch.where(torch.isfinite(rival), s - rival, torch.full_like(s, NO_RIVAL))
    la = log_assignment[keep].double()
    rest = scatter(la.exp(), ri, dim=0, dim_size=nr, reduce="sum").clamp_min(1e-300)
    la = (la - rest.log()[ri]).float().clamp_min(-30.0)
    out = torch.cat([torch.stack([la, row_margin, features[keep, 2]], 1), features[keep, 3:]], 1)
    return out, torch.zeros(out.size(0)), sub.row


def best_per_row(values: Tensor, rows: Tensor) -> Tensor:
    """The largest of ``values`` in each distinct row: ``(P,), (P,) -> (R,)`` (rows in
    ascending order)."""
    _, group = torch.unique(rows, return_inverse=True)
    return scatter(values, group, dim=0, reduce="max")


#: log-probability counted for an answer its source's candidates miss
MISSING_ANSWER_LOG_PROB = -20.0


def answer_log_likelihood(matrix: CandidateMatrix, log_assignment: Tensor, answers: Tensor) -> float:
    """Mean log-probability of the ``(V, 2)`` answers (source row, target row) under
    ``log_assignment`` (``(P,)``, one per entry of ``matrix``), each floored at
    :data:`MISSING_ANSWER_LOG_PROB` (also what an answer outside its source's candidates
    counts); 0.0 without answers. A proper scoring rule: it weighs how sure the assignment
    is of each answer, not only whether it won (Hits@1)."""
    if answers.numel() == 0:
        return 0.0
    gold = dict(zip(answers[:, 0].tolist(), answers[:, 1].tolist()))
    # the entries that are answers, picked out by tensor ops (a Python pass over every
    # entry took 40 ms a call, and the logit weight's choice makes a dozen calls)
    size = max(int(matrix.row.max()) + 1 if matrix.row.numel() else 0, max(gold) + 1)
    answer_of = torch.full((size,), -1, dtype=torch.long)
    answer_of[torch.tensor(list(gold), dtype=torch.long)] = torch.tensor(list(gold.values()), dtype=torch.long)
    hit = torch.nonzero(answer_of[matrix.row] == matrix.col, as_tuple=True)[0]
    found = dict(zip(matrix.row[hit].tolist(), log_assignment[hit].tolist()))
    return sum(max(found.get(r, MISSING_ANSWER_LOG_PROB), MISSING_ANSWER_LOG_PROB) for r in gold) / len(gold)


#: the share of sources with a counterpart that calibration assumes at least (as many as
#: without one) and at most
SHARE_BOUNDS = (0.5, 0.95)


def counterpart_share(matched: Tensor, dangling: Tensor, unlabelled: Tensor,
                      threshold: float = 0.5) -> float | None:
    """Share of the unlabelled sources that have their counterpart among their candidates,
    by adjusted classify-and-count (Forman, *Quantifying counts and costs via
    classification*, DMKD 2008): with ``tpr`` the share of validation sources whose best
    candidate scores at least ``threshold`` (their answers kept), ``fpr`` the same share of
    their dangling copies and ``q`` that of the unlabelled sources,
    ``(q - fpr) / (tpr - fpr)``, within :data:`SHARE_BOUNDS`.

    Never below one half: the estimate assumes the unlabelled sources' lists look like the
    validation sources' lists, and where counterparts are harder to find than the reviewed
    ones (iTunes-Amazon: near-duplicate records, targets already reviewed for a duplicate)
    it comes out too low — 0.36 there, and recall of the held-out matches fell from 0.97 to
    0.85 at unchanged precision. Above one half it was close where the truth is known
    (DBLP-ACM: 0.82 estimated, about 0.80 true).

    Shapes: the best score of each source, ``(V,), (V',), (U,)``; ``None`` when the
    validation sources do not tell the two kinds apart (``tpr - fpr < 0.2``) or nothing
    is unlabelled.
    """
    if matched.numel() == 0 or dangling.numel() == 0 or unlabelled.numel() == 0:
        return None
    tpr, fpr, q = (float((t >= threshold).float().mean()) for t in (matched, dangling, unlabelled))
    if tpr - fpr < 0.2:
        return None
    low, high = SHARE_BOUNDS
    return min(max((q - fpr) / (tpr - fpr), low), high)


def linear_text(weights: list[float], names: list[str] | tuple[str, ...], bias: float) -> str:
    """``w1 * n1 + w2 * n2 - b`` with each sign written once (``+ -8.824`` read badly in a
    trial's log), three decimals: the argument of a logistic calibration, for logs."""
    text = ""
    for i, (w, name) in enumerate(zip(weights, names)):
        text += (f"{w:.3f}" if i == 0 else f" {'-' if w < 0 else '+'} {abs(w):.3f}") + f" * {name}"
    return text + f" {'-' if bias < 0 else '+'} {abs(bias):.3f}" if text else f"{bias:.3f}"


class Calibrator:
    """Probability that a candidate pair is a match, from :func:`competition_features`
    ``f`` through ``z = w . f + b``, in one of two forms:

    - **per list** (what the scorer fits): a source's candidates and "no counterpart here"
      compete, ``p_j = exp(z_j) / (1 + sum_k exp(z_k))`` over the source's list — McFadden's
      conditional logit with a null alternative of utility 0 (McFadden, 1974), the softmax
      with a "none" option. A source's probabilities sum to 1 at most: several targets it
      cannot tell apart share its chance (DBLP-ACM's five "Career forum" columns scored
      0.999 each as separate pairs, and the backfill wrote one of them, a coin toss, at
      0.999), and a lone candidate keeps what a logistic model would give it. Fitted by
      maximum likelihood (L-BFGS, L2 on ``w`` as scikit-learn's ``C = 10``): a list with
      its answer scores that answer, a list without (a dangling copy) scores "none".
    - **per pair**: ``p = sigmoid(z)``, each pair on its own: the same model and fit with
      every pair a list of its own (``e^z / (1 + e^z)``), i.e. L2-regularised logistic
      regression.
    """

    def __init__(self, weights: Tensor | None = None, bias: float = 0.0, *, per_list: bool = False,
                 names: tuple[str, ...] = FEATURES) -> None:
        self.weights = weights if weights is not None else torch.tensor([1.0, 0.0, 0.0])
        self.bias = float(bias)
        self.per_list = per_list
        #: the features' names, for :meth:`describe`
        self.names = names
        #: share of sources with a counterpart the fit assumed (see ``ModelScorer``)
        self.counterpart_share = 0.5

    @classmethod
    def fit(cls, features: Tensor, labels: Tensor, weights: Tensor | None = None,
            lists: Tensor | None = None, *, names: tuple[str, ...] = FEATURES) -> Calibrator:
        """``features (P, F)``, ``labels (P,)`` 1 for a list's answer, else 0; ``weights``:
        ``(P,)`` sample weights (default: all 1; per list: constant within a list).
        ``lists``: ``(P,)`` the list of each entry (per-list form), or None (per pair).
        ValueError without both matches and non-matches (per list: lists with an answer
        and lists without), or a list with two answers."""
        per_list = lists is not None
        if lists is None:  # each pair a list of its own: logistic regression
            lists = torch.arange(features.size(0))
        with torch.inference_mode(False):  # fitted by autograd, whatever mode the caller runs in
            weights_, bias = cls._fit_graded(features.clone(), labels.clone(),
                                             None if weights is None else weights.clone(), lists.clone())
        return cls(weights_, bias, per_list=per_list, names=names)

    @staticmethod
    def _fit_graded(features: Tensor, labels: Tensor, weights: Tensor | None,
                    lists: Tensor) -> tuple[Tensor, float]:
        _, li = torch.unique(lists, return_inverse=True)
        n = int(li.max()) + 1 if li.numel() else 0
        y = labels.double()
        answers = scatter(y, li, dim=0, dim_size=n, reduce="sum")
        if bool((answers > 1).any()):
            raise ValueError("a calibration list has more than one answer")
        if n == 0 or bool(answers.all()) or not bool(answers.any()):
            raise ValueError("calibration needs both matches and non-matches in its lists: lists with "
                             "their answer and lists without one")
        x = features.double()
        list_weight = (scatter(weights.double(), li, dim=0, dim_size=n, reduce="max") if weights is not None
                       else torch.ones(n, dtype=torch.float64))
        params = torch.zeros(x.size(1) + 1, dtype=torch.float64, requires_grad=True)
        optimiser = torch.optim.LBFGS([params], lr=1.0, max_iter=500, tolerance_grad=1e-10,
                                      tolerance_change=1e-12, line_search_fn="strong_wolfe")

        def loss() -> Tensor:
            optimiser.zero_grad()
            z = x @ params[:-1] + params[-1]
            nll = _log_partition(z, li, n) - scatter(y * z, li, dim=0, dim_size=n, reduce="sum")
            value = (list_weight * nll).sum() + 0.5 / C_CALIBRATION * (params[:-1] ** 2).sum()
            value.backward()
            return value

        with torch.enable_grad():  # a caller's no_grad does not reach in
            optimiser.step(loss)
        fitted = params.detach()
        return fitted[:-1].float(), float(fitted[-1])

    def __call__(self, features: Tensor, lists: Tensor | None = None) -> Tensor:
        """``(P, F) -> (P,)`` probabilities; ``lists`` ``(P,)``: each pair's list (its
        source row), needed by the per-list form."""
        z = features.float() @ self.weights + self.bias
        if not self.per_list:
            return torch.sigmoid(z)
        if lists is None:
            raise ValueError("a per-list calibrator needs each pair's list")
        if z.numel() == 0:
            return z
        _, li = torch.unique(lists, return_inverse=True)
        zd = z.double()
        return (zd - _log_partition(zd, li, int(li.max()) + 1)[li]).exp().to(z.dtype)

    def describe(self) -> str:
        terms = linear_text(self.weights.tolist(), self.names, self.bias)
        form = ("p = exp(z) / (1 + sum of exp(z) over the source's candidates), z = " if self.per_list
                else "p = sigmoid(") + terms + ("" if self.per_list else ")")
        return f"{form}, counterpart share {self.counterpart_share:.3f}"


#: the calibrators' L2 penalty as scikit-learn's ``C`` (``0.5 / C * |w|^2`` beside the loss)
C_CALIBRATION = 10.0


def _log_partition(z: Tensor, lists: Tensor, n: int) -> Tensor:
    """``(n,)``: ``log(1 + sum exp z)`` over each list (entries ``lists (P,)`` in 0..n-1),
    the null alternative's 1 included; stable for large ``z``."""
    top = scatter(z, lists, dim=0, dim_size=n, reduce="max").clamp_min(0.0)
    inner = torch.exp(-top) + scatter(torch.exp(z - top[lists]), lists, dim=0, dim_size=n, reduce="sum")
    return top + torch.log(inner)


def expected_calibration_error(probs: Tensor, labels: Tensor, bins: int = 10) -> tuple[float, list[dict[str, float]]]:
    """ECE (Naeini et al., AAAI 2015) over equal-width probability bins, and the reliability
    table: per bin its count, mean predicted probability and observed match rate.

    Shapes: ``(P,), (P,)`` -> (ECE in [0, 1], list of per-bin dicts).
    """
    p = probs.double().numpy()
    y = labels.double().numpy()
    edges = np.linspace(0.0, 1.0, bins + 1)
    table, ece = [], 0.0
    for i in range(bins):
        lo, hi = edges[i], edges[i + 1]
        inside = (p >= lo) & ((p < hi) if i < bins - 1 else (p <= hi))
        n = int(inside.sum())
        if n == 0:
            continue
        conf, acc = float(p[inside].mean()), float(y[inside].mean())
        ece += n / max(len(p), 1) * abs(conf - acc)
        table.append({"low": round(lo, 2), "high": round(hi, 2), "count": n,
                      "predicted": round(conf, 4), "observed": round(acc, 4)})
    return (round(ece, 4) if not math.isnan(ece) else 0.0), table

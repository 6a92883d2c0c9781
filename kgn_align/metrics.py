"""Alignment metrics: ranking (Hits@k, MRR) and pair classification (PR-AUC, best F1).

Ranking follows the entity-alignment convention: each source entity's candidate list is
scored; the gold counterpart's rank counts, and a gold that blocking missed counts as a miss
(rank infinity), so candidate generation is measured too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def gold_ranks(scores: Tensor, candidates: Tensor, gold: Tensor) -> Tensor:
    """1-based rank of each source's gold among its candidates, ``inf`` when absent.

    Ties are broken pessimistically (the gold ranks after equal scores), so a constant
    scorer cannot look good. Shapes: ``(Q, k), (Q, k), (Q,) -> (Q,)`` float.
    """
    if scores.shape != candidates.shape or scores.dim() != 2 or gold.shape != (scores.size(0),):
        raise ValueError("scores and candidates must be (Q, k) and gold (Q,)")
    is_gold = candidates == gold.unsqueeze(1)
    found = is_gold.any(1)
    gold_score = torch.where(is_gold, scores, torch.full_like(scores, -math.inf)).amax(1)
    better_or_tied = ((scores >= gold_score.unsqueeze(1)) & ~is_gold).sum(1)
    ranks = (better_or_tied + 1).to(torch.float64)
    return torch.where(found, ranks, torch.full_like(ranks, math.inf))


def ranking_metrics(ranks: Tensor, ks: tuple[int, ...] = (1, 10)) -> dict[str, float]:
    """``hits@k`` for each ``k`` and ``mrr`` from :func:`gold_ranks` output."""
    if ranks.numel() == 0:
        raise ValueError("no ranks to summarise")
    out = {f"hits@{k}": float((ranks <= k).double().mean()) for k in ks}
    out["mrr"] = float((1.0 / ranks).mean())
    return out


def precision_recall(scores: Tensor, labels: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and threshold at every distinct score, highest threshold first.

    Shapes: ``(n,), (n,) -> (m,), (m,), (m,)`` with ``m`` distinct scores.
    """
    s = scores.detach().double().cpu().numpy().ravel()
    y = labels.detach().cpu().numpy().ravel().astype(bool)
    if s.shape != y.shape:
        raise ValueError("scores and labels must have the same length")
    if not y.any():
        raise ValueError("precision/recall need at least one positive label")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    return tp / (tp + fp), tp / y.sum(), s[last]


def pr_auc(scores: Tensor, labels: Tensor) -> float:
    """Area under the precision-recall curve as average precision (step-wise, no
    interpolation): ``sum_i (R_i - R_{i-1}) P_i``."""
    precision, recall, _ = precision_recall(scores, labels)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def best_f1(scores: Tensor, labels: Tensor) -> tuple[float, float]:
    """Highest F1 over thresholds ``score >= t``, and that ``t``."""
    precision, recall, thresholds = precision_recall(scores, labels)
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    i = int(np.argmax(f1))
    return float(f1[i]), float(thresholds[i])


def threshold_text(threshold: float, decimals: int = 4) -> str:
    """``threshold`` written for ``--threshold``: rounded *down*, so that every edge at or
    above the threshold it was read from stays at or above the one written (0.985913 ->
    '0.9859'; rounding to nearest gave 0.99, which drops it)."""
    scale = 10 ** decimals
    return f"{math.floor(threshold * scale) / scale:.{decimals}f}"


def classification_metrics(scores: Tensor, labels: Tensor) -> dict[str, float]:
    f1, threshold = best_f1(scores, labels)
    return {"pr_auc": pr_auc(scores, labels), "best_f1": f1, "threshold": threshold}


def plot_pr_curve(scores: Tensor, labels: Tensor, path: str | Path, *, title: str = "",
                  reliability: Sequence[dict[str, float]] | None = None) -> Path:
    """Write the precision-recall curve as a PNG (matplotlib, Agg backend). ``scores`` are
    the edges' scores (the scale of ``--threshold``); ``title`` names what was measured.
    ``reliability`` (bins with ``predicted``, ``observed`` and ``count``, as
    :func:`kgn_align.assignment.expected_calibration_error` gives them) adds a reliability
    diagram beside it: observed match rate against predicted probability."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    precision, recall, _ = precision_recall(scores, labels)
    f1, threshold = best_f1(scores, labels)
    panels = 2 if reliability else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), dpi=100, squeeze=False)
    ax = axes[0][0]
    ax.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="post")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    summary = f"PR-AUC {pr_auc(scores, labels):.3f}, best F1 {f1:.3f} at score >= {threshold_text(threshold)}"
    if reliability:
        rel = axes[0][1]
        rel.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        rel.plot([b["predicted"] for b in reliability], [b["observed"] for b in reliability],
                 marker="o")
        for b in reliability:
            rel.annotate(str(b["count"]), (b["predicted"], b["observed"]), fontsize=6,
                         textcoords="offset points", xytext=(3, -8))
        rel.set_xlabel("score (predicted probability)")
        rel.set_ylabel("observed share of matches")
        rel.set_xlim(0, 1)
        rel.set_ylim(0, 1.02)
        rel.set_title("reliability (pairs per bin)", fontsize=9)
        rel.grid(alpha=0.3)
    fig.suptitle(f"{title}\n{summary}" if title else summary, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def one_to_one_f1(
    scores: Tensor, candidates: Tensor, sources: Tensor, gold: Tensor, *, fixed_threshold: float = 0.5
) -> dict[str, float]:
    """Pair classification with one-to-one matching: scored pairs are taken greedily in
    descending score, each source and target at most once; a threshold keeps a prefix of
    that list (greedy acceptance does not depend on lower pairs, so every threshold is one
    prefix). F1 against the gold pairs ``(G, 2)`` (golds never scored count as misses).

    Returns the best F1 over thresholds (``o2o_best_f1``, with its threshold, precision and
    recall; picked on these very pairs, so optimistic) and the F1 at ``fixed_threshold``.
    Shapes: ``(Q, k), (Q, k), (Q,), (G, 2)``.
    """
    s = scores.reshape(-1).detach().double().cpu().numpy()
    a = sources.unsqueeze(1).expand_as(candidates).reshape(-1).cpu().numpy()
    b = candidates.reshape(-1).cpu().numpy()
    truth = {(int(x), int(y)) for x, y in gold.tolist()}
    order = np.argsort(-s, kind="stable")
    used_a: set[int] = set()
    used_b: set[int] = set()
    kept_s, kept_y = [], []
    for i in order.tolist():
        x, y = int(a[i]), int(b[i])
        if x in used_a or y in used_b:
            continue
        used_a.add(x)
        used_b.add(y)
        kept_s.append(s[i])
        kept_y.append((x, y) in truth)
    if not kept_s:
        return {"o2o_best_f1": 0.0, "o2o_threshold": math.nan, "o2o_precision": 0.0, "o2o_recall": 0.0,
                f"o2o_f1@{fixed_threshold:g}": 0.0}
    ks, ky = np.asarray(kept_s), np.asarray(kept_y, dtype=np.float64)
    tp = np.cumsum(ky)
    n = np.arange(1, len(ky) + 1)
    precision, recall = tp / n, tp / max(len(truth), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    i = int(np.argmax(f1))
    at = int(np.searchsorted(-ks, -fixed_threshold, side="right"))  # pairs with score >= threshold
    f_fixed = float(f1[at - 1]) if at > 0 else 0.0
    return {"o2o_best_f1": float(f1[i]), "o2o_threshold": float(ks[i]), "o2o_precision": float(precision[i]),
            "o2o_recall": float(recall[i]), f"o2o_f1@{fixed_threshold:g}": f_fixed}

import math

import pytest
import torch

from kgn_align.metrics import (
    best_f1,
    classification_metrics,
    gold_ranks,
    plot_pr_curve,
    pr_auc,
    ranking_metrics,
)


def test_ranks_hits_and_mrr_by_hand():
    cands = torch.tensor([[5, 6, 7], [1, 2, 3], [8, 9, 4]])
    scores = torch.tensor([[0.9, 0.5, 0.1], [0.2, 0.8, 0.3], [0.5, 0.5, 0.1]])
    gold = torch.tensor([5, 3, 0])  # rank 1; rank 2; missed by blocking
    ranks = gold_ranks(scores, cands, gold)
    assert ranks.tolist() == [1.0, 2.0, math.inf]
    m = ranking_metrics(ranks, ks=(1, 2))
    assert m["hits@1"] == pytest.approx(1 / 3)
    assert m["hits@2"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)


def test_ties_rank_pessimistically():
    ranks = gold_ranks(torch.ones(1, 4), torch.tensor([[0, 1, 2, 3]]), torch.tensor([2]))
    assert ranks.tolist() == [4.0]


def test_pr_auc_and_f1_by_hand():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    labels = torch.tensor([1, 0, 1, 0])
    # thresholds: .9 -> P=1 R=.5; .8 -> P=.5 R=.5; .7 -> P=2/3 R=1; .6 -> P=.5 R=1
    assert pr_auc(scores, labels) == pytest.approx(0.5 * 1.0 + 0.5 * (2 / 3))
    f1, t = best_f1(scores, labels)
    assert f1 == pytest.approx(0.8) and t == pytest.approx(0.7)
    perfect = classification_metrics(torch.tensor([0.9, 0.1]), torch.tensor([1, 0]))
    assert perfect["pr_auc"] == pytest.approx(1.0) and perfect["best_f1"] == pytest.approx(1.0)


def test_metric_errors():
    with pytest.raises(ValueError):
        pr_auc(torch.tensor([0.1]), torch.tensor([0]))
    with pytest.raises(ValueError):
        gold_ranks(torch.ones(2, 3), torch.ones(2, 2, dtype=torch.long), torch.zeros(2, dtype=torch.long))


def test_pr_curve_png(tmp_path):
    p = plot_pr_curve(torch.tensor([0.9, 0.4, 0.3]), torch.tensor([1, 0, 1]), tmp_path / "pr.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pr_curve_with_reliability_diagram_is_wider(tmp_path):
    from PIL import Image

    scores, labels = torch.tensor([0.9, 0.4, 0.3]), torch.tensor([1, 0, 1])
    bins = [{"predicted": 0.35, "observed": 0.5, "count": 2}, {"predicted": 0.9, "observed": 1.0, "count": 1}]
    alone = plot_pr_curve(scores, labels, tmp_path / "pr.png")
    both = plot_pr_curve(scores, labels, tmp_path / "both.png", reliability=bins)
    assert Image.open(both).size[0] == 2 * Image.open(alone).size[0]


def test_the_best_threshold_is_written_rounded_down():
    """A threshold read off the PR curve, given back as --threshold, keeps every edge it
    counted: 0.985913 must not be shown as 0.99."""
    from kgn_align.metrics import threshold_text

    assert threshold_text(0.985913) == "0.9859" and float(threshold_text(0.985913)) <= 0.985913
    assert threshold_text(0.5) == "0.5000" and threshold_text(1.0) == "1.0000"
